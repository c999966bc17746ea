package accelerator

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"time"

	"github.com/accelerator-go/accelerator/codec"
	"github.com/accelerator-go/accelerator/internal/envelope"
)

// remoteRead is what one L2 value says.
type remoteRead[V any] struct {
	r   loaded[V]
	hit bool // a fresh entry, possibly negative
	// life is when the L2 entry expires and its stale copy goes.
	life    deadline
	stale   staleCopy[V]
	corrupt bool // bytes that could not be decoded
	seen    l2Seen
}

// readKey is the L2 read of one key, shared by the readers that miss L1 together
// (remoteReads runs it). It installs a fresh value into L1 once, for all of them.
func (c *cache[K, V]) readKey(ctx context.Context, key K) (remoteRead[V], error) {
	g := c.guardOf(key)
	var kb [128]byte
	data, err := c.remote.Get(ctx, string(c.appendRemoteKey(kb[:0], key)))
	if err != nil {
		return remoteRead[V]{}, err
	}
	rr := c.received(data)
	c.checkMarks(ctx, &rr, data)
	if rr.hit {
		c.installFill(key, c.localEntry(rr.r, rr.life, g.epoch), g)
	}
	return rr, nil
}

// checkMarks turns an entry read from L2 (a fresh one or a stale copy) into a miss when
// a tag of its, or the area's clear mark, was raised after its stamp, or when the
// marks it depends on cannot be read (marks.go). The fill of the load that follows
// then replaces it in L2.
func (c *cache[K, V]) checkMarks(ctx context.Context, rr *remoteRead[V], data []byte) {
	if c.marks.mode != marksRemote || !rr.hit && !rr.stale.ok {
		return
	}
	r := &rr.r
	if !rr.hit {
		r = &rr.stale.r
	}
	if c.marks.holds(ctx, r.stamp, r.tags, c.marks.cells(r.tags), true) {
		return
	}
	c.dropRemoteRead(rr, data)
}

// prefetchMarks reads, in one call, the marks that the values of a batch read from L2
// depend on and that are due, so that checkMarksAfter checks them one by one without
// a round trip each. It reports whether the marks could be read.
func (c *cache[K, V]) prefetchMarks(ctx context.Context, data [][]byte) bool {
	if c.marks.mode != marksRemote {
		return true
	}
	var refs []markRef
	values := false
	for _, d := range data {
		if d == nil {
			continue
		}
		h, _, err := envelope.Decode(d, c.cfg.MaxValueSize)
		if err != nil || h.Tombstone {
			continue
		}
		values = true
		if len(h.Tags) > 0 {
			refs = append(refs, refsOf(c.marks.tagKey, h.Tags, c.marks.cells(h.Tags))...)
		}
	}
	return !values || c.marks.refresh(ctx, refs) == nil
}

// checkMarksAfter is checkMarks after prefetchMarks: when the marks could not be
// read, the entry is a miss without another try.
func (c *cache[K, V]) checkMarksAfter(ctx context.Context, rr *remoteRead[V], data []byte, marksRead bool) {
	if !marksRead && c.marks.mode == marksRemote && (rr.hit || rr.stale.ok) {
		c.dropRemoteRead(rr, data)
		return
	}
	c.checkMarks(ctx, rr, data)
}

// dropRemoteRead makes rr a miss with nothing to serve; a compare-and-set fill will
// replace what L2 holds.
func (c *cache[K, V]) dropRemoteRead(rr *remoteRead[V], data []byte) {
	rr.hit, rr.r, rr.stale = false, loaded[V]{}, staleCopy[V]{}
	if c.cas != nil {
		rr.seen = l2Seen{known: true, sum: sha1Hex(data)}
	}
}

// readRemote reads key from L2, sharing the read with the readers of key that miss L1
// at the same time. A reader that joined a read whose leader gave up reads again.
func (c *cache[K, V]) readRemote(ctx context.Context, key K) (remoteRead[V], error) {
	rr, err, shared := c.remoteReads.Do(ctx, key)
	if shared && err != nil && ctx.Err() == nil && errors.Is(err, context.Canceled) {
		rr, err = c.readKey(ctx, key)
	}
	if err == nil {
		c.countRemote(rr)
	}
	return rr, err
}

// received decodes one L2 value (nil when absent) and counts the values that could
// not be decoded, once per value read.
func (c *cache[K, V]) received(data []byte) remoteRead[V] {
	rr := decodeRemote(data, c.cfg.MaxValueSize, c.cfg.Codec, c.clock.NowNano(), c.cas != nil)
	if rr.corrupt {
		c.metrics.decodeErrors.Add(1)
		c.log.problem("decode", errCorruptValue)
	}
	return rr
}

// decodeRemote turns one L2 value (nil when absent) into what it says at now. It has
// no side effects. withSum records the SHA-1 of a value a load will replace, for its
// compare-and-set fill.
func decodeRemote[V any](data []byte, maxSize int, cd codec.Codec[V], now int64, withSum bool) (rr remoteRead[V]) {
	if data == nil {
		rr.seen.known = true
		return rr
	}
	if withSum {
		rr.seen = l2Seen{known: true, sum: sha1Hex(data)}
	}
	h, payload, err := envelope.Decode(data, maxSize)
	if err != nil {
		rr.corrupt = true
		return rr
	}
	if h.Tombstone {
		return rr
	}
	rr.life = deadline{expireAt: h.ExpireAt * int64(time.Millisecond), staleUntil: h.StaleUntil * int64(time.Millisecond)}
	fresh := rr.life.expireAt > now
	if !fresh && rr.life.staleUntil <= now {
		return rr
	}
	r := loaded[V]{tags: h.Tags, stamp: h.Stamp}
	r.found = !h.Null
	if r.found {
		if err := cd.Unmarshal(payload, &r.value); err != nil {
			rr.corrupt = true
			return rr
		}
	}
	if !fresh {
		rr.stale = staleCopy[V]{r: r, ok: true}
		return rr
	}
	rr.r, rr.hit, rr.seen = r, true, l2Seen{}
	return rr
}

// countRemote counts what one reader got from L2.
func (c *cache[K, V]) countRemote(rr remoteRead[V]) {
	if !rr.hit {
		c.metrics.remoteMisses.Add(1)
		return
	}
	c.metrics.remoteHits.Add(1)
	if !rr.r.found {
		c.metrics.nullHits.Add(1)
	}
}

func sha1Hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

// dropCorrupt deletes remote values that could not be decoded, so that the next reader
// does not trip on them again. It is best effort.
func (c *cache[K, V]) dropCorrupt(ctx context.Context, keys []K) {
	if len(keys) == 0 {
		return
	}
	c.remote.Del(ctx, c.remoteKeys(keys)...)
}
