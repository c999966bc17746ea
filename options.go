package accelerator

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/codec"
)

// Defaults applied by [New] to the zero fields of [Options].
const (
	DefaultArea            = "default"
	DefaultLocalTTL        = time.Minute
	DefaultRemoteTTL       = 10 * time.Minute
	DefaultNullTTL         = 30 * time.Second
	DefaultLoaderTimeout   = 5 * time.Second
	DefaultLoadConcurrency = 16
	DefaultWarmupBatchSize = 100
	DefaultMaxValueSize    = 8 << 20
	DefaultLocalMaxEntries = 10_000
	DefaultRemoteTimeout   = 500 * time.Millisecond
	DefaultBreakerFailures = 5
	DefaultBreakerBackoff  = time.Second
	DefaultRefreshBeta     = 1.0
	DefaultMinLoaderTTL    = time.Second

	DefaultInvalidationPingInterval = time.Second
	DefaultInvalidationGrace        = time.Second
	DefaultInvalidationMarkMaxAge   = time.Second
)

// RefreshPolicy chooses when refresh-ahead reloads an entry inside its window.
type RefreshPolicy uint8

const (
	// RefreshFixedWindow, the default, reloads an entry on the first read that finds
	// it less than [Options.RefreshAhead] from its expiry.
	RefreshFixedWindow RefreshPolicy = iota
	// RefreshProbabilistic reloads an entry inside the window with a probability
	// that grows as its expiry nears: the XFetch rule of "Optimal Probabilistic Cache
	// Stampede Prevention" (Vattani, Chierichetti and Lowenstein, VLDB 2015): a read
	// reloads when delta·beta·(−ln u) ≥ the time left, for u uniform in (0, 1], delta
	// the moving average of this cache's load durations and beta
	// [Options.RefreshBeta]. Keys written together are then reloaded spread out
	// instead of all at the start of the window.
	RefreshProbabilistic
)

