package accelerator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/internal/breaker"
	"github.com/accelerator-go/accelerator/internal/clock"
)

// guardedRemote wraps the remote backend with what every call needs: a timeout, the
// circuit breaker, counting and rate-limited logging of failures, and errors that say
// which operation failed. It also bounds what one call may carry: batches are split
// into calls of at most batch keys, each with its own timeout, and reads go through
// the backend's [backend.BoundedReader], when it has one, so that no value longer
// than limit is received whole.
type guardedRemote struct {
	r       backend.Remote
	bounded backend.BoundedReader // nil when the backend cannot bound its reads
	limit   int                   // the longest value a read returns whole: MaxValueSize
	batch   int                   // the most keys of one call: MaxBatchKeys
	timeout time.Duration
	br      *breaker.Breaker // nil when disabled
	metrics *metrics
	log     *burstLogger

	// now reads the cache's coarse clock. lastOK and lastFailed are when a call last
	// succeeded and failed (Unix nanoseconds), and lastProbe the last
	// [Cache.ProbeRemote], for the diagnostic snapshot.
	now                func() int64
	lastOK, lastFailed atomic.Int64
	lastProbe          atomic.Pointer[RemoteProbe]
}

func newGuardedRemote[K comparable, V any](r backend.Remote, cfg *config[K, V], clk clock.Clock, m *metrics, log *burstLogger) *guardedRemote {
	g := &guardedRemote{
		r: r, limit: cfg.MaxValueSize, batch: cfg.MaxBatchKeys, timeout: cfg.RemoteTimeout,
		metrics: m, log: log, now: clk.NowNano,
	}
	if b, ok := r.(backend.BoundedReader); ok && g.limit > 0 {
		g.bounded = b
	}
	if !cfg.DisableCircuitBreaker {
		g.br = breaker.New(cfg.BreakerFailures, cfg.BreakerBackoff, maxBreakerBackoff, clk.NowNano, func() {
			m.breakerOpens.Add(1)
			log.problem("breaker", errBreakerOpened)
		})
	}
	return g
}

// maxBreakerBackoff caps the wait between probes of a remote that keeps failing.
const maxBreakerBackoff = 30 * time.Second

var errBreakerOpened = errors.New("remote keeps failing; circuit breaker opened")

// errOversizedValue is logged when a bounded read finds a value longer than
// MaxValueSize. It wraps errCorruptValue: [ErrorKind] says "decode".
var errOversizedValue = fmt.Errorf("%w: longer than MaxValueSize, not read", errCorruptValue)

// begin admits a call: it returns the context to run it on, the function that ends
// it and when it started, or an error when the breaker rejects it. A caller whose own
// deadline comes no later than the timeout already bounds the call: it runs on the
// caller's context, without a timer of its own.
func (g *guardedRemote) begin(ctx context.Context) (context.Context, context.CancelFunc, time.Time, error) {
	if g.br != nil {
		if err := g.br.Allow(); err != nil {
			g.metrics.remoteRejected.Add(1)
			return nil, nil, time.Time{}, ErrCircuitOpen
		}
	}
	start := time.Now()
	if d, ok := ctx.Deadline(); ok && d.Sub(start) <= g.timeout {
		return ctx, noCancel, start, nil
	}
	cctx, cancel := context.WithTimeout(ctx, g.timeout)
	return cctx, cancel, start, nil
}

// noCancel ends a call (or a load) that runs on its caller's context: a function of
// the package, since a closure in a generic method allocates.
func noCancel() {}

// end records the outcome of an admitted call and returns its error, wrapped.
func (g *guardedRemote) end(ctx, cctx context.Context, op string, start time.Time, err error) error {
	callerGone := ctx.Err() != nil
	if g.br != nil {
		g.br.Done(err != nil && !callerGone)
	}
	if err == nil {
		if now := g.now(); g.lastOK.Load() != now {
			g.lastOK.Store(now)
		}
		return nil
	}
	if callerGone {
		return &remoteError{op: op, err: err}
	}
	g.metrics.remoteErrors.Add(1)
	g.lastFailed.Store(g.now())
	if timedOut(cctx, err) {
		err = fmt.Errorf("%w (after %v): %w", ErrRemoteTimeout, g.timeout, err)
	}
	rerr := &remoteError{op: op, err: err}
	g.log.failure("remote "+op, "remote."+op, rerr, time.Since(start))
	return rerr
}

