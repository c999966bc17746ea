package accelerator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/clock"
	"github.com/accelerator-go/accelerator/internal/envelope"
	"github.com/accelerator-go/accelerator/internal/keyenc"
	"github.com/accelerator-go/accelerator/internal/singleflight"
	"github.com/accelerator-go/accelerator/local"
)

// cache is the engine behind [Cache].
type cache[K comparable, V any] struct {
	cfg   config[K, V]
	local backend.Local[K, V] // nil without L1
	// store is local when it is the default otter store, called directly on the hit
	// path instead of through the interface.
	store  *local.Store[K, V]
	remote *guardedRemote // nil without L2
	// areaKey is KeyPrefix + escaped Area + ":", the start of every remote key.
	areaKey []byte

	clock        clock.Clock
	releaseClock func()
	closeLocal   func()

	// epoch makes every L1 entry written under an older epoch invisible; bumping it
	// drops L1 at once.
	epoch atomic.Uint64
	// errTimeout is the error of a load that outlived the loader timeout.
	errTimeout error
	closed     atomic.Bool
	// src holds Options.Loader and Options.MLoader.
	src   sources[K, V]
	loads singleflight.Group[K, loaded[V]]
	// remoteReads shares one L2 read of a key between the readers that miss L1 at
	// the same time (a stampede on a cold key costs one GET, not one per reader).
	remoteReads singleflight.Inline[K, remoteRead[V]]
	loading     sync.WaitGroup // every load goroutine the cache started
	metrics     *metrics
	log         *burstLogger
	bufs        sync.Pool

	// refreshWindow is Options.RefreshAhead in nanoseconds, 0 when off.
	refreshWindow int64
	// loadCost is a moving average of load durations (nanoseconds), starting at
	// initialLoadCost: the delta of the probabilistic refresh rule.
	loadCost atomic.Int64
	// refreshFailed holds, for keys whose background refresh failed, when the next
	// refresh may start, so that a failing source is not asked on every read.
	refreshMu     sync.Mutex
	refreshFailed map[K]int64

	// gens are the per-key invalidation generations that make fills lose to
	// invalidations in L1.
	gens *generations
	// cas writes fills to L2 only if the key still holds what the load saw; nil when
	// the backend cannot or DisableFillGuard is set.
	cas *guardedCAS
	// inv broadcasts and receives invalidations; nil without BroadcastInvalidation.
	inv *invalidator[K, V]
	// keyDecode turns remote key bytes back into keys; nil when the encoder cannot.
	keyDecode func([]byte) (K, error)
}

// l2Seen is what a read found in L2 before a load: nothing (sum ""), or a value that
// was not fresh (its SHA-1). A fill writes to L2 only if the key still holds that.
type l2Seen struct {
	known bool
	sum   string
}

// initialLoadCost is the delta of the probabilistic refresh rule until the cache has
// timed a load of its own.
const initialLoadCost = time.Millisecond

// loaded is the result of loading or reading one key.
type loaded[V any] struct {
	value V
	found bool
	// cached reports a result found in L1 by the load itself, not loaded: nothing
	// to write back.
	cached bool
}

// staleCopy is an entry past its expiry but inside its stale window, kept by a read
// in case its load fails.
type staleCopy[V any] struct {
	r  loaded[V]
	ok bool
}

// sources are the loaders of one read: the cache's own, or those passed to
// GetOrLoad and MGetOrLoad. They are passed by value so that the L1 hit path does not
// allocate for them.
type sources[K comparable, V any] struct {
	one  Loader[K, V]
	many MLoader[K, V]
}

func (s sources[K, V]) any() bool { return s.one != nil || s.many != nil }

func newCache[K comparable, V any](opts Options[K, V]) (*cache[K, V], error) {
	cfg, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	c := &cache[K, V]{
		cfg:           cfg,
		metrics:       newMetrics(),
		closeLocal:    func() {},
		src:           sources[K, V]{one: cfg.Loader, many: cfg.MLoader},
		errTimeout:    fmt.Errorf("%w (after %v)", ErrLoaderTimeout, cfg.LoaderTimeout),
		refreshWindow: int64(cfg.RefreshAhead),
		refreshFailed: make(map[K]int64),
		gens:          newGenerations(),
		keyDecode:     keyDecoderOf(cfg),
	}
	c.loadCost.Store(int64(initialLoadCost))
	c.log = newBurstLogger(cfg.Logger, cfg.Area)
	c.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	clk, release := clock.Acquire()
	c.clock, c.releaseClock = clk, release
	if cfg.Mode.hasLocal() {
		c.local = cfg.Local
		if c.local == nil {
			st, err := local.New(local.Options[K, V]{MaximumSize: cfg.LocalMaxEntries})
			if err != nil {
				release()
				return nil, fmt.Errorf("accelerator: local backend: %w", err)
			}
			c.local, c.store, c.closeLocal = st, st, st.Close
		}
	}
	if cfg.Mode.hasRemote() {
		c.remote = newGuardedRemote(cfg.Remote, &cfg, c.clock, c.metrics, c.log)
		c.areaKey = keyenc.AppendArea(nil, cfg.KeyPrefix, cfg.Area)
		if cs, ok := cfg.Remote.(backend.CompareAndSetter); ok && !cfg.DisableFillGuard {
			c.cas = &guardedCAS{g: c.remote, cas: cs}
		}
	}
	if cfg.BroadcastInvalidation {
		c.inv = newInvalidator(c, cfg.pubsub())
	}
	return c, nil
}

