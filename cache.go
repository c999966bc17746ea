// Package accelerator is a multi-level cache for Go services under heavy concurrency:
// one typed [Cache] over an in-process layer (L1, a W-TinyLFU cache) and a remote layer
// (L2, Redis), which loads misses from the source of truth.
//
// A read goes through the layers in order:
//
//  1. L1: a fresh entry answers at once, without allocating.
//  2. L2: a fresh entry answers and fills L1 for no longer than the L2 entry has left.
//  3. The loader: one load per key at a time (singleflight), written back to L2, then
//     L1. A "not found" answer can be remembered as a negative entry.
//
// Writes and deletes touch the layers the [Mode] names, L2 first.
//
// Entries can carry tags, given by a write ([WithTags]) or by the loader
// ([EntryLoader]): [Cache.InvalidateTags] makes every entry with one of them a miss,
// and [Cache.Clear] every entry of the area, on every instance, each in one round
// trip whatever the number of entries (docs/tags.md).
//
// The zero [Options] gives a local-only cache; set [Options.Remote] (package
// rueidisremote) for two levels, and [Options.Loader] / [Options.MLoader] to load
// misses.
package accelerator

import "context"

// Cache is a typed multi-level cache. Build it with [New]; it is safe for concurrent
// use, and must be closed with [Cache.Close] when no longer needed.
//
// On one instance, per key, its operations and the loads they start are
// linearizable, in every [Mode]: a read that starts after a write of the key
// returned sees that write or a later one; a load or an L2 read that began before a
// write never answers a read that began after the write returned, and is never
// installed; after concurrent writes of a key return, L1 holds what L2 holds, or
// nothing. A read that overlaps a write may see either value, and a load may return
// what the source holds before the writer's cache write lands. Batch operations are
// linearizable key by key, not atomic across keys. [Cache.InvalidateTags] and
// [Cache.Clear] act on every key they cover at once: a read that starts after one
// returned does not return an entry that it covers and that was written, or whose
// load began, before it was called. Across instances the staleness of L1 is bounded
// instead (see [Options.BroadcastInvalidation], [Options.InvalidationMarkMaxAge],
// docs/consistency.md and docs/tags.md).
type Cache[K comparable, V any] struct {
	c *cache[K, V]
}

// New returns a cache configured by opts, or an error prefixed with "accelerator:"
// that lists every invalid or conflicting option.
func New[K comparable, V any](opts Options[K, V]) (*Cache[K, V], error) {
	c, err := newCache(opts)
	if err != nil {
		return nil, err
	}
	return &Cache[K, V]{c: c}, nil
}

// Get returns the value of key: from L1, else from L2, else from the loader. found is
// false when no layer has it and the loader (if any) did not find it, or when a
// negative entry says so.
//
// A fresh L1 hit does not allocate. When the loader fails, err is the loader's error
// (it wraps [ErrLoaderTimeout] for a timeout). If the caller's ctx ends while a shared
// load goes on, Get returns ctx.Err() and the load finishes for the others.
//
// NOTE: if the loader panics, the Get that started the load panics with a
// [*PanicError], and Gets that shared it return that error.
func (c *Cache[K, V]) Get(ctx context.Context, key K, opts ...ReadOption) (value V, found bool, err error) {
	return c.c.get(ctx, key, readFlagsOf(opts), c.c.src)
}

// GetOrLoad is [Cache.Get] with loader in place of [Options.Loader] for this read:
// on a miss in every layer, loader loads key, and its result is cached like any load.
// Concurrent misses of one key share one load, whichever loader each passed.
//
// It returns [ErrNilLoader] when loader is nil.
func (c *Cache[K, V]) GetOrLoad(ctx context.Context, key K, loader Loader[K, V], opts ...ReadOption) (value V, found bool, err error) {
	if loader == nil {
		var zero V
		return zero, false, ErrNilLoader
	}
	return c.c.get(ctx, key, readFlagsOf(opts), sources[K, V]{one: loader})
}

// MGet returns the values found for keys, in one map: L1 first, then one L2 round
// trip for the L1 misses, then one MLoad call for the keys missing from both. Keys not
// found, negative entries included, are absent from the map. Duplicate keys are read
// once.
//
// On a load failure MGet returns what the layers held (and, with [AllowStale], the
// stale copies of the keys that failed) together with a [*BatchError] naming the keys
// left without a value.
func (c *Cache[K, V]) MGet(ctx context.Context, keys []K, opts ...ReadOption) (map[K]V, error) {
	return c.c.mget(ctx, keys, readFlagsOf(opts), c.c.src)
}

// MGetOrLoad is [Cache.MGet] with mloader in place of [Options.MLoader] for this
// read: the keys missing from every layer are loaded by one mloader call, and cached
// like any load (negative entries included, with [Options.CacheNullValue]).
//
// It returns [ErrNilLoader] when mloader is nil.
func (c *Cache[K, V]) MGetOrLoad(ctx context.Context, keys []K, mloader MLoader[K, V], opts ...ReadOption) (map[K]V, error) {
	if mloader == nil {
		return nil, ErrNilLoader
	}
	return c.c.mget(ctx, keys, readFlagsOf(opts), sources[K, V]{many: mloader})
}

// Set stores value for key in the layers of the mode, L2 first. If the L2 write
// fails, key is dropped from L1 too and the error is returned. opts attach tags
// ([WithTags]) or set the entry's TTL ([WithTTL]).
func (c *Cache[K, V]) Set(ctx context.Context, key K, value V, opts ...WriteOption) error {
	return c.c.set(ctx, key, value, writeSettingsOf(opts))
}

// MSet stores every value of items, with one L2 round trip. If the L2 write fails,
// the keys are dropped from L1 and the error is returned. opts apply to every item.
func (c *Cache[K, V]) MSet(ctx context.Context, items map[K]V, opts ...WriteOption) error {
	return c.c.mset(ctx, items, writeSettingsOf(opts))
}

// Del removes key from the layers of the mode, L2 first. L1 is cleared even when the
// L2 delete fails; the error is returned.
func (c *Cache[K, V]) Del(ctx context.Context, key K) error {
	return c.c.del(ctx, OpDel, []K{key})
}

// MDel removes keys with one L2 round trip, like [Cache.Del].
func (c *Cache[K, V]) MDel(ctx context.Context, keys []K) error {
	return c.c.del(ctx, OpMDel, keys)
}

// Warmup loads the keys that no layer holds, through MLoader in batches of
// [Options.WarmupBatchSize] (or Loader, key by key, without one), writes them back, and
// returns how many values it loaded. It returns [ErrNoLoader] without a loader.
func (c *Cache[K, V]) Warmup(ctx context.Context, keys []K) (loaded int, err error) {
	return c.c.warmup(ctx, keys)
}

// MetricsSnapshot returns a copy of the cache's counters.
func (c *Cache[K, V]) MetricsSnapshot() MetricsSnapshot {
	return c.c.metrics.snapshot(c.c.cfg.Area)
}

// Close stops the cache: later calls return [ErrClosed]. It releases what the cache
// started (the default local backend and its goroutines) but not the backends passed
// in [Options]. Close is idempotent.
func (c *Cache[K, V]) Close() error {
	return c.c.close()
}
