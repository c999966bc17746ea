package accelerator

import (
	"fmt"
	"time"
)

// Entries with a TTL of their own: a [Loaded] with a TTL from an [EntryLoader] or an
// [EntryMLoader], or a write with [WithTTL]. The TTL replaces the configured ones
// for that entry, kept within MinLoaderTTL and MaxLoaderTTL:
//
//   - L2 keeps the entry fresh for the TTL (in place of RemoteTTL, or NullTTL for a
//     negative entry);
//   - L1 keeps it for the TTL in ModeLocal (in place of LocalTTL or NullTTL), and
//     for the shorter of the TTL and LocalTTL in the modes with L2, as it keeps the
//     entries it reads from L2: LocalTTL stays the bound on how long an L1 copy may
//     go unchecked, and L1 never outlives L2's freshness;
//   - jitter spreads it as it spreads the configured TTLs; refresh-ahead opens its
//     window RefreshAhead before the entry's own expiry (MinLoaderTTL is longer
//     than RefreshAhead, so that no entry is born inside its window).

// mloaded is what one MLoad call returned: the values of an MLoader, or the entries
// (with their TTLs and tags) of an EntryMLoader.
type mloaded[K comparable, V any] struct {
	values  map[K]V
	entries map[K]Loaded[V]
}

// of returns the result of key: not found when the loader left it out.
func (m mloaded[K, V]) of(key K) loaded[V] {
	if m.entries == nil {
		v, ok := m.values[key]
		return loaded[V]{value: v, found: ok}
	}
	e := m.entries[key]
	r := loaded[V]{found: e.Found, ttl: e.TTL, tags: e.Tags}
	if e.Found {
		r.value = e.Value
	}
	return r
}

// found returns the number of keys found.
func (m mloaded[K, V]) found() int {
	if m.entries == nil {
		return len(m.values)
	}
	n := 0
	for _, e := range m.entries {
		if e.Found {
			n++
		}
	}
	return n
}

// resolveEntryTTL sets the defaults of MinLoaderTTL and MaxLoaderTTL, once the TTLs
// have theirs, and checks the pair.
func (c *config[K, V]) resolveEntryTTL() error {
	if c.MaxLoaderTTL == 0 {
		if c.Mode.hasLocal() {
			c.MaxLoaderTTL = c.LocalTTL
		}
		if c.Mode.hasRemote() {
			c.MaxLoaderTTL = max(c.MaxLoaderTTL, c.RemoteTTL)
		}
	}
	if c.MinLoaderTTL == 0 {
		c.MinLoaderTTL = min(max(DefaultMinLoaderTTL, 2*c.RefreshAhead), c.MaxLoaderTTL)
	}
	switch {
	case c.MinLoaderTTL > c.MaxLoaderTTL:
		return fmt.Errorf("accelerator: MinLoaderTTL (%v) is longer than MaxLoaderTTL (%v)", c.MinLoaderTTL, c.MaxLoaderTTL)
	case c.RefreshAhead > 0 && c.MinLoaderTTL <= c.RefreshAhead:
		return fmt.Errorf("accelerator: MinLoaderTTL (%v) must be longer than RefreshAhead (%v)", c.MinLoaderTTL, c.RefreshAhead)
	}
	return nil
}

// ownTTL is the life of an entry whose TTL is ttl: ttl kept within MinLoaderTTL and
// MaxLoaderTTL, a negative one raised to MinLoaderTTL; zero for an entry without a
// TTL of its own.
func (c *cache[K, V]) ownTTL(ttl time.Duration) time.Duration {
	if ttl == 0 {
		return 0
	}
	return min(max(ttl, c.cfg.MinLoaderTTL), c.cfg.MaxLoaderTTL)
}

// remoteTTL is how long L2 keeps r fresh, jittered.
func (c *cache[K, V]) remoteTTL(r loaded[V]) time.Duration {
	switch {
	case r.ttl != 0:
		return c.jitter(c.ownTTL(r.ttl))
	case !r.found:
		return c.jitter(c.cfg.NullTTL)
	}
	return c.jitter(c.cfg.RemoteTTL)
}

// localTTL is how long L1 keeps r fresh, before jitter and before the cut to the L2
// entry it goes with.
func (c *cache[K, V]) localTTL(r loaded[V]) time.Duration {
	switch {
	case r.ttl != 0 && c.remote != nil:
		return min(c.ownTTL(r.ttl), c.cfg.LocalTTL)
	case r.ttl != 0:
		return c.ownTTL(r.ttl)
	case !r.found:
		return c.cfg.NullTTL
	}
	return c.cfg.LocalTTL
}
