package accelerator

import (
	"context"
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
	e := backend.Entry[V]{ExpireAt: d.expireAt, StaleUntil: d.staleUntil, Epoch: epoch, Null: !r.found}
	if r.found {
		e.Value = r.value
	}
	return e
}

// writeBack stores the result of a load in the layers of the mode, L2 first. A failed
// L2 write is counted and does not fail the read: the loaded value is still good.
func (c *cache[K, V]) writeBack(ctx context.Context, key K, r loaded[V], epoch uint64) {
	if !r.found && !c.cfg.CacheNullValue {
		return
	}
	var remote deadline
	if c.remote != nil {
		var err error
		remote, err = c.putRemote(ctx, key, r)
		if err != nil {
			remote = deadline{}
		}
	}
	if c.local != nil {
		c.local.Set(key, c.localEntry(r, remote, epoch))
	}
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
		return nil, fmt.Errorf("accelerator: encode value: %w", err)
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
	var remote deadline
	if c.remote != nil {
		if remote, err = c.putRemote(ctx, key, r); err != nil {
			if c.local != nil {
				c.local.Delete(key)
			}
			return err
		}
	}
	if c.local != nil {
		c.local.Set(key, c.localEntry(r, remote, epoch))
	}
	return nil
}

func (c *cache[K, V]) del(ctx context.Context, op Op, keys []K) (err error) {
	if c.closed.Load() {
		return ErrClosed
	}
	ctx, sp := c.startSpan(ctx, op, len(keys))
	defer func() { endSpan(sp, SpanEnd{Err: err}) }()
	if c.remote != nil && len(keys) > 0 {
		rkeys := make([]string, len(keys))
		for i, k := range keys {
			rkeys[i] = c.remoteKey(k)
		}
		err = c.remote.Del(ctx, rkeys...)
	}
	if c.local != nil {
		for _, k := range keys {
			c.local.Delete(k)
		}
	}
	return err
}
