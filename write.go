package accelerator

import (
	"context"
	"fmt"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/envelope"
)

func (c *cache[K, V]) set(ctx context.Context, key K, value V, ws writeSettings) error {
	return c.write(ctx, OpSet, []K{key}, []V{value}, ws)
}

func (c *cache[K, V]) mset(ctx context.Context, items map[K]V, ws writeSettings) error {
	keys := make([]K, 0, len(items))
	values := make([]V, 0, len(items))
	for k, v := range items {
		keys = append(keys, k)
		values = append(values, v)
	}
	return c.write(ctx, OpMSet, keys, values, ws)
}

func (c *cache[K, V]) del(ctx context.Context, op Op, keys []K) error {
	return c.write(ctx, op, keys, nil, writeSettings{})
}

// write is every explicit write: values[i] for keys[i], or a delete of keys when
// values is nil. Under the per-key protocol (protocol.go) it holds the keys' stripes
// from before its L2 write until its L1 install, detaches the loads and shared reads
// of the keys in flight, writes L2, then L1, and then broadcasts the keys.
//
// If the L2 write fails, the keys are dropped from L1 and the error returned, so that
// L1 never holds what L2 may not. A value larger than MaxValueSize (encoded, in the
// modes with L2) fails the whole write with ErrValueTooLarge before anything is
// stored. ws holds the write's options (tags, TTL). The values are stamped with the
// area's invalidation clock as the write begins (marks.go).
func (c *cache[K, V]) write(ctx context.Context, op Op, keys []K, values []V, ws writeSettings) (err error) {
	if c.closed.Load() {
		return ErrClosed
	}
	ctx, sp := c.startSpan(ctx, op, len(keys))
	defer func() { endSpan(sp, SpanEnd{Err: err}) }()
	if len(keys) == 0 {
		return nil
	}
	var proto loaded[V] // what every value of the write shares: found, TTL, tags, stamp
	if values != nil {
		proto = loaded[V]{found: true, ttl: ws.ttl, tags: envelope.NormalizeTags(ws.tags)}
		if len(proto.tags) > 0 && !c.marks.supported() {
			return ErrTagsUnsupported
		}
		if len(proto.tags) > 0 || c.remote != nil {
			proto.stamp = c.marks.stamp(ctx)
		}
	}
	var enc encodedWrite
	if values != nil && c.remote != nil {
		if enc, err = c.encodeWrite(values, proto); err != nil {
			return err
		}
	}
	l := c.lockKeys(keys)
	epoch := c.epoch.Load()
	if c.remote != nil {
		// L2 may take the new value at any moment from now on: L1 must not go on
		// serving the old one meanwhile, or a reader could see the new value in L2 and
		// the next one the old value in L1. (Fills cannot put it back: the write holds
		// the stripes.)
		c.dropLocal(keys)
		err = c.writeRemote(ctx, keys, values != nil, enc)
	}
	clean := c.settle(l, keys)
	if c.local != nil {
		for i, k := range keys {
			if values == nil || err != nil || !c.stripeClean(l, clean, k) {
				c.local.Delete(k)
				continue
			}
			r := proto
			r.value = values[i]
			c.localSet(k, c.localEntry(r, enc.lifeOf(i), epoch))
		}
	}
	c.unlock(l, keys)
	if err != nil {
		return err
	}
	if c.inv != nil {
		return c.inv.publish(ctx, keys)
	}
	return nil
}

// dropLocal drops keys from L1, if the cache has one.
func (c *cache[K, V]) dropLocal(keys []K) {
	if c.local == nil {
		return
	}
	for _, k := range keys {
		c.local.Delete(k)
	}
}

// encodedWrite is the L2 form of the values of a write.
type encodedWrite struct {
	idx    []int
	values [][]byte
	life   []deadline
}

func (e encodedWrite) lifeOf(i int) deadline {
	if e.life == nil {
		return deadline{}
	}
	return e.life[i]
}

// encodeWrite encodes the values of a write, each with what proto holds besides the
// value (the write's own TTL, zero for none; its tags and stamp), or fails with
// ErrValueTooLarge.
func (c *cache[K, V]) encodeWrite(values []V, proto loaded[V]) (encodedWrite, error) {
	results := make([]loaded[V], len(values))
	enc := encodedWrite{idx: make([]int, len(values)), life: make([]deadline, len(values))}
	for i, v := range values {
		results[i] = proto
		results[i].value = v
		enc.idx[i] = i
	}
	var tooBig []int
	var err error
	if enc.values, tooBig, err = c.encodeAll(results, enc.idx, enc.life); err != nil {
		return enc, err
	}
	if len(tooBig) > 0 {
		return enc, fmt.Errorf("%w: %d of %d values are larger than MaxValueSize (%d bytes)", ErrValueTooLarge, len(tooBig), len(values), c.cfg.MaxValueSize)
	}
	return enc, nil
}

// writeRemote writes the L2 part of a write: the encoded values, or the deletes. A
// delete writes tombstones when fills compare-and-set, so that a fill that read the
// source before the delete finds the key changed and loses; DEL otherwise.
//
// With the load lease on, the same call ends the leases of the keys (lease.go).
func (c *cache[K, V]) writeRemote(ctx context.Context, keys []K, put bool, enc encodedWrite) error {
	void := c.leaseVoids(keys)
	if put {
		return c.putRemote(ctx, keys, enc.values, enc.idx, enc.life, nil, void...)
	}
	if c.cas == nil {
		rkeys := c.remoteKeys(keys)
		for _, v := range void {
			rkeys = append(rkeys, v.Key)
		}
		return c.remote.Del(ctx, rkeys...)
	}
	ttl := c.tombstoneTTL()
	// Each tombstone is unique (its Version), so that a fill that saw one delete's
	// tombstone cannot mistake the next delete's, written in the same millisecond, for
	// it.
	tomb := envelope.AppendHeader(nil, envelope.Header{Tombstone: true, ExpireAt: ceilMillis(c.clock.NowNano()), Version: c.tombstones.Add(1)})
	if len(keys) == 1 && void == nil {
		return c.remote.Set(ctx, c.remoteKey(keys[0]), tomb, ttl)
	}
	items := make([]backend.Item, len(keys), len(keys)+len(void))
	for i, k := range keys {
		items[i] = backend.Item{Key: c.remoteKey(k), Value: tomb, TTL: ttl}
	}
	return c.remote.MSet(ctx, append(items, void...))
}
