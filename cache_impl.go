package accelerator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
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
	cfg    config[K, V]
	local  backend.Local[K, V] // nil without L1
	remote backend.Remote      // nil without L2
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
	src     sources[K, V]
	loads   singleflight.Group[K, loaded[V]]
	metrics *metrics
	bufs    sync.Pool
}

// loaded is the result of loading one key.
type loaded[V any] struct {
	value V
	found bool
}

func newCache[K comparable, V any](opts Options[K, V]) (*cache[K, V], error) {
	cfg, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	c := &cache[K, V]{cfg: cfg, metrics: newMetrics(), closeLocal: func() {}}
	c.src = sources[K, V]{one: cfg.Loader, many: cfg.MLoader}
	c.errTimeout = fmt.Errorf("%w (after %v)", ErrLoaderTimeout, cfg.LoaderTimeout)
	c.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	if cfg.Mode.hasLocal() {
		c.local = cfg.Local
		if c.local == nil {
			st, err := local.New(local.Options[K, V]{MaximumSize: cfg.LocalMaxEntries})
			if err != nil {
				return nil, fmt.Errorf("accelerator: local backend: %w", err)
			}
			c.local, c.closeLocal = st, st.Close
		}
	}
	if cfg.Mode.hasRemote() {
		c.remote = cfg.Remote
		c.areaKey = keyenc.AppendArea(nil, cfg.KeyPrefix, cfg.Area)
	}
	clk, release := clock.Acquire()
	c.clock, c.releaseClock = clk, release
	return c, nil
}

func (c *cache[K, V]) close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
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
	if c.local != nil {
		if e, ok := c.local.Get(key); ok && e.ExpireAt > c.clock.NowNano() && e.Epoch == c.epoch.Load() {
			c.metrics.localHits.Inc()
			if e.Null {
				c.metrics.nullHits.Add(1)
			}
			return e.Value, !e.Null, nil
		}
		c.metrics.localMisses.Inc()
	}
	return c.getSlow(ctx, key, flags, src)
}

func (c *cache[K, V]) getSlow(ctx context.Context, key K, flags readFlags, src sources[K, V]) (V, bool, error) {
	var zero V
	var remoteErr error
	canLoad := flags&flagDisableLoad == 0 && src.any()
	if c.remote != nil {
		r, hit, corrupt, err := c.getRemote(ctx, key)
		switch {
		case hit:
			return r.value, r.found, nil
		case err != nil && ctx.Err() != nil:
			return zero, false, err
		case err != nil && !canLoad:
			return zero, false, err
		case err != nil:
			remoteErr = err // the loader answers instead; the error is counted
		case corrupt && !canLoad:
			c.dropCorrupt(ctx, key)
		}
	}
	_ = remoteErr
	if !canLoad {
		return zero, false, nil
	}
	r, err, shared := c.loadOne(ctx, key, src)
	if pe, ok := err.(*PanicError); ok && !shared {
		panic(pe)
	}
	return r.value, r.found, err
}

// sources are the loaders of one read: the cache's own, or those passed to
// GetOrLoad and MGetOrLoad. They are passed by value so that the L1 hit path does not
// allocate for them.
type sources[K comparable, V any] struct {
	one  Loader[K, V]
	many MLoader[K, V]
}

func (s sources[K, V]) any() bool { return s.one != nil || s.many != nil }

// getRemote reads key from L2 and fills L1 on a hit. hit reports a fresh entry, which
// may be negative; corrupt reports a value that could not be decoded.
func (c *cache[K, V]) getRemote(ctx context.Context, key K) (r loaded[V], hit, corrupt bool, err error) {
	epoch := c.epoch.Load()
	var kb [128]byte
	rkey := string(c.appendRemoteKey(kb[:0], key))
	data, err := c.remote.Get(ctx, rkey)
	if err != nil {
		c.metrics.remoteErrors.Add(1)
		return r, false, false, fmt.Errorf("accelerator: remote get: %w", err)
	}
	r, hit, corrupt = c.decodeRemote(key, data, epoch)
	return r, hit, corrupt, nil
}

// decodeRemote turns one L2 value (nil when absent) into a result, counts it, and
// fills L1 on a hit.
func (c *cache[K, V]) decodeRemote(key K, data []byte, epoch uint64) (r loaded[V], hit, corrupt bool) {
	if data == nil {
		c.metrics.remoteMisses.Add(1)
		return r, false, false
	}
	h, payload, err := envelope.Decode(data, c.cfg.MaxValueSize)
	if err == nil && !h.Null {
		err = c.cfg.Codec.Unmarshal(payload, &r.value)
	}
	if err != nil {
		c.metrics.decodeErrors.Add(1)
		c.metrics.remoteMisses.Add(1)
		var zero V
		r.value = zero
		return r, false, true
	}
	now := c.clock.NowNano()
	expireAt := h.ExpireAt * int64(time.Millisecond)
	if expireAt <= now {
		c.metrics.remoteMisses.Add(1)
		return loaded[V]{}, false, false
	}
	c.metrics.remoteHits.Add(1)
	if h.Null {
		c.metrics.nullHits.Add(1)
		r.value = *new(V)
	}
	r.found = !h.Null
	if c.local != nil {
		ttl := c.cfg.LocalTTL
		if h.Null {
			ttl = c.cfg.NullTTL
		}
		c.local.Set(key, backend.Entry[V]{
			Value:    r.value,
			Null:     h.Null,
			ExpireAt: min(now+int64(c.jitter(ttl)), expireAt),
			Epoch:    epoch,
		})
	}
	return r, true, false
}

