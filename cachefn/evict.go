package cachefn

import (
	"context"

	"github.com/accelerator-go/accelerator"
)

// Evict returns fn deleting key(arg) from c: a call runs fn, and when fn succeeds
// deletes the key from the layers of c's mode, L2 first. When fn fails its error is
// returned as fn returned it, and the cache is left alone.
//
// With [EvictBefore] the key is deleted before fn runs, and whatever fn returns; if
// that delete fails under [Propagate], fn does not run and the call returns the
// [*CacheError].
//
// A delete after fn runs on a context that keeps ctx's values but not its
// cancellation: an effect that fn committed reaches the cache even if the caller has
// gone. Under [Propagate] a failed delete returns a [*CacheError] after fn succeeded;
// under [Ignore] it returns nil. Either way L1 is cleared (see [accelerator.Cache.Del]).
//
// Options: [EvictBefore], [OnCacheError], [Name], [WithStats], [Logger], [OnError].
func Evict[A any, K comparable, V any](c *accelerator.Cache[K, V], key func(arg A) K, fn func(ctx context.Context, arg A) error, opts ...Option) func(ctx context.Context, arg A) error {
	w := &evict[A, struct{}, K, V]{c: c, one: key, fn: errorOnly(fn), cfg: newConfig(opts)}
	return w.callErr
}

// EvictResult is [Evict] for a function that returns a value as well as an error.
func EvictResult[A, R any, K comparable, V any](c *accelerator.Cache[K, V], key func(arg A) K, fn func(ctx context.Context, arg A) (R, error), opts ...Option) func(ctx context.Context, arg A) (R, error) {
	w := &evict[A, R, K, V]{c: c, one: key, fn: fn, cfg: newConfig(opts)}
	return w.call
}

// EvictBatch is [Evict] for many keys: a call runs fn, and when fn succeeds deletes
// keys(arg) from c with one [accelerator.Cache.MDel] (one L2 round trip). An empty key
// list deletes nothing.
//
// Options: [EvictBefore], [OnCacheError], [Name], [WithStats], [Logger], [OnError].
func EvictBatch[A any, K comparable, V any](c *accelerator.Cache[K, V], keys func(arg A) []K, fn func(ctx context.Context, arg A) error, opts ...Option) func(ctx context.Context, arg A) error {
	w := &evict[A, struct{}, K, V]{c: c, many: keys, fn: errorOnly(fn), cfg: newConfig(opts)}
	return w.callErr
}

// EvictBatchResult is [EvictBatch] for a function that returns a value as well as an
// error.
func EvictBatchResult[A, R any, K comparable, V any](c *accelerator.Cache[K, V], keys func(arg A) []K, fn func(ctx context.Context, arg A) (R, error), opts ...Option) func(ctx context.Context, arg A) (R, error) {
	w := &evict[A, R, K, V]{c: c, many: keys, fn: fn, cfg: newConfig(opts)}
	return w.call
}

// evict is every evict wrapper: one key (one) or many (many).
type evict[A, R any, K comparable, V any] struct {
	c    *accelerator.Cache[K, V]
	one  func(A) K
	many func(A) []K
	fn   func(context.Context, A) (R, error)
	cfg  config
}

func errorOnly[A any](fn func(context.Context, A) error) func(context.Context, A) (struct{}, error) {
	return func(ctx context.Context, arg A) (struct{}, error) { return struct{}{}, fn(ctx, arg) }
}

func (w *evict[A, R, K, V]) callErr(ctx context.Context, arg A) error {
	_, err := w.call(ctx, arg)
	return err
}

func (w *evict[A, R, K, V]) call(ctx context.Context, arg A) (R, error) {
	if w.cfg.before {
		if err := w.del(ctx, arg); err != nil {
			var zero R
			return zero, err
		}
		return w.fn(ctx, arg)
	}
	r, err := w.fn(ctx, arg)
	if err != nil {
		return r, err
	}
	return r, w.del(context.WithoutCancel(ctx), arg)
}

// del deletes the key(s) of arg, and returns the error for the caller: nil, or the
// *CacheError under [Propagate].
func (w *evict[A, R, K, V]) del(ctx context.Context, arg A) error {
	if w.one != nil {
		if err := w.c.Del(ctx, w.one(arg)); err != nil {
			return w.cfg.writeFailed(ctx, "del", err)
		}
		return nil
	}
	keys := w.many(arg)
	if len(keys) == 0 {
		return nil
	}
	if err := w.c.MDel(ctx, keys); err != nil {
		return w.cfg.writeFailed(ctx, "mdel", err)
	}
	return nil
}