// keyDecoderOf returns how to turn remote key bytes back into keys, or nil.
func keyDecoderOf[K comparable, V any](cfg config[K, V]) func([]byte) (K, error) {
	if d, ok := cfg.KeyEncoder.(KeyDecoder[K]); ok {
		return d.DecodeKey
	}
	if cfg.defaultKeys {
		return defaultKeyDecoder[K]()
	}
	return nil
}

func (c *cache[K, V]) close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	if c.inv != nil {
		c.inv.close()
	}
	// Loads in flight finish within the loader timeout; wait for them (and their
	// write-back) a little longer than that, so that no goroutine of the cache
	// outlives Close unless a loader ignores its context.
	done := make(chan struct{})
	go func() { c.loading.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(c.cfg.LoaderTimeout + time.Second):
	}
	c.closeLocal()
	c.releaseClock()
	return nil
}

// get is the single-key read. The L1 hit path is kept small and free of allocations;
// everything else is in getSlow.
func (c *cache[K, V]) get(ctx context.Context, key K, flags readFlags, src sources[K, V]) (V, bool, error) {
	if c.closed.Load() {
		var zero V
		return zero, false, ErrClosed
	}
	var stale staleCopy[V]
	if c.local != nil {
		e, ok := c.localGet(key)
		if ok && e.Epoch == c.epoch.Load() {
			now := c.clock.NowNano()
			if e.ExpireAt > now {
				c.metrics.localHits.Inc()
				if e.Null {
					c.metrics.nullHits.Add(1)
				}
				if e.ExpireAt-now < c.refreshWindow && flags&flagDisableLoad == 0 {
					c.maybeRefresh(ctx, key, src, e.ExpireAt, now)
				}
				return e.Value, !e.Null, nil
			}
			if e.StaleUntil > now {
				stale = staleCopy[V]{r: loaded[V]{value: e.Value, found: !e.Null}, ok: true}
			}
		}
		c.metrics.localMisses.Inc()
	}
	return c.getSlow(ctx, key, flags, src, stale)
}

// localGet reads L1, directly from the default store when it is the one in use.
func (c *cache[K, V]) localGet(key K) (backend.Entry[V], bool) {
	if c.store != nil {
		return c.store.Get(key)
	}
	return c.local.Get(key)
}

func (c *cache[K, V]) getSlow(ctx context.Context, key K, flags readFlags, src sources[K, V], stale staleCopy[V]) (value V, found bool, err error) {
	ctx, sp := c.startSpan(ctx, OpGet, 1)
	if sp == nil {
		value, found, _, err = c.readThrough(ctx, key, flags, src, stale)
		return value, found, err
	}
	layer := LayerNone
	defer func() { endSpan(sp, readEnd(layer, found, err)) }()
	value, found, layer, err = c.readThrough(ctx, key, flags, src, stale)
	return value, found, err
}

// readThrough reads key past L1: L2, then the loader. It also says which layer
// answered.
func (c *cache[K, V]) readThrough(ctx context.Context, key K, flags readFlags, src sources[K, V], stale staleCopy[V]) (V, bool, Layer, error) {
	canLoad := flags&flagDisableLoad == 0 && src.any()
	allowStale := flags&flagAllowStale != 0
	var remoteErr error
	var rrSeen l2Seen
	if c.remote != nil {
		rr, err, shared := c.remoteReads.Do(ctx, key, func() (remoteRead[V], error) {
			return c.getRemote(ctx, key)
		})
		if shared && err != nil && ctx.Err() == nil && errors.Is(err, context.Canceled) {
			// The reader that ran the shared read gave up; this one has not.
			rr, err = c.getRemote(ctx, key)
		} else if shared && err == nil {
			c.countRemote(rr)
		}
		rrSeen = rr.seen
		switch {
		case rr.hit:
			if rr.expireAt-c.clock.NowNano() < c.refreshWindow && flags&flagDisableLoad == 0 {
				c.maybeRefresh(ctx, key, src, rr.expireAt, c.clock.NowNano())
			}
			return rr.r.value, rr.r.found, LayerRemote, nil
		case err != nil:
			remoteErr = err
		case rr.corrupt && !canLoad:
			c.dropCorrupt(ctx, key)
		}
		if rr.stale.ok && !stale.ok {
			stale = rr.stale
		}
		if remoteErr != nil && ctx.Err() != nil {
			return *new(V), false, LayerNone, remoteErr
		}
	}
	if !canLoad {
		if allowStale && stale.ok {
			return c.serveStale(stale)
		}
		return *new(V), false, LayerNone, remoteErr
	}
	var seen l2Seen
	if c.remote != nil {
		seen = rrSeen
	}
	r, err, shared := c.loadOne(ctx, key, src, seen)
	if pe, ok := err.(*PanicError); ok && !shared {
		panic(pe)
	}
	if err != nil && allowStale && stale.ok && ctx.Err() == nil {
		return c.serveStale(stale)
	}
	return r.value, r.found, LayerSource, err
}