// timedOut reports whether a call that failed while its caller was still waiting ran
// out of time: its own deadline passed, or the client gave up on that deadline (or on
// a network timeout) a moment before the context noticed.
func timedOut(cctx context.Context, err error) bool {
	var ne net.Error
	return errors.Is(cctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// remoteError is the error of a failed remote call: [ErrorKind] reports it as
// "remote" unless it wraps a timeout or a cancellation.
type remoteError struct {
	op  string
	err error
}

func (e *remoteError) Error() string { return "accelerator: remote " + e.op + ": " + e.err.Error() }
func (e *remoteError) Unwrap() error { return e.err }

// Get reads one value. When the backend bounds its reads, a value longer than the
// cache's MaxValueSize is never received whole: it is counted as a decode error,
// deleted, and read as absent (see dropOversized).
func (g *guardedRemote) Get(ctx context.Context, key string) ([]byte, error) {
	cctx, cancel, start, err := g.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if g.bounded == nil {
		v, err := g.r.Get(cctx, key)
		return v, g.end(ctx, cctx, "get", start, err)
	}
	v, err := g.bounded.GetBounded(cctx, key, g.limit)
	if err = g.end(ctx, cctx, "get", start, err); err != nil {
		return nil, err
	}
	if len(v) > g.limit {
		g.dropOversized(ctx, []string{key})
		return nil, nil
	}
	return v, nil
}

// dropOversized deletes values that a bounded read found longer than the limit,
// best effort, and counts each as a decode error. The reads return them as absent,
// so that the load that follows writes its value back: a compare-and-set against
// the cut value would never match what Redis holds.
func (g *guardedRemote) dropOversized(ctx context.Context, keys []string) {
	g.metrics.decodeErrors.Add(uint64(len(keys)))
	g.log.problem("decode", errOversizedValue)
	_ = g.Del(ctx, keys...)
}

// MGet reads keys in calls of at most g.batch keys, each bounded by the timeout,
// and stops at the first that fails. Values are bounded as in Get.
func (g *guardedRemote) MGet(ctx context.Context, keys []string) ([][]byte, error) {
	if len(keys) <= g.batch {
		return g.mget(ctx, keys)
	}
	out := make([][]byte, 0, len(keys))
	for chunk := range slices.Chunk(keys, g.batch) {
		vs, err := g.mget(ctx, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
	}
	return out, nil
}

func (g *guardedRemote) mget(ctx context.Context, keys []string) ([][]byte, error) {
	cctx, cancel, start, err := g.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var vs [][]byte
	if g.bounded != nil {
		vs, err = g.bounded.MGetBounded(cctx, keys, g.limit)
	} else {
		vs, err = g.r.MGet(cctx, keys)
	}
	if err == nil && len(vs) != len(keys) {
		err = fmt.Errorf("backend returned %d values for %d keys", len(vs), len(keys))
	}
	if err = g.end(ctx, cctx, "mget", start, err); err != nil || g.bounded == nil {
		return vs, err
	}
	var oversized []string
	for i, v := range vs {
		if len(v) > g.limit {
			oversized = append(oversized, keys[i])
			vs[i] = nil
		}
	}
	if oversized != nil {
		g.dropOversized(ctx, oversized)
	}
	return vs, nil
}

func (g *guardedRemote) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	cctx, cancel, start, err := g.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return g.end(ctx, cctx, "set", start, g.r.Set(cctx, key, value, ttl))
}

// MSet writes items in calls of at most g.batch items, each bounded by the timeout,
// and stops at the first that fails: the items before it are written, the others
// not.
func (g *guardedRemote) MSet(ctx context.Context, items []backend.Item) error {
	for chunk := range slices.Chunk(items, g.batch) {
		if err := g.mset(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

func (g *guardedRemote) mset(ctx context.Context, items []backend.Item) error {
	cctx, cancel, start, err := g.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return g.end(ctx, cctx, "mset", start, g.r.MSet(cctx, items))
}

// Del deletes keys in calls of at most g.batch keys, as MSet writes them.
func (g *guardedRemote) Del(ctx context.Context, keys ...string) error {
	for chunk := range slices.Chunk(keys, g.batch) {
		if err := g.del(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

func (g *guardedRemote) del(ctx context.Context, keys []string) error {
	cctx, cancel, start, err := g.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return g.end(ctx, cctx, "del", start, g.r.Del(cctx, keys...))
}
