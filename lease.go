package accelerator

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/accelerator-go/accelerator/backend"
)

// The load lease (Options.LoadLease): one load per cluster for a cold key.
//
// The load of a key that missed L1 and L2 (the per-instance singleflight already
// makes it one per instance) first takes a lease on the key in Redis: SET <lease key>
// <random token> NX PX LoadLease.
//
//   - Taken: the instance loads and fills as without a lease. It then releases the
//     lease (a compare-and-delete of its token) unless its fill wrote to L2 a value
//     that outlives the lease: such a value answers every reader from then on, and
//     the lease may expire on its own, which saves the release's round trip on the
//     common path.
//   - Held by another instance: the load waits for the holder's value, polling L2
//     with a backoff (GET of the key, then a new SET NX of the lease), up to
//     LoadLeaseWait. A fresh value ends the wait: it is the read's answer, installed
//     in L1, and nothing is loaded. A lease found free (its holder released it
//     without a value, or died and the lease expired) is taken, and the key read once
//     more before loading, in case the holder's value arrived just before. A key that
//     changed in L2 (a Del's tombstone, a value past its freshness) makes the fill
//     guard expect what it holds now, so that a load that starts after it may write
//     its value. A wait that runs out, or a remote call that fails, ends in a load
//     without a lease: the lease never turns a miss into an error.
//
// A write (Set, MSet, Del, MDel, on any instance with the lease on) ends the lease of
// its keys in the same round trip as its L2 write: the lease key is overwritten with a
// marker that expires a millisecond later (the backend interface has no pipeline of
// SET and DEL; a Del without the fill guard adds the lease keys to its DEL). The
// readers that wait never get a value loaded before a Del: they take values from L2
// only, and the compare-and-set of the holder's fill loses to the Del's tombstone.
//
// Why a poll and not a notification: the invalidation bus (Pub/Sub) is at-most-once
// and optional, so waiters would poll anyway for the messages it loses; a poll needs
// nothing but the Remote, costs a few round trips per waiting instance (one load per
// instance waits, not one per reader), and its backoff bounds them.

// leaseKeyMark follows the escaped area in a lease key, where a data key has ':'.
// Area escaping (internal/keyenc) writes '\' only before '\' or ':', so no data key,
// and no key of another area, contains it: a lease key is outside the data keyspace.
const leaseKeyMark = `\#lease:`

// leaseVoid is what a write leaves in the lease key of the keys it writes, for a
// millisecond: it is no token, so the holder's release leaves it alone.
const leaseVoid = "void"

// Poll backoff of a waiting load: from leasePollFirst, doubling, up to leasePollMax.
const (
	leasePollFirst = 2 * time.Millisecond
	leasePollMax   = 50 * time.Millisecond
)

// leaseHold is a lease a load holds: its key and token, and when it expires (the
// cache's clock, Unix nanoseconds).
type leaseHold struct {
	key, token string
	until      int64
}

// guardedLeaser sends the lease calls through the same timeout, circuit breaker and
// accounting as every other remote call.
type guardedLeaser struct {
	g *guardedRemote
	l backend.Leaser
}