// dropCorrupt deletes a remote value that could not be decoded, so that the next
// reader does not trip on it again. It is best effort.
func (c *cache[K, V]) dropCorrupt(ctx context.Context, key K) {
	var kb [128]byte
	if err := c.remote.Del(ctx, string(c.appendRemoteKey(kb[:0], key))); err != nil {
		c.metrics.remoteErrors.Add(1)
	}
}

func (c *cache[K, V]) appendRemoteKey(dst []byte, key K) []byte {
	dst = append(dst, c.areaKey...)
	return c.cfg.KeyEncoder.AppendKey(dst, key)
}

func (c *cache[K, V]) remoteKey(key K) string {
	var kb [128]byte
	return string(c.appendRemoteKey(kb[:0], key))
}

// loadOne loads key through the singleflight group (or alone, without penetration
// protection) and writes the result back. shared reports that the caller joined a load
// started by another.
func (c *cache[K, V]) loadOne(ctx context.Context, key K, src sources[K, V]) (r loaded[V], err error, shared bool) {
	epoch := c.epoch.Load()
	spec := loadSpec(c,
		func(lctx context.Context) (loaded[V], error) {
			return c.callLoader(lctx, key, src)
		},
		func(lctx context.Context, r loaded[V], err error) (loaded[V], error) {
			if err == nil {
				c.writeBack(lctx, key, r, epoch)
			}
			return r, err
		})
	if c.cfg.DisablePenetrationProtection {
		r, err = singleflight.Run(ctx, spec)
		return r, err, false
	}
	r, err, shared = c.loads.Do(ctx, key, spec)
	if shared {
		c.metrics.sharedLoads.Add(1)
	}
	return r, err, shared
}

// loadSpec is the singleflight spec of a load: bounded by the loader timeout, with
// timeouts counted once per load, whichever of the timer and the loader notices first.
func loadSpec[K comparable, V any, R any](c *cache[K, V], load func(context.Context) (R, error), commit func(context.Context, R, error) (R, error)) singleflight.Spec[R] {
	return singleflight.Spec[R]{
		Timeout:    c.cfg.LoaderTimeout,
		TimeoutErr: c.errTimeout,
		OnTimeout:  func() { c.metrics.loadTimeouts.Add(1) },
		Load:       load,
		Commit: func(ctx context.Context, r R, err error) (_ R, cerr error) {
			if errors.Is(err, ErrLoaderTimeout) {
				c.metrics.loadTimeouts.Add(1)
			}
			// A panic while writing back (a codec or a backend that panics) must not
			// end the process from the load goroutine.
			defer c.recoverLoad(&cerr)
			return commit(ctx, r, err)
		},
	}
}

// callLoader runs the single-key loader (or the batch loader with one key), turning a
// panic into a *PanicError and a timeout into an error wrapping ErrLoaderTimeout.
func (c *cache[K, V]) callLoader(ctx context.Context, key K, src sources[K, V]) (r loaded[V], err error) {
	c.metrics.loadedKeys.Add(1)
	defer c.recoverLoad(&err)
	if src.one == nil {
		m, err := c.callMLoader(ctx, []K{key}, src.many)
		if err != nil {
			return r, err
		}
		r.value, r.found = m[key]
		c.countFound(r.found)
		return r, nil
	}
	c.metrics.loads.Add(1)
	r.value, r.found, err = src.one.Load(ctx, key)
	if err != nil {
		return loaded[V]{}, c.loadFailed(ctx, err)
	}
	c.countFound(r.found)
	if !r.found {
		r.value = *new(V)
	}
	return r, nil
}

// callMLoader runs the batch loader; it counts the call but not the keys.
func (c *cache[K, V]) callMLoader(ctx context.Context, keys []K, ml MLoader[K, V]) (m map[K]V, err error) {
	defer c.recoverLoad(&err)
	c.metrics.mloads.Add(1)
	m, err = ml.MLoad(ctx, keys)
	if err != nil {
		return nil, c.loadFailed(ctx, err)
	}
	return m, nil
}

func (c *cache[K, V]) countFound(found bool) {
	if found {
		c.metrics.loadFound.Add(1)
		return
	}
	c.metrics.loadNotFound.Add(1)
}

