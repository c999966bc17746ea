package cachefn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/accelerator-go/accelerator"
)

// ErrNotFound is the error a function wrapped by [Cacheable] or [CacheableBy]
// returns, or wraps, to say that its key has no value at the source. The wrapper then
// tells the cache "not found", which the cache remembers as a negative entry when it
// has [accelerator.Options.CacheNullValue], and returns ErrNotFound to the caller (on
// that call and on every call the negative entry answers). [NotFound] chooses another
// error in its place.
var ErrNotFound = errors.New("cachefn: not found")

// Policy says what a wrapper does when the cache fails. The zero value is [Ignore].
type Policy uint8

const (
	// Ignore reports a cache failure (to [Stats], the logger and the [OnError] hook)
	// and goes on without the cache: the call never fails because of the cache.
	Ignore Policy = iota
	// Propagate reports a cache failure and returns it to the caller as a
	// [*CacheError].
	//
	// Under Propagate, [Cacheable] and [CacheableBatch] look keys up without loading
	// before they load, so that an L2 read that fails is returned rather than absorbed
	// by the load: a miss reads L2 twice, and hits do not start refresh-ahead reloads.
	Propagate
)

// String returns "ignore" or "propagate".
func (p Policy) String() string {
	switch p {
	case Ignore:
		return "ignore"
	case Propagate:
		return "propagate"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// CacheError is a failure of the cache seen by a wrapper. It is what the [OnError]
// hook receives, and, under [Propagate], what the wrapped call returns, so that
// callers can tell a cache failure from an error of the function with [errors.As].
type CacheError struct {
	// Name is the wrapper's [Name], empty without one.
	Name string
	// Op is the cache operation that failed: "get", "mget", "set", "del" or "mdel".
	Op string
	// Err is the cache's error.
	Err error
}

// Error returns the name, the operation and the cache's error.
func (e *CacheError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("cachefn: cache %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("cachefn: %s: cache %s: %v", e.Name, e.Op, e.Err)
}

// Unwrap returns the cache's error.
func (e *CacheError) Unwrap() error { return e.Err }

// Stats counts the cache failures that wrappers saw. Give one to wrappers with
// [WithStats] (one Stats may serve many wrappers); wrappers without one count into
// [DefaultStats]. Its methods are safe for concurrent use.
type Stats struct {
	ignored, propagated atomic.Uint64
}

// DefaultStats counts the cache failures of every wrapper built without [WithStats].
var DefaultStats = new(Stats)

// Ignored returns the number of cache failures that wrappers reported and went past,
// under [Ignore].
func (s *Stats) Ignored() uint64 { return s.ignored.Load() }

// Propagated returns the number of cache failures that wrappers returned to their
// callers, under [Propagate].
func (s *Stats) Propagated() uint64 { return s.propagated.Load() }

// Option configures a wrapper. Options that do not apply to a wrapper are ignored by it.
type Option func(*config)

// OnCacheError sets what the wrapper does when the cache fails. Default [Ignore].
func OnCacheError(p Policy) Option { return func(c *config) { c.policy = p } }

// Name labels the wrapper in its [CacheError] values and log records, such as
// "UserStore.GetUser". Default none.
func Name(name string) Option { return func(c *config) { c.name = name } }

// WithStats makes the wrapper count its cache failures in s. Default [DefaultStats].
// A nil s means DefaultStats.
func WithStats(s *Stats) Option { return func(c *config) { c.stats = s } }

// Logger makes the wrapper log every cache failure to l, at level Warn. Default: the
// [slog.Default] logger at the time of the failure. A nil l turns logging off.
func Logger(l *slog.Logger) Option {
	return func(c *config) { c.logger, c.noLog = l, l == nil }
}

// OnError makes the wrapper call hook with every cache failure, under either policy,
// before it goes on or returns. hook runs on the caller's goroutine and must be safe
// for concurrent use. Default none.
func OnError(hook func(ctx context.Context, err *CacheError)) Option {
	return func(c *config) { c.onError = hook }
}

// NotFound makes [Cacheable] and [CacheableBy] treat an error of the function that
// matches target ([errors.Is]) as "not found", in place of [ErrNotFound], and return
// target to the caller when the key is not found. A nil target means ErrNotFound.
func NotFound(target error) Option { return func(c *config) { c.notFound = target } }

// ReadOptions passes opts to every cache read of [Cacheable], [CacheableBy] and
// [CacheableBatch] that may load, such as [accelerator.AllowStale] to answer with a
// stale copy when the function fails. Default none.
func ReadOptions(opts ...accelerator.ReadOption) Option {
	return func(c *config) { c.readOpts = append(c.readOpts[:len(c.readOpts):len(c.readOpts)], opts...) }
}

// EvictBefore makes [Evict], [EvictBatch], [EvictResult] and [EvictBatchResult]
// delete the key(s) before running the function, and whatever it returns. Default:
// after the function, and only when it succeeds.
//
// WARNING: a read between the delete and the function's write can cache the old value
// again; delete after the function (the default) unless the function reads the cache
// itself.
func EvictBefore() Option { return func(c *config) { c.before = true } }

// config is the resolved options of one wrapper.
type config struct {
	name     string
	policy   Policy
	stats    *Stats
	logger   *slog.Logger
	noLog    bool
	onError  func(context.Context, *CacheError)
	notFound error
	readOpts []accelerator.ReadOption
	before   bool
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.stats == nil {
		c.stats = DefaultStats
	}
	if c.notFound == nil {
		c.notFound = ErrNotFound
	}
	return c
}

// report counts, logs and hands to the hook one cache failure, and returns it as a
// *CacheError.
func (c *config) report(ctx context.Context, op string, err error) *CacheError {
	ce := &CacheError{Name: c.name, Op: op, Err: err}
	if c.policy == Propagate {
		c.stats.propagated.Add(1)
	} else {
		c.stats.ignored.Add(1)
	}
	if l := c.log(); l != nil {
		l.LogAttrs(ctx, slog.LevelWarn, "cachefn: cache failure",
			slog.String("name", c.name), slog.String("op", op),
			slog.String("policy", c.policy.String()), slog.Any("error", err))
	}
	if c.onError != nil {
		c.onError(ctx, ce)
	}
	return ce
}

func (c *config) log() *slog.Logger {
	switch {
	case c.noLog:
		return nil
	case c.logger != nil:
		return c.logger
	}
	return slog.Default()
}
