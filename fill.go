package accelerator

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/envelope"
)

// fillItem is one loaded result to write back, with what its fill must not overtake.
type fillItem[K comparable, V any] struct {
	key K
	r   loaded[V]
	g   fillGuard
}

// fill writes loaded results back, a single key being a batch of one: to L2 first,
// with one round trip (compare-and-set against what L2 held before the load, where
// the backend can), then into L1 under the per-key protocol, then it broadcasts the
// keys it wrote to L2. A fill that lost (the key changed since its guard was taken)
// is written nowhere. A failed L2 write does not fail the read: the loaded value is
// still good, and goes to L1. It returns when the first of the values it wrote to L2
// stops being fresh (Unix nanoseconds), zero when it wrote none.
func (c *cache[K, V]) fill(ctx context.Context, items []fillItem[K, V]) (l2Until int64) {
	if !c.cfg.CacheNullValue {
		items = slices.DeleteFunc(items, func(it fillItem[K, V]) bool { return !it.r.found })
	}
	if !c.marks.supported() {
		// Nothing could invalidate the tags: the values are returned, not cached.
		items = slices.DeleteFunc(items, func(it fillItem[K, V]) bool { return len(it.r.tags) > 0 })
	}
	for i := range items {
		items[i].r.tags = envelope.NormalizeTags(items[i].r.tags)
	}
	if len(items) == 0 {
		return 0
	}
	var lifeBuf [1]deadline
	var lostBuf [1]bool
	life, lost := lifeBuf[:], lostBuf[:]
	if len(items) > 1 {
		life, lost = make([]deadline, len(items)), make([]bool, len(items))
	}
	var err error
	if c.remote != nil {
		err = c.fillRemote(ctx, items, life, lost)
	}
	var written []K
	for i, it := range items {
		if lost[i] {
			continue
		}
		c.installFill(it.key, c.localEntry(it.r, life[i], it.g.epoch), it.g)
		if life[i].expireAt != 0 {
			written = append(written, it.key)
			if l2Until == 0 || life[i].expireAt < l2Until {
				l2Until = life[i].expireAt
			}
		}
	}
	if c.inv != nil && err == nil && len(written) > 0 {
		c.inv.publish(ctx, written)
	}
	if err != nil {
		return 0
	}
	return l2Until
}

