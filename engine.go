package accelerator

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/clock"
	"github.com/accelerator-go/accelerator/internal/keyenc"
	"github.com/accelerator-go/accelerator/internal/singleflight"
	"github.com/accelerator-go/accelerator/local"
)

// The engine behind [Cache], laid out by stage:
//
//	read.go          Get and MGet: L1, then the remote layer, then the loader
//	remote_read.go   one L2 read shared by concurrent readers, and its pure decoding
//	load.go          loads from the source, deduplicated per key
//	fill.go          writing what a read or a load found into the layers (one path)
//	write.go         Set, MSet, Del, MDel (one path)
//	refresh.go       refresh-ahead and its probabilistic rule
//	protocol.go      the per-key protocol that orders all of the above
//	remote_guard.go  timeouts, breaker and accounting of every remote call
//	remote_cas.go    compare-and-set fills
//	remote_keys.go   the layout of remote keys
//	entry_ttl.go     entries with a TTL of their own (EntryLoader, WithTTL)
//	lease.go         the load lease: one load per cluster for a cold key
//	invalidation.go  the cross-instance invalidation bus
//	marks.go         the invalidation marks of tags and Clear; tags.go their API
//
// docs/design.md describes the protocol and draws a key's states.

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

	clock        Clock
	releaseClock func()
	closeLocal   func()

	// epoch makes every L1 entry written under an older epoch invisible; bumping it
	// drops L1 at once.
	epoch atomic.Uint64
	// stripes order the reads, fills and writes of each key (protocol.go).
	stripes *stripes
	// weak turns parts of the protocol off, in tests only.
	weak weakening
	// tombstones numbers the delete tombstones this cache writes, from a random
	// start, so that no two are alike.
	tombstones atomic.Uint64

	closed atomic.Bool
	// src holds Options.Loader and Options.MLoader.
	src sources[K, V]
	// loads deduplicates the loads of a key; loadCfg is the configuration of the loads
	// that are not shared (MGet batches, DisablePenetrationProtection).
	loads   singleflight.Group[K, loaded[V]]
	loadCfg *singleflight.Config
	// remoteReads shares one L2 read of a key between the readers that miss L1 at
	// the same time (a stampede on a cold key costs one GET, not one per reader).
	remoteReads singleflight.Shared[K, remoteRead[V]]
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

	// cas writes fills to L2 only if the key still holds what the load saw; nil when
	// the backend cannot or DisableFillGuard is set.
	cas *guardedCAS
	// lease takes and releases load leases (lease.go); nil without LoadLease.
	lease *guardedLeaser
	// inv broadcasts and receives invalidations; nil without BroadcastInvalidation.
	inv *invalidator[K, V]
	// keyDecode turns remote key bytes back into keys; nil when the encoder cannot.
	keyDecode func([]byte) (K, error)
	// marks is what the instance knows of the area's invalidation clock and marks
	// (tags and Clear, marks.go).
	marks *markBook
}

// loaded is the result of loading or reading one key.
type loaded[V any] struct {
	value V
	found bool
	// cached reports a result found in L1 by the load itself, not loaded: nothing
	// to write back.
	cached bool
	// ttl, when positive, is the entry's own freshness (from an EntryLoader or
	// WithTTL), in place of the configured TTLs.
	ttl time.Duration
	// tags are the entry's tags (from an EntryLoader or WithTags), normalized.
	tags []string
	// stamp is the area's invalidation clock when the write or the load began, or
	// what L2 recorded (marks.go).
	stamp uint64
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
		releaseClock:  func() {},
		src:           sources[K, V]{one: cfg.Loader, many: cfg.MLoader},
		refreshWindow: int64(cfg.RefreshAhead),
		refreshFailed: make(map[K]int64),
		stripes:       newStripes(),
		keyDecode:     keyDecoderOf(cfg),
	}
	c.loads.Config = singleflight.Config{
		Timeout:    cfg.LoaderTimeout + leaseBudget(&cfg),
		TimeoutErr: fmt.Errorf("%w (after %v)", ErrLoaderTimeout, cfg.LoaderTimeout),
		Tracker:    &c.loading,
		Inline:     true,
		Recover:    c.panicError,
	}
	c.loadCfg = &c.loads.Config
	c.remoteReads.Read, c.remoteReads.Recover = c.readKey, c.panicError
	c.loadCost.Store(int64(initialLoadCost))
	c.tombstones.Store(rand.Uint64() >> 1)
	c.log = newBurstLogger(cfg.Logger, cfg.Area)
	c.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	c.setClock()
	if err := c.setLocal(); err != nil {
		c.releaseClock()
		return nil, err
	}
	if cfg.Mode.hasRemote() {
		c.remote = newGuardedRemote(cfg.Remote, &cfg, c.clock, c.metrics, c.log)
		c.areaKey = keyenc.AppendArea(nil, cfg.KeyPrefix, cfg.Area)
		if cs, ok := cfg.Remote.(backend.CompareAndSetter); ok && !cfg.DisableFillGuard {
			c.cas = &guardedCAS{g: c.remote, cas: cs}
		}
		c.lease = newLeaser(&cfg, c.remote)
	}
	c.marks = newMarkBook(c)
	if cfg.BroadcastInvalidation {
		c.inv = newInvalidator(c, cfg.pubsub())
	}
	return c, nil
}

// setClock picks the cache's clock: Options.Clock, else the shared coarse clock while
// the cache has an L1 (an L1 hit must read the time at almost no cost), else the
// precise time, which needs no background goroutine.
func (c *cache[K, V]) setClock() {
	switch {
	case c.cfg.Clock != nil:
		c.clock = c.cfg.Clock
	case c.cfg.Mode.hasLocal():
		c.clock, c.releaseClock = clock.Acquire()
	default:
		c.clock = clock.Precise
	}
}

// setLocal sets up L1: Options.Local, or the default otter store on the cache's clock.
func (c *cache[K, V]) setLocal() error {
	if !c.cfg.Mode.hasLocal() {
		return nil
	}
	if c.cfg.Local != nil {
		c.local = c.cfg.Local
		return nil
	}
	st, err := local.New(local.Options[K, V]{MaximumSize: c.cfg.LocalMaxEntries, Clock: c.clock})
	if err != nil {
		return fmt.Errorf("accelerator: local backend: %w", err)
	}
	c.local, c.store, c.closeLocal = st, st, st.Close
	return nil
}

// initialLoadCost is the delta of the probabilistic refresh rule until the cache has
// timed a load of its own.
const initialLoadCost = time.Millisecond

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

// panicError turns what a codec or a backend panicked with, inside a load's write-back
// or a shared L2 read, into the error of every caller that shared the call. (A
// loader's own panic is caught, and counted, where the loader is called.)
func (c *cache[K, V]) panicError(v any) error {
	if pe, ok := v.(*PanicError); ok {
		return pe
	}
	return &PanicError{Value: v, Stack: debug.Stack()}
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
	t := time.NewTimer(c.loads.Config.Timeout + time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	c.closeLocal()
	c.releaseClock()
	return nil
}
