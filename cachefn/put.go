package cachefn

import (
	"context"

	"github.com/accelerator-go/accelerator"
)

// Put returns fn writing its result to c: a call runs fn, and when fn succeeds stores
// its result under key(arg, result), in the layers of c's mode, L2 first. When fn fails
// its error is returned as fn returned it, and the cache is left alone.
//
// key sees the argument and the result, so that the key of a value created by fn (an
// ID the database assigned) can come from the result.
//
// The cache write runs after fn on a context that keeps ctx's values but not its
// cancellation: a result that fn committed reaches the cache even if the caller has
// gone. Under [Propagate] a failed write returns fn's result together with a
// [*CacheError]; under [Ignore] it returns the result alone. Either way the cache does
// not keep the old value in L1 (see [accelerator.Cache.Set]).
//
// Options: [OnCacheError], [Name], [WithStats], [Logger], [OnError].
func Put[A any, K comparable, V any](c *accelerator.Cache[K, V], key func(arg A, result V) K, fn func(ctx context.Context, arg A) (V, error), opts ...Option) func(ctx context.Context, arg A) (V, error) {
	w := &put[A, K, V]{c: c, key: key, fn: fn, cfg: newConfig(opts)}
	return w.call
}

type put[A any, K comparable, V any] struct {
	c   *accelerator.Cache[K, V]
	key func(A, V) K
	fn  func(context.Context, A) (V, error)
	cfg config
}

func (w *put[A, K, V]) call(ctx context.Context, arg A) (V, error) {
	v, err := w.fn(ctx, arg)
	if err != nil {
		return v, err
	}
	wctx := context.WithoutCancel(ctx)
	if err := w.c.Set(wctx, w.key(arg, v), v); err != nil {
		return v, w.cfg.writeFailed(wctx, "set", err)
	}
	return v, nil
}

// writeFailed reports a failed cache write or delete, and returns the error for the
// caller: the *CacheError under [Propagate], nil under [Ignore].
func (c *config) writeFailed(ctx context.Context, op string, err error) error {
	ce := c.report(ctx, op, err)
	if c.policy == Propagate {
		return ce
	}
	return nil
}