// Options configures a [Cache]. The zero value of every field means its default, and
// the zero Options is a local-only cache of [DefaultLocalMaxEntries] entries with no
// loader.
type Options[K comparable, V any] struct {
	// Area is the cache's namespace: it is part of every remote key and of the
	// invalidation channel, and labels its metrics. Default [DefaultArea]. Caches that
	// share an area and a KeyPrefix on one Redis must share their key and value types.
	Area string
	// Mode selects the layers. Default: ModeBoth with a Remote, ModeLocal without.
	// ModeRemote and ModeBoth require Remote.
	Mode Mode
	// KeyPrefix is put verbatim before every remote key, such as "myapp:". Default
	// none. The remote key is KeyPrefix + Area (with '\' and ':' escaped) + ":" + the
	// encoded key.
	KeyPrefix string

	// Local is the in-process layer. Default: a [local.Store] of LocalMaxEntries
	// entries, which the cache closes on Close. A Local passed here is not closed by
	// the cache and must serve this cache alone.
	Local backend.Local[K, V]
	// LocalMaxEntries bounds the default Local. Default [DefaultLocalMaxEntries]. It
	// conflicts with Local.
	LocalMaxEntries int
	// Remote is the remote layer, usually Redis through package rueidisremote. The
	// cache does not close it.
	Remote backend.Remote

	// Codec encodes values for the remote layer. Default codec.Msgpack[V] (see
	// docs/codecs.md for why).
	Codec codec.Codec[V]
	// KeyEncoder encodes keys for the remote layer. Default: the key's bytes for key
	// types whose underlying type is string, decimal for integer kinds (named types
	// such as type UserID int64 included); other key types require one in the modes
	// with L2.
	KeyEncoder KeyEncoder[K]

	// Loader loads one key on a miss. Without Loader and MLoader a miss is a miss.
	Loader Loader[K, V]
	// MLoader loads the misses of [Cache.MGet] and [Cache.Warmup] in one call. Without
	// it they call Loader for each key, LoadConcurrency at a time.
	MLoader MLoader[K, V]
	// LoaderTimeout bounds every Load and MLoad. Default [DefaultLoaderTimeout]; it
	// must not be negative.
	LoaderTimeout time.Duration
	// LoadConcurrency bounds the parallel Loads of one MGet or Warmup without an
	// MLoader. Default [DefaultLoadConcurrency].
	LoadConcurrency int
	// DisablePenetrationProtection turns off the per-key deduplication of loads
	// (singleflight): with it, every caller that misses calls Loader itself. Default:
	// protection on.
	DisablePenetrationProtection bool
	// LoadLease turns on one load per cluster for a cold key: before the load of a
	// key that missed L1 and L2, the instance takes a lease on the key in Redis
	// (SET NX PX with a random token, on a key outside the data keyspace) that lasts
	// LoadLease; the other instances that miss the key meanwhile wait for the
	// holder's value to appear in L2 instead of loading it too (see
	// docs/resilience.md). It costs the instance that loads one more round trip per
	// miss; turn it on where loads are expensive and many instances miss the same
	// keys at once. Make it longer than a load usually takes: a holder whose lease
	// ran out before its value was written lets another instance load too. A lease
	// whose holder dies expires; a write of the key ends it. It covers single-key
	// loads (Get, GetOrLoad, and the misses of MGet without an MLoader), not MLoad
	// batches nor refresh-ahead reloads. Only a value in L2 ends a wait: without
	// CacheNullValue, a key the source does not have is loaded by the waiting
	// instances in turn. It requires a Remote that implements
	// [backend.Leaser] (both Redis backends do) and penetration protection, and must
	// not be longer than LoaderTimeout. Default 0: off.
	LoadLease time.Duration
	// LoadLeaseWait bounds how long an instance waits for the value of a lease held
	// by another before it loads the key itself. Waiting never turns a miss into an
	// error: the wait does not count against LoaderTimeout, and a wait that runs
	// out, or a Redis that fails, ends in a load. Default 2 × LoadLease, so that a
	// waiter outlasts one holder that died; only with LoadLease.
	LoadLeaseWait time.Duration

	// LocalTTL is how long an entry stays fresh in L1. Default [DefaultLocalTTL]. An L1
	// entry filled from L2 never outlives the L2 entry.
	LocalTTL time.Duration
	// RemoteTTL is how long an entry stays fresh in L2. Default [DefaultRemoteTTL].
	RemoteTTL time.Duration
	// CacheNullValue makes the cache remember "not found" answers of the loader, for
	// NullTTL, in the layers of the mode, so that a read of a key the source does not
	// have does not reach the source again (cache penetration). Default off.
	CacheNullValue bool
	// NullTTL is how long a "not found" answer is remembered. Default
	// [DefaultNullTTL]; only with CacheNullValue.
	NullTTL time.Duration
	// TTLJitter spreads every TTL the cache writes (local, remote and null) uniformly
	// over [ttl·(1−TTLJitter), ttl], so that entries written together do not expire
	// together. It must be in [0, 1). Default 0: no spread.
	TTLJitter float64
	// MinLoaderTTL and MaxLoaderTTL bound the TTLs that entries bring along (the TTL
	// of a [Loaded] from an [EntryLoader] or an [EntryMLoader], and [WithTTL] on a
	// write): a longer one is cut to MaxLoaderTTL, a shorter or negative one raised
	// to MinLoaderTTL. Default MaxLoaderTTL: the longest TTL of the mode's layers
	// (LocalTTL, RemoteTTL), so that a loader may shorten an entry's life but not
	// lengthen it past what the cache already keeps entries for unless it is
	// allowed to. Default MinLoaderTTL: [DefaultMinLoaderTTL] (or MaxLoaderTTL
	// when shorter), and twice RefreshAhead when that is longer, so that a TTL
	// computed wrongly (5 meaning seconds, read as nanoseconds) cannot turn the
	// cache into a pass-through to the source, and no entry is born inside its
	// refresh window. MinLoaderTTL must not exceed MaxLoaderTTL, and must be longer
	// than RefreshAhead.
	MinLoaderTTL time.Duration
	MaxLoaderTTL time.Duration

	// WarmupBatchSize is the number of keys per MLoad call of [Cache.Warmup]. Default
	// [DefaultWarmupBatchSize].
	WarmupBatchSize int
	// MaxValueSize caps the size of a value in L2, envelope included. A write of a
	// larger value fails with [ErrValueTooLarge] and stores nothing; a larger loaded
	// value is returned to its reader but not cached (both counted as
	// OversizedValues); a larger value found in L2 is treated as corrupt: counted,
	// read as a miss and overwritten. It does not apply in ModeLocal, where nothing is
	// encoded. Default [DefaultMaxValueSize].
	MaxValueSize int

	// RefreshAhead turns on refresh-ahead: a read that hits an entry (in L1, or in L2
	// without L1) less than this long before its expiry returns the cached value at
	// once and starts one background reload of the key, shared with any foreground
	// load of it. Negative entries are never refreshed ahead: they expire after
	// NullTTL, and the next read loads. The reload runs detached from the reader, bounded by LoaderTimeout;
	// a failed reload keeps the old value, is counted, and the key is not retried for
	// max(1s, RefreshAhead/4). Entries that nobody reads are not refreshed. Reads with
	// [DisableLoad] never refresh. Default 0: off. It must be shorter than LocalTTL and
	// RemoteTTL.
	RefreshAhead time.Duration
	// RefreshPolicy chooses when an entry inside the refresh window is reloaded.
	// Default [RefreshFixedWindow]. Only with RefreshAhead.
	RefreshPolicy RefreshPolicy
	// RefreshBeta scales the probabilistic rule: above 1 reloads earlier, below 1
	// later. Default [DefaultRefreshBeta]. Only with RefreshProbabilistic.
	RefreshBeta float64
	// StaleTTL keeps entries this long past their expiry, in L1 and in L2, so that a
	// read with [AllowStale] whose load fails or times out is answered with the stale
	// copy instead of the error (counted as StaleServed). Stale copies are never
	// returned once StaleTTL has passed, never to reads without AllowStale, and never
	// in place of a successful load. Default 0: no stale copies.
	StaleTTL time.Duration

	// RemoteTimeout bounds every call to the remote backend, so that a frozen or
	// unreachable Redis cannot hold a read longer than this. Default
	// [DefaultRemoteTimeout].
	RemoteTimeout time.Duration
	// DisableCircuitBreaker turns off the circuit breaker on the remote backend. By
	// default, after BreakerFailures consecutive failed calls the cache stops sending
	// commands for BreakerBackoff (doubling on each failed probe, up to 30s), failing
	// them at once with [ErrCircuitOpen], then lets one probe call through; its
	// success closes the breaker. Reads fall through to the loader meanwhile.
	DisableCircuitBreaker bool
	// BreakerFailures is the number of consecutive failed remote calls that opens the
	// breaker. Default [DefaultBreakerFailures].
	BreakerFailures int
	// BreakerBackoff is how long an opened breaker waits before its first probe.
	// Default [DefaultBreakerBackoff].
	BreakerBackoff time.Duration

	// Clock is the cache's time source: every TTL, refresh, stale-window, tombstone and
	// breaker decision reads it, and so does the default Local. Default: a coarse
	// clock shared by the process, advanced once a millisecond while it is read and
	// stopped after a second without a read, so that an idle process spends no CPU on
	// it (a cache without L1 reads the precise time). Tests set a clock they move by
	// hand, to expire entries without sleeping.
	Clock Clock

	// Tracer starts a span around each operation (see [Tracer]); the module
	// github.com/accelerator-go/accelerator/acceleratorotel provides one over OpenTelemetry.
	// Default none.
	Tracer Tracer

	// Logger receives one warning per kind of failure (remote calls, loads, decoding,
	// the breaker opening) per burst of 10 seconds, with the number of failures it
	// summed up; never keys or values. Default [slog.Default].
	Logger *slog.Logger
	// BroadcastInvalidation keeps the L1 of many instances consistent (ModeBoth
	// only): every Set, MSet, Del, MDel and every write-back after a load publishes
	// the keys it wrote, in one message, on the area's channel, after the L2 write
	// succeeded and the writer's own L1 was updated; every instance subscribes, drops
	// the keys others wrote, and drops its whole L1 whenever messages may have been
	// lost (a new subscription, a gap in a sender's sequence numbers, pings that stop
	// coming back, a malformed message). While the subscriber is down, L1 entries live
	// at most InvalidationGrace. The worst-case staleness of an L1 entry is LocalTTL
	// (see docs/consistency.md). Default off.
	BroadcastInvalidation bool
	// PubSub is the invalidation transport. Default: Remote, when it implements
	// [backend.PubSub] (both Redis backends do).
	PubSub backend.PubSub
	// InvalidationPingInterval is how often the subscriber checks its subscription by
	// publishing a ping it expects back within three intervals. Default
	// [DefaultInvalidationPingInterval].
	InvalidationPingInterval time.Duration
	// InvalidationGrace is how long L1 entries are trusted while the subscriber is
	// down: L1 is dropped once it has been down that long, and entries written
	// meanwhile live no longer. Default [DefaultInvalidationGrace].
	InvalidationGrace time.Duration
	// InvalidationMarkMaxAge bounds how long an instance uses an invalidation mark
	// (a tag's, or the area's clear mark; see [Cache.InvalidateTags] and
	// [Cache.Clear]) that it read from Redis: a mark read longer ago is read again
	// before an entry that depends on it is served, and an entry whose marks cannot
	// be read is not served. So every instance honours an InvalidateTags at most this
	// long after it returned, whatever happened to its message, and a Clear as soon
	// as its L1 is dropped (see docs/tags.md). Marks are read again in the
	// background once half of it has passed, so that busy readers rarely wait.
	// Default [DefaultInvalidationMarkMaxAge].
	InvalidationMarkMaxAge time.Duration
	// DisableFillGuard turns off what makes fills lose to invalidations: the per-key
	// generations that keep a load that started before an invalidation from
	// installing its result in L1, and, with a backend that implements
	// [backend.CompareAndSetter], the compare-and-set fills and delete tombstones
	// that do the same in L2. Default: guard on. Turning it off saves a little work
	// on misses and is unsafe with concurrent writers.
	DisableFillGuard bool

	// MaxBatchKeys bounds the keys of one remote call: a batch read, write, delete or
	// write-back of more keys ([Cache.MGet], [Cache.MSet], [Cache.MDel],
	// [Cache.Warmup], the fills of an MLoad) is sent as consecutive pipelines of at most
	// MaxBatchKeys keys, each bounded by RemoteTimeout on its own, so that a huge batch
	// neither times out as a whole nor holds Redis for long. Default
	// [DefaultMaxBatchKeys]; it must not be negative.
	MaxBatchKeys int
	// ServerAssistedInvalidation adds a second invalidation transport to
	// BroadcastInvalidation, which it requires: Redis client tracking in broadcast
	// mode on the area's key prefix, so that a write made to Redis by anything else
	// (a script, an operator's DEL, another service) drops the key from every L1.
	// The Remote must implement [backend.Tracker] (rueidisremote does, over RESP3).
	// L1 is trusted only while both transports are alive; each has its own liveness
	// check (see docs/consistency.md). A tracking that cannot start (a Redis Cluster,
	// a RESP2 connection) is retried and logged, and meanwhile L1 entries live at most
	// InvalidationGrace. Default off.
	ServerAssistedInvalidation bool
}

