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
		return rr, nil
	}
	g := c.guardOf(key)
	data, err := c.remote.Get(ctx, c.remoteKey(key))
	if err != nil {
		return rr, err
	}
	c.received(data, &rr)
	if rr.hit {
		c.installFill(key, c.localEntry(rr.r, rr.life, g.epoch), g)
	}
	return rr, nil
}

// readRemote reads key from L2, sharing the read with the readers of key that miss L1
// at the same time. A reader that joined a read whose leader gave up reads again.
func (c *cache[K, V]) readRemote(ctx context.Context, key K) (remoteRead[V], error) {
	rr, err, shared := c.remoteReads.Do(ctx, key)
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
