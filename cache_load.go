package accelerator

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/accelerator-go/accelerator/internal/singleflight"
)

// loadOne loads key through the singleflight group (or alone, without penetration
// protection) and writes the result back. shared reports that the caller joined a load
// started by another.
func (c *cache[K, V]) loadOne(ctx context.Context, key K, src sources[K, V], seen l2Seen) (r loaded[V], err error, shared bool) {
	spec := c.loadOneSpec(key, src, seen, true, nil)
	if c.cfg.DisablePenetrationProtection {
		r, err = singleflight.Run(ctx, spec)
		return r, err, false
	}
	r, err, shared = c.loads.Do(ctx, key, spec)
	if shared {
		c.metrics.sharedLoads.Add(1)
	}
	return r, err, shared
}

// loadOneSpec is the load of one key with its write-back; done, when set, learns the
// outcome. With recheck, the load first looks at L1 again: a reader that missed while
// another load of the key was in flight, and reached the singleflight group just after
// it ended, finds the value that load installed instead of loading again.
func (c *cache[K, V]) loadOneSpec(key K, src sources[K, V], seen l2Seen, recheck bool, done func(error)) singleflight.Spec[loaded[V]] {
	// The epoch and the key's generation are captured before the source is read: an
	// invalidation after this point makes the fill lose.
	epoch, gen := c.epoch.Load(), c.generation(key)
	return loadSpec(c, "load",
		func(lctx context.Context) (loaded[V], error) {
			if r, ok := c.recheckLocal(key, recheck); ok {
				return r, nil
			}
			if c.cas != nil && !seen.known {
				seen = c.lookBeforeLoad(lctx, key)
			}
			return c.callLoader(lctx, key, src)
		},
		func(lctx context.Context, r loaded[V], err error) (loaded[V], error) {
			if err == nil && !r.cached {
				c.writeBack(lctx, key, r, fillGuard{epoch: epoch, gen: gen, seen: seen})
			}
			return r, err
		}, done)
}

// loadSpec is the singleflight spec of a load: bounded by the loader timeout, with
// timeouts counted once per load, whichever of the timer and the loader notices first.
// done, when set, learns the outcome of the load, a timeout included.
func loadSpec[K comparable, V any, R any](c *cache[K, V], op string, load func(context.Context) (R, error), commit func(context.Context, R, error) (R, error), done func(error)) singleflight.Spec[R] {
	// began is set and read on the load's own goroutine.
	var began time.Time
	return singleflight.Spec[R]{
		Timeout:    c.cfg.LoaderTimeout,
		TimeoutErr: c.errTimeout,
		OnTimeout: func() {
			c.metrics.loadTimeouts.Add(1)
			c.log.failure("load", op, ErrLoaderTimeout, c.cfg.LoaderTimeout)
			if done != nil {
				done(c.errTimeout)
			}
		},
		Tracker: &c.loading,
		Load: func(ctx context.Context) (R, error) {
			began = time.Now()
			return load(ctx)
		},
		Commit: func(ctx context.Context, r R, err error) (_ R, cerr error) {
			if errors.Is(err, ErrLoaderTimeout) {
				c.metrics.loadTimeouts.Add(1)
			}
			if err != nil {
				c.log.failure("load", op, err, time.Since(began))
			}
			if done != nil {
				defer func() { done(cerr) }()
			}
			// A panic while writing back (a codec or a backend that panics) must not
			// end the process from the load goroutine.
			defer c.recoverLoad(&cerr)
			return commit(ctx, r, err)
		},
	}
}

// callLoader runs the single-key loader (or the batch loader with one key), turning a
// panic into a *PanicError and a timeout into an error wrapping ErrLoaderTimeout.
func (c *cache[K, V]) callLoader(ctx context.Context, key K, src sources[K, V]) (r loaded[V], err error) {
	c.metrics.loadedKeys.Add(1)
	defer c.recoverLoad(&err)
	if src.one != nil {
		var sp Span
		ctx, sp = c.startSpan(ctx, OpLoad, 1)
		defer func() { endSpan(sp, readEnd(LayerSource, r.found, err)) }()
	}
	if src.one == nil {
		m, err := c.callMLoader(ctx, []K{key}, src.many)
		if err != nil {
			return r, err
		}
		r.value, r.found = m[key]
		c.countFound(r.found)
		return r, nil
	}
	c.metrics.loads.Add(1)
	start := time.Now()
	r.value, r.found, err = src.one.Load(ctx, key)
	c.recordLoadCost(time.Since(start))
	if err != nil {
		return loaded[V]{}, c.loadFailed(ctx, err)
	}
	c.countFound(r.found)
	if !r.found {
		r.value = *new(V)
	}
	return r, nil
}