// config is Options after validation and defaults.
type config[K comparable, V any] struct {
	Options[K, V]
	// defaultKeys reports that KeyEncoder is the built-in one for K.
	defaultKeys bool
}

func (o *Options[K, V]) resolve() (config[K, V], error) {
	c := config[K, V]{Options: *o}
	if c.Area == "" {
		c.Area = DefaultArea
	}
	if c.Mode == ModeDefault {
		c.Mode = ModeLocal
		if c.Remote != nil {
			c.Mode = ModeBoth
		}
	}
	if err := c.validate(); err != nil {
		return c, err
	}
	c.LocalTTL = orDefault(c.LocalTTL, DefaultLocalTTL)
	c.RemoteTTL = orDefault(c.RemoteTTL, DefaultRemoteTTL)
	c.NullTTL = orDefault(c.NullTTL, DefaultNullTTL)
	c.LoaderTimeout = orDefault(c.LoaderTimeout, DefaultLoaderTimeout)
	c.LoadConcurrency = orDefault(c.LoadConcurrency, DefaultLoadConcurrency)
	c.WarmupBatchSize = orDefault(c.WarmupBatchSize, DefaultWarmupBatchSize)
	c.MaxValueSize = orDefault(c.MaxValueSize, DefaultMaxValueSize)
	c.LocalMaxEntries = orDefault(c.LocalMaxEntries, DefaultLocalMaxEntries)
	c.RemoteTimeout = orDefault(c.RemoteTimeout, DefaultRemoteTimeout)
	c.MaxBatchKeys = orDefault(c.MaxBatchKeys, DefaultMaxBatchKeys)
	c.BreakerFailures = orDefault(c.BreakerFailures, DefaultBreakerFailures)
	c.BreakerBackoff = orDefault(c.BreakerBackoff, DefaultBreakerBackoff)
	c.InvalidationPingInterval = orDefault(c.InvalidationPingInterval, DefaultInvalidationPingInterval)
	c.InvalidationGrace = orDefault(c.InvalidationGrace, DefaultInvalidationGrace)
	c.InvalidationMarkMaxAge = orDefault(c.InvalidationMarkMaxAge, DefaultInvalidationMarkMaxAge)
	if c.RefreshBeta == 0 {
		c.RefreshBeta = DefaultRefreshBeta
	}
	if err := c.resolveEntryTTL(); err != nil {
		return c, err
	}
	if c.LoadLease > 0 {
		c.LoadLeaseWait = orDefault(c.LoadLeaseWait, 2*c.LoadLease)
	}
	if c.Codec == nil {
		c.Codec = codec.Msgpack[V]{}
	}
	if c.KeyEncoder == nil {
		c.KeyEncoder = defaultKeyEncoder[K]()
		c.defaultKeys = c.KeyEncoder != nil
	}
	if c.KeyEncoder == nil && c.Mode.hasRemote() {
		var k K
		return c, fmt.Errorf("accelerator: key type %T has no built-in KeyEncoder; set Options.KeyEncoder", k)
	}
	return c, nil
}

