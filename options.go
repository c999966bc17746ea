package accelerator

import (
	"errors"
	"fmt"
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

	// WarmupBatchSize is the number of keys per MLoad call of [Cache.Warmup]. Default
	// [DefaultWarmupBatchSize].
	WarmupBatchSize int
	// MaxValueSize caps the size of a remote value the cache decodes; a larger one is
	// treated as corrupt: counted, read as a miss and overwritten. Default
	// [DefaultMaxValueSize].
	MaxValueSize int

	// RefreshAhead reloads an entry in the background when a read hits it less than
	// this long before its expiry.
	//
	// NOTE: not supported yet; New rejects a non-zero value.
	RefreshAhead time.Duration
	// StaleTTL keeps entries this long past their expiry so that reads with
	// [AllowStale] can be served a stale copy when the loader fails.
	//
	// NOTE: not supported yet; New rejects a non-zero value.
	StaleTTL time.Duration
	// BroadcastInvalidation publishes the keys of every write so that other instances
	// drop them from their L1.
	//
	// NOTE: not supported yet; New rejects true.
	BroadcastInvalidation bool
}

// config is Options after validation and defaults.
type config[K comparable, V any] struct {
	Options[K, V]
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
	if c.Codec == nil {
		c.Codec = codec.Msgpack[V]{}
	}
	if c.KeyEncoder == nil {
		c.KeyEncoder = defaultKeyEncoder[K]()
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
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"LocalTTL", c.LocalTTL}, {"RemoteTTL", c.RemoteTTL}, {"NullTTL", c.NullTTL},
		{"LoaderTimeout", c.LoaderTimeout}, {"RefreshAhead", c.RefreshAhead}, {"StaleTTL", c.StaleTTL},
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
	} {
		if n.v < 0 {
			bad("%s is negative (%d)", n.name, n.v)
		}
	}
	if c.NullTTL != 0 && !c.CacheNullValue {
		bad("NullTTL is set but CacheNullValue is off")
	}
	if math.IsNaN(c.TTLJitter) || c.TTLJitter < 0 || c.TTLJitter >= 1 {
		bad("TTLJitter must be in [0, 1), got %v", c.TTLJitter)
	}
	if c.RefreshAhead != 0 {
		bad("RefreshAhead is not supported yet")
	}
	if c.StaleTTL != 0 {
		bad("StaleTTL is not supported yet")
	}
	if c.BroadcastInvalidation {
		bad("BroadcastInvalidation is not supported yet")
	}
	return errors.Join(errs...)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
