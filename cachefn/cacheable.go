package cachefn

import (
	"context"
	"errors"

	"github.com/accelerator-go/accelerator"
)

// cacheOnly is the read option list of a lookup that must not load, built once so
// that passing it does not allocate.
var cacheOnly = []accelerator.ReadOption{accelerator.DisableLoad()}

// fnError carries an error of the wrapped function through the cache's load, so that
// the wrapper can tell it from an error of the cache.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }

// classify splits an error returned by a cache read that may have loaded through the
// wrapped function. It returns the error for the caller and whether it is a failure of
// the cache. The function's errors come back as the function returned them; a load
// timeout, a panic of the function and the end of the caller's ctx come back as the
// cache returned them.
func classify(ctx context.Context, err error) (error, bool) {
	var fe *fnError
	var pe *accelerator.PanicError
	switch {
	case errors.Is(err, accelerator.ErrLoaderTimeout), errors.As(err, &pe):
		return err, false
	case errors.As(err, &fe):
		return fe.err, false
	case ctx.Err() != nil:
		return err, false
	}
	return err, true
}

// Cacheable returns fn reading through c: a call returns the cached value of key, and
// on a miss in every layer runs fn, caches its result and returns it. Concurrent misses
// of one key share one call of fn.
//
// fn says "not found" by returning an error that matches [ErrNotFound] (or the target
// of [NotFound]) with [errors.Is]. The wrapper tells c "not found", which c remembers
// as a negative entry when it has [accelerator.Options.CacheNullValue], so that the
// next calls do not run fn, and returns the target itself: a negative entry does not
// keep fn's own error. Any other error of fn is returned as fn returned it, and
// nothing is cached.
//
// fn runs as c's loader: on a context that keeps the caller's values but not its
// cancellation, bounded by [accelerator.Options.LoaderTimeout].
//
// A call answered by L1 allocates nothing. Options: [OnCacheError], [NotFound],
// [ReadOptions], [Name], [WithStats], [Logger], [OnError].
func Cacheable[K comparable, V any](c *accelerator.Cache[K, V], fn func(ctx context.Context, key K) (V, error), opts ...Option) func(ctx context.Context, key K) (V, error) {
	w := &cacheable[K, V]{c: c, fn: fn, cfg: newConfig(opts)}
	w.loader = &keyLoader[K, V]{fn: fn, notFound: w.cfg.notFound}
	if w.cfg.policy == Propagate {
		return w.callStrict
	}
	return w.call
}

type cacheable[K comparable, V any] struct {
	c      *accelerator.Cache[K, V]
	fn     func(context.Context, K) (V, error)
	loader accelerator.Loader[K, V]
	cfg    config
}

func (w *cacheable[K, V]) call(ctx context.Context, key K) (V, error) {
	v, found, err := w.c.GetOrLoad(ctx, key, w.loader, w.cfg.readOpts...)
	switch {
	case err == nil && found:
		return v, nil
	case err == nil:
		return v, w.cfg.notFound // v is the zero value
	}
	if err = w.cfg.readFailed(ctx, "get", err); err != nil {
		var zero V
		return zero, err
	}
	return w.fn(ctx, key)
}

// callStrict looks key up without loading first, so that a failure of L2 is returned
// rather than absorbed by the load; on a miss it goes on as call does.
func (w *cacheable[K, V]) callStrict(ctx context.Context, key K) (V, error) {
	v, found, err := w.c.Get(ctx, key, cacheOnly...)
	switch {
	case found:
		return v, nil
	case err == nil:
		return w.call(ctx, key)
	case ctx.Err() != nil:
		return v, err
	}
	return v, w.cfg.report(ctx, "get", err)
}

// keyLoader is the loader of [Cacheable]: fn itself, built once.
type keyLoader[K comparable, V any] struct {
	fn       func(context.Context, K) (V, error)
	notFound error
}

func (l *keyLoader[K, V]) Load(ctx context.Context, key K) (V, bool, error) {
	v, err := l.fn(ctx, key)
	return loadResult(v, err, l.notFound)
}