func (gl *guardedLeaser) try(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	cctx, cancel, start, err := gl.g.begin(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	ok, err := gl.l.TryLease(cctx, key, token, ttl)
	return ok, gl.g.end(ctx, cctx, "lease", start, err)
}

func (gl *guardedLeaser) release(ctx context.Context, key, token string) error {
	cctx, cancel, start, err := gl.g.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = gl.l.ReleaseLease(cctx, key, token)
	return gl.g.end(ctx, cctx, "release lease", start, err)
}

// validateLease checks the options of the load lease.
func (c *config[K, V]) validateLease(bad func(string, ...any)) {
	if c.LoadLease == 0 {
		if c.LoadLeaseWait != 0 {
			bad("LoadLeaseWait is set but LoadLease is off")
		}
		return
	}
	if !c.Mode.hasRemote() {
		bad("LoadLease requires a mode with a remote layer, not %v", c.Mode)
	} else if _, ok := c.Remote.(backend.Leaser); !ok && c.Remote != nil {
		bad("LoadLease requires a Remote that implements backend.Leaser")
	}
	if c.DisablePenetrationProtection {
		bad("LoadLease requires penetration protection (DisablePenetrationProtection is set)")
	}
	if lt := orDefault(c.LoaderTimeout, DefaultLoaderTimeout); c.LoadLease > lt {
		bad("LoadLease (%v) must not be longer than LoaderTimeout (%v)", c.LoadLease, lt)
	}
}

// newLeaser returns the cache's leaser, or nil when the lease is off.
func newLeaser[K comparable, V any](cfg *config[K, V], g *guardedRemote) *guardedLeaser {
	if cfg.LoadLease == 0 || g == nil {
		return nil
	}
	return &guardedLeaser{g: g, l: cfg.Remote.(backend.Leaser)}
}

// leaseBudget is how much longer than LoaderTimeout a load may take with the lease
// on: the wait, and the lease and poll calls around it. The loader itself is still
// bounded by LoaderTimeout.
func leaseBudget[K comparable, V any](cfg *config[K, V]) time.Duration {
	if cfg.LoadLease == 0 {
		return 0
	}
	return cfg.LoadLeaseWait + 4*cfg.RemoteTimeout
}

// leaseKey returns the lease key of key: KeyPrefix + escaped Area + `\#lease:` + the
// encoded key.
func (c *cache[K, V]) leaseKey(key K) string {
	var kb [128]byte
	dst := append(kb[:0], c.areaKey[:len(c.areaKey)-1]...)
	dst = append(dst, leaseKeyMark...)
	return string(c.cfg.KeyEncoder.AppendKey(dst, key))
}

// leaseVoids returns the writes that end the leases of keys, to send with a write of
// keys; nil when the lease is off.
func (c *cache[K, V]) leaseVoids(keys []K) []backend.Item {
	if c.lease == nil {
		return nil
	}
	items := make([]backend.Item, len(keys))
	for i, k := range keys {
		items[i] = backend.Item{Key: c.leaseKey(k), Value: []byte(leaseVoid), TTL: time.Millisecond}
	}
	return items
}

// loadLeased is the load of j under the lease: it takes the lease and loads, or waits
// for the value of the instance that holds it, or loads without a lease when waiting
// runs out or Redis fails (see the top of this file).
func (c *cache[K, V]) loadLeased(ctx context.Context, j *loadJob[K, V]) (loaded[V], error) {
	lk := c.leaseKey(j.key)
	deadline := time.Now().Add(c.cfg.LoadLeaseWait)
	backoff := leasePollFirst
	waiting := false
	for {
		token := rand.Text()
		ok, err := c.lease.try(ctx, lk, token, c.cfg.LoadLease)
		if err != nil {
			c.metrics.leaseFailures.Add(1)
			return c.loadBounded(ctx, j)
		}
		if ok {
			c.metrics.leasesTaken.Add(1)
			j.lease = &leaseHold{key: lk, token: token, until: c.clock.NowNano() + int64(c.cfg.LoadLease)}
			if waiting {
				// The holder's value may have reached L2 between the last poll and
				// its lease running out or being released.
				if rr, err := c.readKey(ctx, j.key); err == nil && rr.hit {
					c.metrics.leaseWaitHits.Add(1)
					return loaded[V]{value: rr.r.value, found: rr.r.found, cached: true}, nil
				}
			}
			return c.loadBounded(ctx, j)
		}
		if !waiting {
			waiting = true
			c.metrics.leaseWaits.Add(1)
		}
		left := time.Until(deadline)
		if left <= 0 {
			c.metrics.leaseWaitTimeouts.Add(1)
			return c.loadBounded(ctx, j)
		}
		if c.closed.Load() {
			return c.loadBounded(ctx, j)
		}
		if !sleepCtx(ctx, min(backoff, left)) {
			return loaded[V]{}, ctx.Err()
		}
		backoff = min(2*backoff, leasePollMax)
		rr, err := c.readKey(ctx, j.key)
		switch {
		case err != nil:
			c.metrics.leaseFailures.Add(1)
			return c.loadBounded(ctx, j)
		case rr.hit:
			c.metrics.leaseWaitHits.Add(1)
			return loaded[V]{value: rr.r.value, found: rr.r.found, cached: true}, nil
		case rr.seen != j.g.seen:
			// The key was written meanwhile (a Del's tombstone, most likely): a
			// load from now on reads the source after that write, and its fill
			// may replace what L2 holds now.
			j.g.seen = rr.seen
			backoff = leasePollFirst
		}
	}
}

// loadBounded calls the loader for j (bounded by LoaderTimeout: see boundLoader).
func (c *cache[K, V]) loadBounded(ctx context.Context, j *loadJob[K, V]) (loaded[V], error) {
	return c.callLoader(ctx, j.key, j.src)
}

// boundLoader bounds a loader call by LoaderTimeout on its own when the lease is on:
// the loads' contexts then also have room for a wait (leaseBudget). Without the lease
// it returns ctx as it is.
func (c *cache[K, V]) boundLoader(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.lease == nil {
		return ctx, noCancel
	}
	return context.WithTimeout(ctx, c.cfg.LoaderTimeout)
}

// noCancel is the cancel function of a context boundLoader left as it was: a
// function of the package, since a closure in a generic method allocates.
func noCancel() {}

// endLease releases the lease a load held, after its fill, unless the fill wrote to
// L2 a value fresh until after the lease expires (l2Until, zero when nothing was
// written): that value answers the other instances, and the lease may expire on its
// own. A failed release is left to expire too.
func (c *cache[K, V]) endLease(ctx context.Context, h *leaseHold, l2Until int64) {
	if l2Until >= h.until {
		return
	}
	_ = c.lease.release(ctx, h.key, h.token)
}

// sleepCtx sleeps for d, or until ctx is done; it reports whether it slept the whole d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