// callMLoader runs the batch loader; it counts the call but not the keys.
func (c *cache[K, V]) callMLoader(ctx context.Context, keys []K, ml MLoader[K, V]) (m map[K]V, err error) {
	ctx, sp := c.startSpan(ctx, OpMLoad, len(keys))
	defer func() { endSpan(sp, SpanEnd{Layer: LayerSource, Found: len(m), Err: err}) }()
	defer c.recoverLoad(&err)
	c.metrics.mloads.Add(1)
	start := time.Now()
	m, err = ml.MLoad(ctx, keys)
	c.recordLoadCost(time.Since(start))
	if err != nil {
		return nil, c.loadFailed(ctx, err)
	}
	return m, nil
}

func (c *cache[K, V]) countFound(found bool) {
	if found {
		c.metrics.loadFound.Add(1)
		return
	}
	c.metrics.loadNotFound.Add(1)
}

func (c *cache[K, V]) loadFailed(ctx context.Context, err error) error {
	c.metrics.loadErrors.Add(1)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrLoaderTimeout) {
		return fmt.Errorf("%w: %w", ErrLoaderTimeout, err)
	}
	return err
}

func (c *cache[K, V]) recoverLoad(errp *error) {
	v := recover()
	if v == nil {
		return
	}
	c.metrics.loadErrors.Add(1)
	c.metrics.loadPanics.Add(1)
	*errp = &PanicError{Value: v, Stack: debug.Stack()}
}

// recordLoadCost folds one load duration into the moving average that the
// probabilistic refresh rule uses as its delta.
func (c *cache[K, V]) recordLoadCost(d time.Duration) {
	if c.refreshWindow == 0 {
		return
	}
	old := c.loadCost.Load()
	c.loadCost.Store(old + (int64(d)-old)/8)
}

// maybeRefresh starts a background reload of key when the refresh policy says its
// entry, which expires at expireAt, is due. It runs on the hit path: it must not
// allocate unless it starts a reload.
func (c *cache[K, V]) maybeRefresh(ctx context.Context, key K, src sources[K, V], expireAt, now int64) {
	if !src.any() || !c.refreshDue(expireAt-now) {
		return
	}
	c.startRefresh(ctx, key, src, now)
}

// refreshDue reports whether an entry with left nanoseconds to live, already inside
// the refresh window, should be reloaded now: always with the fixed window; with the
// probabilistic rule (XFetch), when delta·beta·(−ln u) ≥ left for a uniform u, delta
// being the moving average of load durations.
func (c *cache[K, V]) refreshDue(left int64) bool {
	if c.cfg.RefreshPolicy != RefreshProbabilistic {
		return true
	}
	delta := float64(c.loadCost.Load())
	return delta*c.cfg.RefreshBeta*-math.Log(rand.Float64()) >= float64(left)
}

func (c *cache[K, V]) startRefresh(ctx context.Context, key K, src sources[K, V], now int64) {
	c.refreshMu.Lock()
	next, backedOff := c.refreshFailed[key]
	c.refreshMu.Unlock()
	if backedOff && now < next {
		return
	}
	spec := c.loadOneSpec(key, src, l2Seen{}, false, func(err error) {
		c.refreshMu.Lock()
		defer c.refreshMu.Unlock()
		if err == nil {
			c.metrics.refreshSuccesses.Add(1)
			delete(c.refreshFailed, key)
			return
		}
		c.metrics.refreshFailures.Add(1)
		if len(c.refreshFailed) >= maxRefreshBackoffs {
			clear(c.refreshFailed)
		}
		c.refreshFailed[key] = c.clock.NowNano() + int64(c.refreshBackoff())
	})
	if c.loads.Start(ctx, key, spec) {
		c.metrics.refreshAttempts.Add(1)
	}
}

// maxRefreshBackoffs bounds the memory of failed refreshes.
const maxRefreshBackoffs = 4096

// refreshBackoff is how long a key whose refresh failed waits before the next try: a
// quarter of the window, at least a second.
func (c *cache[K, V]) refreshBackoff() time.Duration {
	return max(time.Second, c.cfg.RefreshAhead/4)
}

// lookBeforeLoad reads key's L2 value before a load that did not read it (a refresh),
// so that the fill can compare-and-set against it.
func (c *cache[K, V]) lookBeforeLoad(ctx context.Context, key K) l2Seen {
	data, err := c.remote.Get(ctx, c.remoteKey(key))
	if err != nil {
		return l2Seen{}
	}
	if data == nil {
		return l2Seen{known: true}
	}
	return l2Seen{known: true, sum: sha1Hex(data)}
}

func sha1Hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

// recheckLocal returns key's fresh L1 entry, if there is one now.
func (c *cache[K, V]) recheckLocal(key K, recheck bool) (loaded[V], bool) {
	if !recheck || c.local == nil {
		return loaded[V]{}, false
	}
	e, ok := c.local.Get(key)
	if !ok || e.Epoch != c.epoch.Load() || e.ExpireAt <= c.clock.NowNano() {
		return loaded[V]{}, false
	}
	return loaded[V]{value: e.Value, found: !e.Null, cached: true}, true
}