// fillRemote writes a batch of loaded values to L2 in one round trip: a
// compare-and-set per key when the backend can, one write otherwise. It records the
// deadline of each value written in life and which fills lost in lost. Values over
// MaxValueSize are counted and lost: they are returned to the reader, never cached.
func (c *cache[K, V]) fillRemote(ctx context.Context, items []fillItem[K, V], life []deadline, lost []bool) error {
	// A single key (the common case) is encoded and sent from buffers on the stack.
	var resultsBuf [1]loaded[V]
	var idxBuf [1]int
	var keysBuf [1]K
	results, idx, keys := resultsBuf[:], idxBuf[:0], keysBuf[:]
	if len(items) > 1 {
		results, idx, keys = make([]loaded[V], len(items)), make([]int, 0, len(items)), make([]K, len(items))
	}
	for i, it := range items {
		results[i] = it.r
		switch {
		case c.cas == nil:
		case !it.g.seen.known:
			// What L2 held is unknown (it could not be read): do not risk
			// overwriting a newer value; L1 still gets the loaded value.
			continue
		case c.epoch.Load() != it.g.epoch:
			// A flush since the load started (a lost subscription, a Redis restart
			// that took tombstones with it) makes the fill lose in both layers.
			lost[i] = true
			c.metrics.fillsLost.Add(1)
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return nil
	}
	values, tooBig, err := c.encodeAll(results, idx, life)
	if err != nil {
		return err
	}
	for _, j := range tooBig {
		lost[idx[j]] = true
		life[idx[j]] = deadline{}
	}
	for i, it := range items {
		keys[i] = it.key
	}
	if c.cas == nil {
		return c.putRemote(ctx, keys, values, idx, life, lost)
	}
	return c.casRemote(ctx, items, values, idx, life, lost)
}

// casRemote writes the fills of idx (values[j] for items[idx[j]]) with a
// compare-and-set each; a key that changed since its load started loses.
func (c *cache[K, V]) casRemote(ctx context.Context, items []fillItem[K, V], values [][]byte, idx []int, life []deadline, lost []bool) error {
	cas := make([]backend.CASItem, 0, len(idx))
	sent := make([]int, 0, len(idx))
	for j, i := range idx {
		if lost[i] {
			continue
		}
		cas = append(cas, backend.CASItem{Key: c.remoteKey(items[i].key), Expect: items[i].g.seen.sum, Value: values[j], TTL: c.remoteLife(life[i])})
		sent = append(sent, i)
	}
	if len(cas) == 0 {
		return nil
	}
	done, err := c.cas.compareAndSet(ctx, cas)
	if err != nil {
		for _, i := range sent {
			life[i] = deadline{}
		}
		return err
	}
	for j, i := range sent {
		if !done[j] {
			lost[i] = true
			life[i] = deadline{}
			c.metrics.fillsLost.Add(1)
		}
	}
	return nil
}

// putRemote writes values[j] for keys[idx[j]] to L2 with one Set or one MSet, skipping
// the keys marked in skip, and the extra items in the same call. On an error every
// deadline of idx is cleared.
func (c *cache[K, V]) putRemote(ctx context.Context, keys []K, values [][]byte, idx []int, life []deadline, skip []bool, extra ...backend.Item) error {
	items := make([]backend.Item, 0, len(idx)+len(extra))
	for j, i := range idx {
		if skip != nil && skip[i] {
			continue
		}
		items = append(items, backend.Item{Key: c.remoteKey(keys[i]), Value: values[j], TTL: c.remoteLife(life[i])})
	}
	items = append(items, extra...)
	var err error
	switch len(items) {
	case 0:
		return nil
	case 1:
		err = c.remote.Set(ctx, items[0].Key, items[0].Value, items[0].TTL)
	default:
		err = c.remote.MSet(ctx, items)
	}
	if err != nil {
		for _, i := range idx {
			life[i] = deadline{}
		}
	}
	return err
}

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

// localEntry builds the L1 entry of a write or a fill; it never outlives the L2 entry
// it goes with (remote, zero when there is none), stale copy included. An entry with a
// TTL of its own lives by it (entry_ttl.go).
func (c *cache[K, V]) localEntry(r loaded[V], remote deadline, epoch uint64) backend.Entry[V] {
	d := c.deadlineIn(c.jitter(c.localTTL(r)))
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
	e := backend.Entry[V]{ExpireAt: d.expireAt, StaleUntil: d.staleUntil, Epoch: epoch, Null: !r.found, Tags: c.marks.meta(r.stamp, r.tags)}
	if r.found {
		e.Value = r.value
	}
	return e
}

// tombstoneTTL is how long a delete's tombstone stays in L2: longer than any load
// that started before the delete can take to write its fill.
func (c *cache[K, V]) tombstoneTTL() time.Duration {
	return c.cfg.LoaderTimeout + c.cfg.RemoteTimeout + time.Second
}

// appendValue appends the L2 encoding of r (envelope and payload), to live until d,
// to dst.
func (c *cache[K, V]) appendValue(dst []byte, r loaded[V], d deadline) ([]byte, error) {
	h := envelope.Header{Null: !r.found, ExpireAt: ceilMillis(d.expireAt), StaleUntil: ceilMillis(d.staleUntil), Stamp: r.stamp, Tags: r.tags}
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

// encodeAll encodes results[i], for each i of idx, with a fresh deadline (recorded in
// life[i]) into one buffer sized from the first value, and returns the encodings in
// the order of idx, and the positions j (in idx) of the values larger than
// MaxValueSize, which are counted.
func (c *cache[K, V]) encodeAll(results []loaded[V], idx []int, life []deadline) (values [][]byte, tooBig []int, err error) {
	ends := make([]int, len(idx))
	var buf []byte
	for j, i := range idx {
		d := c.deadlineIn(c.remoteTTL(results[i]))
		life[i] = d
		start := len(buf)
		if buf, err = c.appendValue(buf, results[i], d); err != nil {
			return nil, nil, err
		}
		ends[j] = len(buf)
		if len(buf)-start > c.cfg.MaxValueSize {
			c.metrics.oversizedValues.Add(1)
			tooBig = append(tooBig, j)
		}
		if j == 0 {
			// Growing the buffer step by step is a large part of a batch of big
			// values; the first one tells the size of the others.
			buf = slices.Grow(buf, len(buf)*(len(idx)-1)+len(buf)/4)
		}
	}
	values = make([][]byte, len(idx))
	start := 0
	for j, end := range ends {
		values[j] = buf[start:end:end]
		start = end
	}
	return values, tooBig, nil
}
