package cachefn

import (
	"context"

	"github.com/accelerator-go/accelerator"
)

// CacheableBatch returns fn reading through c: a call reads keys with one
// [accelerator.Cache.MGet] (L1, then one L2 round trip), runs fn once for the keys
// that no layer holds, caches what fn returned with one write, and returns the values
// found, cached and loaded together.
//
// fn returns the values it found; a key it leaves out of its map is "not found",
// which c remembers as a negative entry when it has
// [accelerator.Options.CacheNullValue]; keys it returns that were not asked for are
// ignored. Like [accelerator.Cache.MGet] the result holds found keys only, and reads
// duplicate keys once.
//
// An error of fn is returned as fn returned it, together with the values the cache
// held, and nothing is cached. fn runs as c's batch loader: on a context that keeps the
// caller's values but not its cancellation, bounded by
// [accelerator.Options.LoaderTimeout].
//
// Options: [OnCacheError], [ReadOptions], [Name], [WithStats], [Logger], [OnError].
func CacheableBatch[K comparable, V any](c *accelerator.Cache[K, V], fn func(ctx context.Context, keys []K) (map[K]V, error), opts ...Option) func(ctx context.Context, keys []K) (map[K]V, error) {
	w := &cacheableBatch[K, V]{c: c, fn: fn, cfg: newConfig(opts)}
	w.loader = &batchLoader[K, V]{fn: fn}
	if w.cfg.policy == Propagate {
		return w.callStrict
	}
	return w.call
}

type cacheableBatch[K comparable, V any] struct {
	c      *accelerator.Cache[K, V]
	fn     func(context.Context, []K) (map[K]V, error)
	loader accelerator.MLoader[K, V]
	cfg    config
}

func (w *cacheableBatch[K, V]) call(ctx context.Context, keys []K) (map[K]V, error) {
	m, err := w.c.MGetOrLoad(ctx, keys, w.loader, w.cfg.readOpts...)
	if err == nil {
		return m, nil
	}
	if err = w.cfg.readFailed(ctx, "mget", err); err != nil {
		return m, err
	}
	return w.fn(ctx, keys)
}

// callStrict reads keys without loading first, so that a failure of L2 is returned
// rather than absorbed by the load, then loads the keys it did not find.
func (w *cacheableBatch[K, V]) callStrict(ctx context.Context, keys []K) (map[K]V, error) {
	m, err := w.c.MGet(ctx, keys, cacheOnly...)
	if err != nil {
		if ctx.Err() != nil {
			return m, err
		}
		return m, w.cfg.report(ctx, "mget", err)
	}
	if len(m) == len(keys) {
		return m, nil
	}
	var missing []K
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			missing = append(missing, k)
		}
	}
	loaded, err := w.call(ctx, missing)
	for k, v := range loaded {
		m[k] = v
	}
	return m, err
}

// batchLoader is the loader of [CacheableBatch]: fn itself, built once.
type batchLoader[K comparable, V any] struct {
	fn func(context.Context, []K) (map[K]V, error)
}

func (l *batchLoader[K, V]) MLoad(ctx context.Context, keys []K) (map[K]V, error) {
	m, err := l.fn(ctx, keys)
	if err != nil {
		return nil, &fnError{err}
	}
	return m, nil
}
