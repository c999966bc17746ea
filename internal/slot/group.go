package slot

import (
	"cmp"
	"slices"
)

// Groups is a batch of keys split by hash slot, for sending one multi-key command per
// slot: order lists key positions sorted by slot (stable), and group i is
// order[starts[i]:starts[i+1]].
type Groups struct {
	order  []int
	starts []int
}

// Group splits keys by hash slot.
func Group(keys []string) Groups {
	if len(keys) == 0 {
		return Groups{}
	}
	slots := make([]uint16, len(keys))
	order := make([]int, len(keys))
	for i, k := range keys {
		slots[i] = Of(k)
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(slots[a], slots[b]) })
	starts := []int{0}
	for i := 1; i < len(order); i++ {
		if slots[order[i]] != slots[order[i-1]] {
			starts = append(starts, i)
		}
	}
	starts = append(starts, len(order))
	return Groups{order: order, starts: starts}
}

// Len returns the number of groups.
func (g Groups) Len() int { return max(len(g.starts)-1, 0) }

// Indices returns the key positions of group i, in input order.
func (g Groups) Indices(i int) []int { return g.order[g.starts[i]:g.starts[i+1]] }

// Keys appends the keys of group i to buf and returns it.
func (g Groups) Keys(keys []string, i int, buf []string) []string {
	for _, pos := range g.Indices(i) {
		buf = append(buf, keys[pos])
	}
	return buf
}
