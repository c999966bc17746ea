package slot

import (
	"slices"
	"strconv"
	"testing"
)

func TestGroupSplitsBySlotAndKeepsInputOrder(t *testing.T) {
	t.Parallel()
	keys := []string{"{a}1", "x", "{a}2", "y", "{a}3"}
	g := Group(keys)
	seen := 0
	for i := range g.Len() {
		idx := g.Indices(i)
		if !slices.IsSorted(idx) {
			t.Fatalf("group %d positions %v are not in input order", i, idx)
		}
		ks := g.Keys(keys, i, nil)
		for _, k := range ks {
			if Of(k) != Of(ks[0]) {
				t.Fatalf("group %d mixes slots: %v", i, ks)
			}
		}
		seen += len(idx)
	}
	if seen != len(keys) {
		t.Fatalf("groups cover %d of %d keys", seen, len(keys))
	}
	if Group(nil).Len() != 0 {
		t.Fatal("empty batch has groups")
	}
	var many []string
	for i := range 1000 {
		many = append(many, strconv.Itoa(i))
	}
	g = Group(many)
	for i := 1; i < g.Len(); i++ {
		if Of(many[g.Indices(i)[0]]) <= Of(many[g.Indices(i - 1)[0]]) {
			t.Fatal("groups are not ordered by slot")
		}
	}
}
