package accelerator

import (
	"github.com/accelerator-go/accelerator/backend"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
)

// The per-key protocol. Every key maps (by hash) to one of stripeCount stripes; a
// stripe holds a lock and a generation:
//
//   - A write (Set, MSet, Del, MDel) holds the locks of its keys' stripes from before
//     its L2 write until its L1 install, so that the writes of one key on one instance
//     reach L2 and L1 in the same order. It bumps the generation when it starts and
//     again after the L2 write, and it detaches the loads and shared L2 reads of its
//     keys in flight, so that a read which starts after the write returned never joins
//     them.
//   - A fill (an L2 hit or a load put into L1) captures the epoch and its key's
//     generation before it reads, and installs its result only if neither moved, under
//     the stripe's lock taken with TryLock: a fill never waits, and a fill that finds
//     the lock taken is dropped (a write of the stripe is under way).
//   - An invalidation from another instance bumps the generation and drops the key
//     without the lock; a fill re-checks the generation after its install and undoes
//     it if an invalidation came in between.
//
// Keys that share a stripe only cost each other a dropped fill or a serialised write,
// never a wrong value.

// stripeCount is the number of stripes; a power of two.
const stripeCount = 1024

type stripe struct {
	mu  sync.Mutex
	gen atomic.Uint64
}

type stripes struct {
	seed maphash.Seed
	s    [stripeCount]stripe
}

func newStripes() *stripes { return &stripes{seed: maphash.MakeSeed()} }

func stripeIndex[K comparable](st *stripes, key K) int {
	return int(maphash.Comparable(st.seed, key) & (stripeCount - 1))
}

func stripeOf[K comparable](st *stripes, key K) *stripe {
	return &st.s[stripeIndex(st, key)]
}

// weakening turns parts of the protocol off, for the tests that show each part is
// needed; it is never set outside tests.
type weakening uint8

const (
	// weakNoDetach keeps the loads and shared reads of a key registered across its
	// writes.
	weakNoDetach weakening = 1 << iota
	// weakNoWriteLock lets writes of one key run concurrently, and installs their
	// values in L1 without looking at the generation.
	weakNoWriteLock
	// weakSharedReadsInWrites lets readers share an L2 read while a write of the key
	// is in flight.
	weakSharedReadsInWrites
)

// writing reports whether key's stripe is held: a write of the key (or of a key that
// shares its stripe) is in flight, or a fill is installing. A reader then reads L2 on
// its own instead of sharing a read. A shared read registered while a write is in
// flight may have read Redis before the write's value landed; the write detaches it
// only when it ends, so a reader that started after another reader had got the new
// value could join it and get the old one (seen by the checker in ModeRemote under
// load). Reading alone costs a GET per reader, during writes only.
func (c *cache[K, V]) writing(key K) bool {
	if c.weak&weakSharedReadsInWrites != 0 {
		return false
	}
	s := stripeOf(c.stripes, key)
	if !s.mu.TryLock() {
		return true
	}
	s.mu.Unlock()
	return false
}

// fillGuard is what a fill captured before it read L2 or the source: the L1 epoch, the
// key's generation, and what L2 held. The fill loses to anything that changed since.
type fillGuard struct {
	epoch uint64
	gen   uint64
	seen  l2Seen
}

// l2Seen is what a read found in L2 before a load: nothing (sum ""), or a value that
// was not fresh (its SHA-1). A fill writes to L2 only if the key still holds that.
type l2Seen struct {
	known bool
	sum   string
}

// guardOf captures the guard of a fill of key that starts now.
func (c *cache[K, V]) guardOf(key K) fillGuard {
	return fillGuard{epoch: c.epoch.Load(), gen: stripeOf(c.stripes, key).gen.Load()}
}

// installFill writes e for key into L1 unless a write or an invalidation of key came
// after g was captured. It never waits: while a write of the stripe is under way, the
// fill is dropped.
func (c *cache[K, V]) installFill(key K, e backend.Entry[V], g fillGuard) {
	if c.local == nil {
		return
	}
	if c.cfg.DisableFillGuard {
		c.localSet(key, e)
		return
	}
	st := stripeOf(c.stripes, key)
	if !st.mu.TryLock() {
		return
	}
	ok := st.gen.Load() == g.gen && c.epoch.Load() == g.epoch
	if ok {
		c.localSet(key, e)
	}
	st.mu.Unlock()
	if ok && st.gen.Load() != g.gen {
		c.local.Delete(key)
	}
}