func (c *config[K, V]) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("accelerator: "+format, args...))
	}
	c.validateMode(bad)
	c.validateSigns(bad)
	if c.NullTTL != 0 && !c.CacheNullValue {
		bad("NullTTL is set but CacheNullValue is off")
	}
	if math.IsNaN(c.TTLJitter) || c.TTLJitter < 0 || c.TTLJitter >= 1 {
		bad("TTLJitter must be in [0, 1), got %v", c.TTLJitter)
	}
	c.validateRefresh(bad)
	c.validateLease(bad)
	c.checkValues(bad)
	c.validateTracking(bad)
	c.validateBroadcast(bad)
	return errors.Join(errs...)
}

// validateMode checks the mode against the backends it needs.
func (c *config[K, V]) validateMode(bad func(string, ...any)) {
	switch c.Mode {
	case ModeLocal:
	case ModeRemote, ModeBoth:
		if c.Remote == nil {
			bad("mode %v requires Options.Remote", c.Mode)
		}
	default:
		bad("unknown mode %v", c.Mode)
	}
	if c.Local != nil && c.LocalMaxEntries != 0 {
		bad("LocalMaxEntries applies to the default local backend only; it conflicts with Local")
	}
}

// validateSigns rejects negative durations and sizes.
func (c *config[K, V]) validateSigns(bad func(string, ...any)) {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"LocalTTL", c.LocalTTL}, {"RemoteTTL", c.RemoteTTL}, {"NullTTL", c.NullTTL},
		{"LoaderTimeout", c.LoaderTimeout}, {"RefreshAhead", c.RefreshAhead}, {"StaleTTL", c.StaleTTL},
		{"RemoteTimeout", c.RemoteTimeout}, {"BreakerBackoff", c.BreakerBackoff},
		{"InvalidationPingInterval", c.InvalidationPingInterval}, {"InvalidationGrace", c.InvalidationGrace},
		{"MinLoaderTTL", c.MinLoaderTTL}, {"MaxLoaderTTL", c.MaxLoaderTTL},
		{"LoadLease", c.LoadLease}, {"LoadLeaseWait", c.LoadLeaseWait},
		{"InvalidationMarkMaxAge", c.InvalidationMarkMaxAge},
	} {
		if d.v < 0 {
			bad("%s is negative (%v)", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{
		{"LocalMaxEntries", c.LocalMaxEntries}, {"LoadConcurrency", c.LoadConcurrency},
		{"WarmupBatchSize", c.WarmupBatchSize}, {"MaxValueSize", c.MaxValueSize},
		{"BreakerFailures", c.BreakerFailures},
	} {
		if n.v < 0 {
			bad("%s is negative (%d)", n.name, n.v)
		}
	}
}

// validateBroadcast checks the options of cross-instance invalidation.
func (c *config[K, V]) validateBroadcast(bad func(string, ...any)) {
	if c.BroadcastInvalidation && c.Mode != ModeBoth {
		bad("BroadcastInvalidation requires ModeBoth, not %v", c.Mode)
	}
	if c.BroadcastInvalidation && c.pubsub() == nil {
		bad("BroadcastInvalidation requires Options.PubSub, or a Remote that implements backend.PubSub")
	}
	if !c.BroadcastInvalidation && c.PubSub != nil {
		bad("PubSub is set but BroadcastInvalidation is off")
	}
}

func (c *config[K, V]) validateRefresh(bad func(string, ...any)) {
	if math.IsNaN(c.RefreshBeta) || c.RefreshBeta < 0 {
		bad("RefreshBeta must be positive, got %v", c.RefreshBeta)
	}
	if c.RefreshPolicy > RefreshProbabilistic {
		bad("unknown RefreshPolicy %d", c.RefreshPolicy)
	}
	if c.RefreshAhead == 0 {
		if c.RefreshPolicy != RefreshFixedWindow || c.RefreshBeta != 0 {
			bad("RefreshPolicy and RefreshBeta need RefreshAhead")
		}
		return
	}
	if c.RefreshBeta != 0 && c.RefreshPolicy != RefreshProbabilistic {
		bad("RefreshBeta applies to RefreshProbabilistic only")
	}
	for _, ttl := range []struct {
		name string
		v    time.Duration
		used bool
	}{
		{"LocalTTL", orDefault(c.LocalTTL, DefaultLocalTTL), c.Mode.hasLocal()},
		{"RemoteTTL", orDefault(c.RemoteTTL, DefaultRemoteTTL), c.Mode.hasRemote()},
	} {
		if ttl.used && c.RefreshAhead >= ttl.v {
			bad("RefreshAhead (%v) must be shorter than %s (%v)", c.RefreshAhead, ttl.name, ttl.v)
		}
	}
}

// pubsub returns the invalidation transport: PubSub, or Remote when it is one.
func (c *config[K, V]) pubsub() backend.PubSub {
	if c.PubSub != nil {
		return c.PubSub
	}
	ps, _ := c.Remote.(backend.PubSub)
	return ps
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
