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

// remoteRead is what one L2 value says. It is copied through the frames of the L2
// hit path, so it holds one value: r is the fresh entry (hit) or the stale copy
// (stale).
type remoteRead[V any] struct {
	r     loaded[V]
	hit   bool // r is a fresh entry, possibly negative
	stale bool // r is a copy past its expiry, inside its stale window
	// life is when the L2 entry expires and its stale copy goes.
	life    deadline
	corrupt bool // bytes that could not be decoded
	seen    l2Seen
}

// staleCopy returns the stale copy the value holds, if any.
func (rr *remoteRead[V]) staleCopy() staleCopy[V] {
	if !rr.stale {
		return staleCopy[V]{}
	}
	return staleCopy[V]{r: rr.r, ok: true}
}

// readKey is the L2 read of one key, shared by the readers that miss L1 together
// (remoteReads runs it). It installs a fresh value into L1 once, for all of them.
func (c *cache[K, V]) readKey(ctx context.Context, key K) (rr remoteRead[V], err error) {
	if c.local == nil {
		data, err := c.remote.Get(ctx, c.remoteKey(key))
		if err != nil {
			return rr, err
		}
		c.received(data, &rr)
		c.checkMarks(ctx, &rr, data)
		return rr, nil
	}
	g := c.guardOf(key)
	data, err := c.remote.Get(ctx, c.remoteKey(key))
	if err != nil {
		return rr, err
	}
	c.received(data, &rr)
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
	if c.marks.mode != marksRemote || !rr.hit && !rr.stale {
		return
	}
	r := &rr.r
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
	if !marksRead && c.marks.mode == marksRemote && (rr.hit || rr.stale) {
		c.dropRemoteRead(rr, data)
		return
	}
	c.checkMarks(ctx, rr, data)
}

// dropRemoteRead makes rr a miss with nothing to serve; a compare-and-set fill will
// replace what L2 holds.
func (c *cache[K, V]) dropRemoteRead(rr *remoteRead[V], data []byte) {
	rr.hit, rr.r, rr.stale = false, loaded[V]{}, false
	if c.cas != nil {
		rr.seen = l2Seen{known: true, sum: sha1Hex(data)}
	}
}

// readRemote reads key from L2, sharing the read with the readers of key that miss L1
// at the same time, unless a write of the key is in flight (writing). A reader that
// joined a read whose leader gave up reads again.
func (c *cache[K, V]) readRemote(ctx context.Context, key K) (rr remoteRead[V], err error) {
	var shared bool
	if c.writing(key) {
		rr, err = c.readKey(ctx, key)
	} else {
		rr, err, shared = c.remoteReads.Do(ctx, key)
	}
	if shared && err != nil && ctx.Err() == nil && errors.Is(err, context.Canceled) {
		rr, err = c.readKey(ctx, key)
	}
	if err == nil {
		c.countRemote(&rr)
	}
	return rr, err
}

// received decodes one L2 value (nil when absent) into rr, which must be zero, and
// counts the values that could not be decoded, once per value read.
func (c *cache[K, V]) received(data []byte, rr *remoteRead[V]) {
	decodeRemote(data, c.cfg.MaxValueSize, c.cfg.Codec, c.clock.NowNano(), c.cas != nil, rr)
	if rr.corrupt {
		c.metrics.decodeErrors.Add(1)
		c.log.problem("decode", errCorruptValue)
	}
}

// decodeRemote turns one L2 value (nil when absent) into what it says at now, in rr,
// which must be zero. It has no other effects. withSum records the SHA-1 of a value a
// load will replace, for its compare-and-set fill.
func decodeRemote[V any](data []byte, maxSize int, cd codec.Codec[V], now int64, withSum bool, rr *remoteRead[V]) {
	if data == nil {
		rr.seen.known = true
		return
	}
	if withSum {
		rr.seen = l2Seen{known: true, sum: sha1Hex(data)}
	}
	h, payload, err := envelope.Decode(data, maxSize)
	if err != nil {
		rr.corrupt = true
		return
	}
	if h.Tombstone {
		return
	}
	rr.life = deadline{expireAt: h.ExpireAt * int64(time.Millisecond), staleUntil: h.StaleUntil * int64(time.Millisecond)}
	fresh := rr.life.expireAt > now
	if !fresh && rr.life.staleUntil <= now {
		return
	}
	rr.r.tags, rr.r.stamp = h.Tags, h.Stamp
	if rr.r.found = !h.Null; rr.r.found {
		// The codec is an interface: what it decodes into escapes, and only the
		// value should, not rr.
		v := new(V)
		if err := cd.Unmarshal(payload, v); err != nil {
			rr.r.found, rr.corrupt = false, true
			return
		}
		rr.r.value = *v
	}
	if !fresh {
		rr.stale = true
		return
	}
	rr.hit, rr.seen = true, l2Seen{}
}

// countRemote counts what one reader got from L2.
func (c *cache[K, V]) countRemote(rr *remoteRead[V]) {
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