// loadResult turns the result of the wrapped function into a loader's answer.
func loadResult[V any](v V, err error, notFound error) (V, bool, error) {
	if err == nil {
		return v, true, nil
	}
	var zero V
	if errors.Is(err, notFound) {
		return zero, false, nil
	}
	return zero, false, &fnError{err}
}

// readFailed handles the error of a cache read that may have loaded through the
// function. It returns the error for the caller, or nil when the wrapper must run the
// function without the cache: a cache failure under [Ignore].
func (c *config) readFailed(ctx context.Context, op string, err error) error {
	out, isCache := classify(ctx, err)
	if !isCache {
		return out
	}
	ce := c.report(ctx, op, err)
	if c.policy == Propagate {
		return ce
	}
	return nil
}

// CacheableBy is [Cacheable] for a function whose argument is not the cache key
// itself: key derives the cache key from the argument, such as a field of a request
// struct or one field of a struct that groups several parameters. Arguments with
// equal keys must give equal results: a miss runs fn with the argument of one of the
// callers that share it.
//
// A call answered by L1 allocates nothing. To keep it so, CacheableBy looks the key up
// without loading first, and builds the loader that holds the argument on a miss only.
// The price is paid on misses: in the modes with L2 a miss reads L2 twice, and every
// miss counts twice in the cache's metrics. And because hits are answered by a lookup
// that does not load, they do not start [accelerator.Options.RefreshAhead] reloads;
// use [Cacheable] (with a struct key if need be) where refresh-ahead matters.
//
// Options: [OnCacheError], [NotFound], [ReadOptions], [Name], [WithStats], [Logger],
// [OnError].
func CacheableBy[A any, K comparable, V any](c *accelerator.Cache[K, V], key func(A) K, fn func(ctx context.Context, arg A) (V, error), opts ...Option) func(ctx context.Context, arg A) (V, error) {
	w := &cacheableBy[A, K, V]{c: c, key: key, fn: fn, cfg: newConfig(opts)}
	return w.call
}

type cacheableBy[A any, K comparable, V any] struct {
	c   *accelerator.Cache[K, V]
	key func(A) K
	fn  func(context.Context, A) (V, error)
	cfg config
}

func (w *cacheableBy[A, K, V]) call(ctx context.Context, arg A) (V, error) {
	var zero V
	k := w.key(arg)
	v, found, err := w.c.Get(ctx, k, cacheOnly...)
	switch {
	case found:
		return v, nil
	case err == nil: // a miss, or a negative entry, which the load below answers
	case ctx.Err() != nil:
		return zero, err
	case w.cfg.policy == Propagate:
		return zero, w.cfg.report(ctx, "get", err)
	case errors.Is(err, accelerator.ErrClosed):
		w.cfg.report(ctx, "get", err)
		return w.fn(ctx, arg)
	default:
		// An L2 failure under Ignore, counted by the cache: the load below reads
		// through the rest of the cache and absorbs it, as it does for Cacheable.
	}
	v, found, err = w.c.GetOrLoad(ctx, k, &argLoader[A, K, V]{fn: w.fn, arg: arg, notFound: w.cfg.notFound}, w.cfg.readOpts...)
	switch {
	case err == nil && found:
		return v, nil
	case err == nil:
		return zero, w.cfg.notFound
	}
	if err = w.cfg.readFailed(ctx, "get", err); err != nil {
		return zero, err
	}
	return w.fn(ctx, arg)
}

// argLoader is the loader of one miss of [CacheableBy]: fn with the argument of the
// caller that missed.
type argLoader[A any, K comparable, V any] struct {
	fn       func(context.Context, A) (V, error)
	arg      A
	notFound error
}

func (l *argLoader[A, K, V]) Load(ctx context.Context, _ K) (V, bool, error) {
	v, err := l.fn(ctx, l.arg)
	return loadResult(v, err, l.notFound)
}