func (c *cache[K, V]) serveStale(s staleCopy[V]) (V, bool, Layer, error) {
	c.metrics.staleServed.Add(1)
	return s.r.value, s.r.found, LayerStale, nil
}

// remoteRead is what one L2 read found.
type remoteRead[V any] struct {
	r        loaded[V]
	hit      bool // a fresh entry, possibly negative
	expireAt int64
	stale    staleCopy[V]
	corrupt  bool // bytes that could not be decoded
	seen     l2Seen
}

// getRemote reads key from L2 and fills L1 on a hit.
func (c *cache[K, V]) getRemote(ctx context.Context, key K) (remoteRead[V], error) {
	epoch, gen := c.epoch.Load(), c.generation(key)
	var kb [128]byte
	rkey := string(c.appendRemoteKey(kb[:0], key))
	data, err := c.remote.Get(ctx, rkey)
	if err != nil {
		return remoteRead[V]{}, err
	}
	return c.decodeRemote(key, data, epoch, gen), nil
}

// decodeRemote turns one L2 value (nil when absent) into a read, counts it, and fills
// L1 on a hit.
func (c *cache[K, V]) decodeRemote(key K, data []byte, epoch, gen uint64) (rr remoteRead[V]) {
	if data == nil {
		c.metrics.remoteMisses.Add(1)
		rr.seen.known = true
		return rr
	}
	h, payload, err := envelope.Decode(data, c.cfg.MaxValueSize)
	if err != nil || h.Tombstone {
		if err != nil {
			rr = c.corruptRead()
		} else {
			c.metrics.remoteMisses.Add(1)
		}
		rr.seen = c.seenOf(data)
		return rr
	}
	now := c.clock.NowNano()
	rr.expireAt = h.ExpireAt * int64(time.Millisecond)
	staleUntil := h.StaleUntil * int64(time.Millisecond)
	fresh := rr.expireAt > now
	if !fresh && staleUntil <= now {
		c.metrics.remoteMisses.Add(1)
		return remoteRead[V]{seen: c.seenOf(data)}
	}
	rr.r.found = !h.Null
	if !h.Null {
		if err := c.cfg.Codec.Unmarshal(payload, &rr.r.value); err != nil {
			rr = c.corruptRead()
			rr.seen = c.seenOf(data)
			return rr
		}
	}
	if !fresh {
		c.metrics.remoteMisses.Add(1)
		rr.stale = staleCopy[V]{r: rr.r, ok: true}
		rr.r = loaded[V]{}
		rr.seen = c.seenOf(data)
		return rr
	}
	c.metrics.remoteHits.Add(1)
	if h.Null {
		c.metrics.nullHits.Add(1)
	}
	rr.hit = true
	if c.local != nil {
		c.installLocal(key, c.localEntry(rr.r, deadline{rr.expireAt, staleUntil}, epoch), gen)
	}
	return rr
}

// seenOf records the L2 value a load starts from, for its compare-and-set fill.
func (c *cache[K, V]) seenOf(data []byte) l2Seen {
	if c.cas == nil {
		return l2Seen{}
	}
	return l2Seen{known: true, sum: sha1Hex(data)}
}

// countRemote counts an L2 read that a reader shared with another.
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

func (c *cache[K, V]) corruptRead() remoteRead[V] {
	c.metrics.decodeErrors.Add(1)
	c.metrics.remoteMisses.Add(1)
	c.log.problem("decode", errCorruptValue)
	return remoteRead[V]{corrupt: true}
}

// dropCorrupt deletes a remote value that could not be decoded, so that the next
// reader does not trip on it again. It is best effort.
func (c *cache[K, V]) dropCorrupt(ctx context.Context, key K) {
	c.remote.Del(ctx, c.remoteKey(key))
}

func (c *cache[K, V]) appendRemoteKey(dst []byte, key K) []byte {
	dst = append(dst, c.areaKey...)
	return c.cfg.KeyEncoder.AppendKey(dst, key)
}

func (c *cache[K, V]) remoteKey(key K) string {
	var kb [128]byte
	return string(c.appendRemoteKey(kb[:0], key))
}
