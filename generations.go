package accelerator

import (
	"hash/maphash"

	"github.com/accelerator-go/accelerator/backend"
	"sync/atomic"
)

// generationSlots is the size of the table of per-key invalidation generations.
// Keys share slots by hash; a shared slot only makes a fill lose to an invalidation
// of another key, which costs a miss, never a wrong value.
const generationSlots = 1024

// generations counts invalidations per key (by hash). A fill captures its key's
// generation before it reads the source and installs its result in L1 only if the
// generation has not moved since: a fill never wins over an invalidation that came
// after it started.
type generations struct {
	seed  maphash.Seed
	slots [generationSlots]atomic.Uint64
}

func newGenerations() *generations {
	return &generations{seed: maphash.MakeSeed()}
}

func slotOf[K comparable](g *generations, key K) *atomic.Uint64 {
	return &g.slots[maphash.Comparable(g.seed, key)&(generationSlots-1)]
}

// generation returns key's generation, to capture before a fill.
func (c *cache[K, V]) generation(key K) uint64 {
	return slotOf(c.gens, key).Load()
}

// invalidateLocal drops key from L1 and makes every fill of it in flight lose.
func (c *cache[K, V]) invalidateLocal(key K) {
	slotOf(c.gens, key).Add(1)
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

// installLocal writes e for key into L1 unless key was invalidated since gen was
// captured. It checks again after the write: an invalidation between the check and
// the write would otherwise leave the old value in place.
func (c *cache[K, V]) installLocal(key K, e backend.Entry[V], gen uint64) {
	if !c.cfg.DisableFillGuard && c.generation(key) != gen {
		return
	}
	c.local.Set(key, e)
	if !c.cfg.DisableFillGuard && c.generation(key) != gen {
		c.local.Delete(key)
	}
}