func (c *cache[K, V]) loadFailed(ctx context.Context, err error) error {
	c.metrics.loadErrors.Add(1)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrLoaderTimeout) {
		return fmt.Errorf("%w: %w", ErrLoaderTimeout, err)
	}
	return err
}

func (c *cache[K, V]) recoverLoad(errp *error) {
	v := recover()
	if v == nil {
		return
	}
	c.metrics.loadErrors.Add(1)
	c.metrics.loadPanics.Add(1)
	*errp = &PanicError{Value: v, Stack: debug.Stack()}
}

// jitter spreads ttl uniformly over [ttl·(1−TTLJitter), ttl].
func (c *cache[K, V]) jitter(ttl time.Duration) time.Duration {
	if c.cfg.TTLJitter == 0 {
		return ttl
	}
	return ttl - time.Duration(rand.Float64()*c.cfg.TTLJitter*float64(ttl))
}

// writeBack stores the result of a load in the layers of the mode, L2 first. A failed
// L2 write is counted and does not fail the read: the loaded value is still good.
func (c *cache[K, V]) writeBack(ctx context.Context, key K, r loaded[V], epoch uint64) {
	if !r.found && !c.cfg.CacheNullValue {
		return
	}
	remoteExpire := int64(0)
	if c.remote != nil {
		ttl := c.remoteTTL(!r.found)
		remoteExpire = c.clock.NowNano() + int64(ttl)
		if err := c.putRemote(ctx, key, r, ttl); err != nil {
			c.metrics.remoteErrors.Add(1)
		}
	}
	if c.local != nil {
		c.local.Set(key, c.localEntry(r, remoteExpire, epoch))
	}
}

func (c *cache[K, V]) remoteTTL(null bool) time.Duration {
	if null {
		return c.jitter(c.cfg.NullTTL)
	}
	return c.jitter(c.cfg.RemoteTTL)
}

// localEntry builds the L1 entry of a write; it never outlives the L2 entry written
// with it (remoteExpire, zero when there is none).
func (c *cache[K, V]) localEntry(r loaded[V], remoteExpire int64, epoch uint64) backend.Entry[V] {
	ttl := c.cfg.LocalTTL
	if !r.found {
		ttl = c.cfg.NullTTL
	}
	expireAt := c.clock.NowNano() + int64(c.jitter(ttl))
	if remoteExpire != 0 {
		expireAt = min(expireAt, remoteExpire)
	}
	e := backend.Entry[V]{ExpireAt: expireAt, Epoch: epoch, Null: !r.found}
	if r.found {
		e.Value = r.value
	}
	return e
}

// appendValue appends the L2 encoding of r (envelope and payload) to dst.
func (c *cache[K, V]) appendValue(dst []byte, r loaded[V], ttl time.Duration) ([]byte, error) {
	expire := (c.clock.NowNano() + int64(ttl) + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	dst = envelope.AppendHeader(dst, envelope.Header{Null: !r.found, ExpireAt: expire})
	if !r.found {
		return dst, nil
	}
	dst, err := c.cfg.Codec.Append(dst, r.value)
	if err != nil {
		return nil, fmt.Errorf("accelerator: encode value: %w", err)
	}
	return dst, nil
}

func (c *cache[K, V]) putRemote(ctx context.Context, key K, r loaded[V], ttl time.Duration) error {
	bp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bp)
	b, err := c.appendValue((*bp)[:0], r, ttl)
	if err != nil {
		return err
	}
	*bp = b[:0]
	if err := c.remote.Set(ctx, c.remoteKey(key), b, ttl); err != nil {
		return fmt.Errorf("accelerator: remote set: %w", err)
	}
	return nil
}

func (c *cache[K, V]) set(ctx context.Context, key K, value V) error {
	if c.closed.Load() {
		return ErrClosed
	}
	r := loaded[V]{value: value, found: true}
	epoch := c.epoch.Load()
	remoteExpire := int64(0)
	if c.remote != nil {
		ttl := c.remoteTTL(false)
		remoteExpire = c.clock.NowNano() + int64(ttl)
		if err := c.putRemote(ctx, key, r, ttl); err != nil {
			c.metrics.remoteErrors.Add(1)
			if c.local != nil {
				c.local.Delete(key)
			}
			return err
		}
	}
	if c.local != nil {
		c.local.Set(key, c.localEntry(r, remoteExpire, epoch))
	}
	return nil
}

func (c *cache[K, V]) del(ctx context.Context, keys []K) error {
	if c.closed.Load() {
		return ErrClosed
	}
	var err error
	if c.remote != nil && len(keys) > 0 {
		rkeys := make([]string, len(keys))
		for i, k := range keys {
			rkeys[i] = c.remoteKey(k)
		}
		if err = c.remote.Del(ctx, rkeys...); err != nil {
			c.metrics.remoteErrors.Add(1)
			err = fmt.Errorf("accelerator: remote del: %w", err)
		}
	}
	if c.local != nil {
		for _, k := range keys {
			c.local.Delete(k)
		}
	}
	return err
}