// detach makes the loads and shared L2 reads of keys in flight invisible to the
// readers that come after: those that joined them still get their result, which is
// never installed (the generation moved).
func (c *cache[K, V]) detach(keys []K) {
	if c.weak&weakNoDetach != 0 {
		return
	}
	for _, k := range keys {
		c.loads.Forget(k)
		c.remoteReads.Forget(k)
	}
}

// writeLocks is the set of stripes a write holds, in the order it took them.
type writeLocks struct {
	idx []int
	// gens are the generations of the stripes after the write's first bump.
	gens []uint64
}

// lockKeys takes the stripes of keys in ascending order (so that writes of
// overlapping key sets cannot deadlock), bumps each stripe's generation once, and
// detaches the keys' loads and reads in flight.
func (c *cache[K, V]) lockKeys(keys []K) writeLocks {
	var one [1]int
	idx := one[:0]
	if len(keys) > 1 {
		idx = make([]int, 0, len(keys))
	}
	for _, k := range keys {
		idx = append(idx, stripeIndex(c.stripes, k))
	}
	if len(idx) > 1 {
		slices.Sort(idx)
		idx = slices.Compact(idx)
	}
	l := writeLocks{idx: idx, gens: make([]uint64, len(idx))}
	for i, s := range idx {
		st := &c.stripes.s[s]
		if c.weak&weakNoWriteLock == 0 {
			st.mu.Lock()
		}
		l.gens[i] = st.gen.Add(1)
	}
	c.detach(keys)
	return l
}

// settle is the second half of a write, after its L2 part: it bumps each stripe's
// generation again (fills that captured it between the two bumps may have read L2
// before the write and must lose), detaches the keys again, and reports for each
// stripe whether an invalidation from elsewhere came in during the write, in which
// case the write must not install its values in L1.
func (c *cache[K, V]) settle(l writeLocks, keys []K) (clean []bool) {
	clean = make([]bool, len(l.idx))
	for i, s := range l.idx {
		st := &c.stripes.s[s]
		clean[i] = st.gen.CompareAndSwap(l.gens[i], l.gens[i]+1)
		if !clean[i] {
			st.gen.Add(1)
		}
		l.gens[i] = st.gen.Load()
	}
	c.detach(keys)
	return clean
}

// stripeClean reports whether key's stripe settled clean.
func (c *cache[K, V]) stripeClean(l writeLocks, clean []bool, key K) bool {
	if c.weak&weakNoWriteLock != 0 {
		return true
	}
	i, _ := slices.BinarySearch(l.idx, stripeIndex(c.stripes, key))
	return clean[i]
}

// unlock releases the stripes. Keys whose stripe moved after settle (an invalidation
// from elsewhere raced with the install) are dropped from L1 first.
func (c *cache[K, V]) unlock(l writeLocks, keys []K) {
	for i, s := range l.idx {
		st := &c.stripes.s[s]
		if st.gen.Load() != l.gens[i] && c.local != nil {
			c.dropStripe(s, keys)
		}
		if c.weak&weakNoWriteLock == 0 {
			st.mu.Unlock()
		}
	}
}

// dropStripe drops from L1 the keys of keys that map to stripe s.
func (c *cache[K, V]) dropStripe(s int, keys []K) {
	for _, k := range keys {
		if stripeIndex(c.stripes, k) == s {
			c.local.Delete(k)
		}
	}
}

// invalidateLocal drops key from L1 and makes every fill of it in flight lose. It
// never waits (it runs on the invalidation subscriber's goroutine).
func (c *cache[K, V]) invalidateLocal(key K) {
	stripeOf(c.stripes, key).gen.Add(1)
	if c.local != nil {
		c.local.Delete(key)
	}
}

// flushLocal drops all of L1: the epoch bump makes every entry invisible at once
// (and makes fills in flight lose); Clear frees the memory.
func (c *cache[K, V]) flushLocal() {
	c.epoch.Add(1)
	c.metrics.localFlushes.Add(1)
	if c.local != nil {
		c.local.Clear()
	}
}
