package accelerator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/envelope"
)

// deadline is when an entry expires and, with a stale window, when its stale copy
// goes; Unix nanoseconds, zero for none.
type deadline struct {
	expireAt   int64
	staleUntil int64
}

// deadlineIn returns the deadline of an entry written now with ttl.
func (c *cache[K, V]) deadlineIn(ttl time.Duration) deadline {
	d := deadline{expireAt: c.clock.NowNano() + int64(ttl)}
	if c.cfg.StaleTTL > 0 {
		d.staleUntil = d.expireAt + int64(c.cfg.StaleTTL)
	}
	return d
}

// jitter spreads ttl uniformly over [ttl·(1−TTLJitter), ttl].
func (c *cache[K, V]) jitter(ttl time.Duration) time.Duration {
	if c.cfg.TTLJitter == 0 {
		return ttl
	}
	return ttl - time.Duration(rand.Float64()*c.cfg.TTLJitter*float64(ttl))
}

func (c *cache[K, V]) remoteTTL(null bool) time.Duration {
	if null {
		return c.jitter(c.cfg.NullTTL)
	}
	return c.jitter(c.cfg.RemoteTTL)
}

// localEntry builds the L1 entry of a write or of an L2 hit; it never outlives the L2
// entry it goes with (remote, zero when there is none), stale copy included.
func (c *cache[K, V]) localEntry(r loaded[V], remote deadline, epoch uint64) backend.Entry[V] {
	ttl := c.cfg.LocalTTL
	if !r.found {
		ttl = c.cfg.NullTTL
	}
	d := c.deadlineIn(c.jitter(ttl))
	if remote.expireAt != 0 {
		d.expireAt = min(d.expireAt, remote.expireAt)
		d.staleUntil = min(d.expireAt+int64(c.cfg.StaleTTL), remote.staleUntil)
		if c.cfg.StaleTTL == 0 {
			d.staleUntil = 0
		}
	}
	if c.inv != nil && !c.inv.trusted() {
		// The subscriber is down: invalidations may be missed, so no entry may live
		// longer than InvalidationGrace.
		limit := c.clock.NowNano() + int64(c.cfg.InvalidationGrace)
		d.expireAt, d.staleUntil = min(d.expireAt, limit), min(d.staleUntil, limit)
	}
	e := backend.Entry[V]{ExpireAt: d.expireAt, StaleUntil: d.staleUntil, Epoch: epoch, Null: !r.found}
	if r.found {
		e.Value = r.value
	}
	return e
}

// fillGuard is what a fill captured before it read the source: the L1 epoch, the
// key's generation, and what L2 held. The fill loses to anything that changed since.
type fillGuard struct {
	epoch uint64
	gen   uint64
	seen  l2Seen
}

// writeBack stores the result of a load in the layers of the mode, L2 first, unless
// the key was invalidated or rewritten since the load started. A failed L2 write is
// counted and does not fail the read: the loaded value is still good.
func (c *cache[K, V]) writeBack(ctx context.Context, key K, r loaded[V], g fillGuard) {
	if !r.found && !c.cfg.CacheNullValue {
		return
	}
	var remote deadline
	var remoteErr error
	if c.remote != nil {
		// A flush since the load started (a lost subscription, a Redis restart that
		// took tombstones with it) makes the fill lose in both layers.
		lost := c.cas != nil && c.epoch.Load() != g.epoch
		if !lost {
			remote, lost, remoteErr = c.fillRemote(ctx, key, r, g.seen)
		}
		if lost {
			c.metrics.fillsLost.Add(1)
			return
		}
	}
	if c.local != nil {
		c.installLocal(key, c.localEntry(r, remote, g.epoch), g.gen)
	}
	if c.inv != nil && remoteErr == nil {
		c.inv.publish(ctx, []K{key})
	}
}

// fillRemote writes a loaded value to L2: with a compare-and-set against what the load
// saw when the backend can (lost reports that the key changed meanwhile), with a plain
// write otherwise. On an error the returned deadline is zero.
func (c *cache[K, V]) fillRemote(ctx context.Context, key K, r loaded[V], seen l2Seen) (d deadline, lost bool, err error) {
	if c.cas == nil {
		if d, err = c.putRemote(ctx, key, r); err != nil {
			return deadline{}, false, err
		}
		return d, false, nil
	}
	if !seen.known {
		// What L2 held is unknown (it could not be read): do not risk overwriting a
		// newer value; L1 still gets the loaded value.
		return deadline{}, false, errFillSkipped
	}
	d = c.deadlineIn(c.remoteTTL(!r.found))
	b, err := c.appendValue(nil, r, d)
	if err != nil {
		return deadline{}, false, err
	}
	ok, err := c.cas.compareAndSet(ctx, []backend.CASItem{{Key: c.remoteKey(key), Expect: seen.sum, Value: b, TTL: c.remoteLife(d)}})
	if err != nil {
		return deadline{}, false, err
	}
	return d, !ok[0], nil
}

