package accelerator

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// maybeRefresh starts a background reload of key when the refresh policy says its
// entry, which expires at expireAt, is due. It runs on the hit path: it must not
// allocate unless it starts a reload. Callers never pass negative entries.
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

// startRefresh starts the reload of key in the load group, unless a load of key is in
// flight or its last refresh failed less than the backoff ago.
func (c *cache[K, V]) startRefresh(ctx context.Context, key K, src sources[K, V], now int64) {
	c.refreshMu.Lock()
	next, backedOff := c.refreshFailed[key]
	c.refreshMu.Unlock()
	if backedOff && now < next {
		return
	}
	job := &loadJob[K, V]{c: c, key: key, src: src, g: c.guardOf(key), refresh: true}
	if c.loads.Start(ctx, key, job) {
		c.metrics.refreshAttempts.Add(1)
	}
}

// refreshEnded records how a refresh ended: a failed key waits for the backoff
// before the next try.
func (c *cache[K, V]) refreshEnded(key K, err error) {
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
}

// maxRefreshBackoffs bounds the memory of failed refreshes.
const maxRefreshBackoffs = 4096

// refreshBackoff is how long a key whose refresh failed waits before the next try: a
// quarter of the window, at least a second.
func (c *cache[K, V]) refreshBackoff() time.Duration {
	return max(time.Second, c.cfg.RefreshAhead/4)
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