var errFillSkipped = errors.New("fill not written to L2: its previous value is unknown")

// tombstoneTTL is how long a delete's tombstone stays in L2: longer than any load
// that started before the delete can take to write its fill.
func (c *cache[K, V]) tombstoneTTL() time.Duration {
	return c.cfg.LoaderTimeout + c.cfg.RemoteTimeout + time.Second
}

// appendValue appends the L2 encoding of r (envelope and payload), to live until d,
// to dst.
func (c *cache[K, V]) appendValue(dst []byte, r loaded[V], d deadline) ([]byte, error) {
	h := envelope.Header{Null: !r.found, ExpireAt: ceilMillis(d.expireAt), StaleUntil: ceilMillis(d.staleUntil)}
	dst = envelope.AppendHeader(dst, h)
	if !r.found {
		return dst, nil
	}
	dst, err := c.cfg.Codec.Append(dst, r.value)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errEncodeValue, err)
	}
	return dst, nil
}

func ceilMillis(ns int64) int64 {
	if ns == 0 {
		return 0
	}
	return (ns + int64(time.Millisecond) - 1) / int64(time.Millisecond)
}

// remoteLife is how long Redis keeps an entry written with deadline d: until its
// stale copy goes, or until it expires.
func (c *cache[K, V]) remoteLife(d deadline) time.Duration {
	return time.Duration(max(d.expireAt, d.staleUntil) - c.clock.NowNano())
}

// putRemote writes r for key to L2 and returns the deadline it was written with.
func (c *cache[K, V]) putRemote(ctx context.Context, key K, r loaded[V]) (deadline, error) {
	d := c.deadlineIn(c.remoteTTL(!r.found))
	bp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bp)
	b, err := c.appendValue((*bp)[:0], r, d)
	if err != nil {
		return d, err
	}
	*bp = b[:0]
	if err := c.remote.Set(ctx, c.remoteKey(key), b, c.remoteLife(d)); err != nil {
		return d, err
	}
	return d, nil
}

func (c *cache[K, V]) set(ctx context.Context, key K, value V) (err error) {
	if c.closed.Load() {
		return ErrClosed
	}
	ctx, sp := c.startSpan(ctx, OpSet, 1)
	defer func() { endSpan(sp, SpanEnd{Err: err}) }()
	r := loaded[V]{value: value, found: true}
	epoch := c.epoch.Load()
	// A write is an invalidation too: loads of the key in flight must not install
	// their older result after it.
	gen := slotOf(c.gens, key).Add(1)
	var remote deadline
	if c.remote != nil {
		if remote, err = c.putRemote(ctx, key, r); err != nil {
			c.invalidateLocal(key)
			return err
		}
	}
	if c.local != nil {
		c.installLocal(key, c.localEntry(r, remote, epoch), gen)
	}
	if c.inv != nil {
		return c.inv.publish(ctx, []K{key})
	}
	return nil
}

func (c *cache[K, V]) del(ctx context.Context, op Op, keys []K) (err error) {
	if c.closed.Load() {
		return ErrClosed
	}
	ctx, sp := c.startSpan(ctx, op, len(keys))
	defer func() { endSpan(sp, SpanEnd{Err: err}) }()
	if len(keys) == 0 {
		return nil
	}
	for _, k := range keys {
		slotOf(c.gens, k).Add(1)
	}
	if c.remote != nil {
		err = c.delRemote(ctx, keys)
	}
	for _, k := range keys {
		c.invalidateLocal(k)
	}
	if c.inv != nil && err == nil {
		return c.inv.publish(ctx, keys)
	}
	return err
}

// delRemote deletes keys from L2: with tombstones when fills compare-and-set, so that
// a fill that read the source before the delete finds the key changed and loses;
// with DEL otherwise.
func (c *cache[K, V]) delRemote(ctx context.Context, keys []K) error {
	if c.cas == nil {
		rkeys := make([]string, len(keys))
		for i, k := range keys {
			rkeys[i] = c.remoteKey(k)
		}
		return c.remote.Del(ctx, rkeys...)
	}
	ttl := c.tombstoneTTL()
	tomb := envelope.AppendHeader(nil, envelope.Header{Tombstone: true, ExpireAt: ceilMillis(c.clock.NowNano())})
	items := make([]backend.Item, len(keys))
	for i, k := range keys {
		items[i] = backend.Item{Key: c.remoteKey(k), Value: tomb, TTL: ttl}
	}
	return c.remote.MSet(ctx, items)
}
