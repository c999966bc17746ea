package accelerator_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

func resilientOptions(remote *countingRemote, ld *switchLoader) accelerator.Options[string, string] {
	return accelerator.Options[string, string]{
		Area:           "res",
		Remote:         remote,
		Loader:         ld,
		LocalTTL:       100 * time.Millisecond,
		RemoteTTL:      10 * time.Second,
		StaleTTL:       10 * time.Second,
		RemoteTimeout:  200 * time.Millisecond,
		BreakerBackoff: 200 * time.Millisecond,
		LoaderTimeout:  time.Second,
	}
}

// TestReadsSurviveRedisKilledAndRestarted: with Redis SIGKILLed mid-run, reads keep
// succeeding from L1, the loader and stale copies; once Redis is back, L2 is used
// again within a few seconds. Readers run throughout; the test moves a fake clock to
// expire L1 and waits for the readers to get through each stage.
func TestReadsSurviveRedisKilledAndRestarted(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := &countingRemote{Remote: newRemote(t, srv.URL())}
	ld := &switchLoader{}
	clk := newFakeClock()
	opts := resilientOptions(remote, ld)
	opts.Clock = clk
	c := newCache(t, opts)
	ctx := context.Background()
	keys := make([]string, 20)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
		if _, _, err := c.Get(ctx, keys[i]); err != nil {
			t.Fatal(err)
		}
	}

	stop := make(chan struct{})
	var reads, failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v, found, err := c.Get(ctx, keys[i%len(keys)], accelerator.AllowStale())
				reads.Add(1)
				if err != nil || !found || v == "" {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprint(v, found, err))
				}
				runtime.Gosched()
			}
		})
	}
	// readMore waits until the readers have read every key twice more, on average.
	readMore := func(stage string) {
		t.Helper()
		want := reads.Load() + int64(2*len(keys))
		waitFor(t, stage, func() bool { return reads.Load() >= want })
	}
	readMore("reads with Redis up")
	srv.Kill()
	readMore("reads from L1 with Redis down")
	clk.Advance(150 * time.Millisecond) // L1 entries expire: reads go to the loader
	readMore("reads from the loader with Redis down")
	ld.failing.Store(true) // and now to stale copies
	clk.Advance(150 * time.Millisecond)
	readMore("reads of stale copies with Redis down and the loader failing")
	ld.failing.Store(false)
	srv.Restart(t)
	restarted := time.Now()
	// Each try comes after the longest breaker backoff, so the breaker lets it through.
	waitFor(t, "an L2 write after Redis came back", func() bool {
		clk.Advance(30 * time.Second)
		return c.Set(ctx, "probe", "p") == nil
	})
	recovered := time.Since(restarted)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d reads failed while Redis was down; first: %v", failures.Load(), reads.Load(), firstErr.Load())
	}
	failing := &switchLoader{}
	failing.failing.Store(true)
	otherOpts := resilientOptions(remote, failing)
	otherOpts.Clock = clk
	other := newCache(t, otherOpts)
	if v, found, err := other.Get(ctx, "probe"); err != nil || !found || v != "p" {
		t.Fatalf("a fresh instance could not read from L2 after recovery: %q %v %v", v, found, err)
	}
	m := c.MetricsSnapshot()
	t.Logf("reads=%d, L2 back %v after restart; metrics: remoteErrors=%d rejected=%d breakerOpens=%d staleServed=%d loads=%d",
		reads.Load(), recovered, m.RemoteErrors, m.RemoteRejected, m.BreakerOpens, m.StaleServed, m.Loads)
	if m.BreakerOpens == 0 || m.RemoteRejected == 0 {
		t.Fatalf("the circuit breaker never opened during the outage: %+v", m)
	}
	if m.StaleServed == 0 {
		t.Fatalf("no stale copy was served while the loader failed: %+v", m)
	}
}

// TestReadsDoNotHangOnFrozenRedis: with Redis SIGSTOPped, a read waits at most the
// remote timeout, and once the breaker opens, reads skip Redis entirely. The remote
// timeout is a real timer (the bounds leave room for a busy machine but stay below
// what the default timeout would take); the breaker runs on a fake clock that stands
// still, so it stays open however long the reads take.
func TestReadsDoNotHangOnFrozenRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := &countingRemote{Remote: newRemote(t, srv.URL())}
	ld := &switchLoader{}
	opts := resilientOptions(remote, ld)
	opts.BreakerBackoff = 5 * time.Second
	opts.Clock = newFakeClock()
	c := newCache(t, opts)
	ctx := context.Background()
	srv.Stop(t)
	t.Cleanup(func() { srv.Cont(t) })

	for i := range accelerator.DefaultBreakerFailures {
		start := time.Now()
		v, found, err := c.Get(ctx, "frozen"+strconv.Itoa(i))
		if err != nil || !found || v == "" {
			t.Fatalf("Get with Redis frozen = %q %v %v, want the loaded value", v, found, err)
		}
		// One L2 read and one L2 write-back, each bounded by RemoteTimeout (200ms);
		// with DefaultRemoteTimeout (500ms) they would take 1s.
		if d := time.Since(start); d > 2*opts.RemoteTimeout+500*time.Millisecond {
			t.Fatalf("Get took %v with Redis frozen; RemoteTimeout is %v", d, opts.RemoteTimeout)
		}
	}
	start := time.Now()
	for i := range 100 {
		if _, _, err := c.Get(ctx, "open"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Reads that waited for Redis would take 100·RemoteTimeout (20s).
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("100 reads took %v with the breaker open; they must not wait for Redis", d)
	}
	if m := c.MetricsSnapshot(); m.BreakerOpens != 1 || m.RemoteRejected < 100 {
		t.Fatalf("breaker metrics %+v", m)
	}
	if err := c.Set(ctx, "w", "v"); !errors.Is(err, accelerator.ErrCircuitOpen) {
		t.Fatalf("Set with the breaker open = %v, want ErrCircuitOpen", err)
	}
}

// TestTTLJitterSpreadsRemoteExpiry: 1,000 keys written together with jitter 0.2
// expire in Redis spread over at least 15% of the TTL, and never after it.
func TestTTLJitterSpreadsRemoteExpiry(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := newRemote(t, srv.URL())
	const ttl = 100 * time.Second
	c := newCache(t, accelerator.Options[string, int]{Remote: remote, Area: "jit", RemoteTTL: ttl, TTLJitter: 0.2})
	items := map[string]int{}
	for i := range 1000 {
		items[strconv.Itoa(i)] = i
	}
	must(t, c.MSet(context.Background(), items))
	lo, hi := int64(1<<62), int64(0)
	for k := range items {
		pttl, _ := srv.Do(t, "PTTL", "jit:"+k).(int64)
		if pttl <= 0 {
			t.Fatalf("key %s has PTTL %d", k, pttl)
		}
		lo, hi = min(lo, pttl), max(hi, pttl)
	}
	if hi > ttl.Milliseconds() {
		t.Fatalf("a key lives %dms, longer than the TTL", hi)
	}
	if lo < (ttl*8/10).Milliseconds()-1000 {
		t.Fatalf("a key lives %dms, shorter than ttl·(1−jitter)", lo)
	}
	if spread := time.Duration(hi-lo) * time.Millisecond; spread < ttl*15/100 {
		t.Fatalf("expiries spread over %v, want at least 15%% of %v", spread, ttl)
	}
}

// TestStaleCopyFromRemote: an instance with a cold L1 whose loader fails serves the
// stale copy another instance left in Redis.
func TestStaleCopyFromRemote(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	remote := &countingRemote{Remote: newRemote(t, srv.URL())}
	opts := resilientOptions(remote, &switchLoader{})
	opts.RemoteTTL = 100 * time.Millisecond
	opts.LocalTTL = 50 * time.Millisecond
	opts.StaleTTL = 2 * time.Second
	clk := newFakeClock()
	opts.Clock = clk
	a := newCache(t, opts)
	ctx := context.Background()
	a.Get(ctx, "s")
	clk.Advance(150 * time.Millisecond) // past L1 and L2 expiry, inside the stale window

	failing := &switchLoader{}
	failing.failing.Store(true)
	opts.Loader = failing
	b := newCache(t, opts)
	if _, _, err := b.Get(ctx, "s"); !errors.Is(err, errSource) {
		t.Fatalf("Get without AllowStale = %v, want the loader error", err)
	}
	v, found, err := b.Get(ctx, "s", accelerator.AllowStale())
	if err != nil || !found || v != "s@v0" {
		t.Fatalf("Get with AllowStale = %q %v %v, want the stale copy from L2", v, found, err)
	}
	// Redis keeps the entry for RemoteTTL + StaleTTL (2.1s) from the write, which
	// was moments ago in real time.
	pttl, _ := srv.Do(t, "PTTL", "res:s").(int64)
	if pttl <= 1100 || pttl > 2100 {
		t.Fatalf("the L2 entry lives %dms; want it kept for its stale window (about 2s)", pttl)
	}
}

// recordingHandler is a slog.Handler that keeps the messages it receives.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// TestOutageIsLoggedOncePerBurst: a Redis outage must not flood the log: one record
// per kind of failure, never a key.
func TestOutageIsLoggedOncePerBurst(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	h := &recordingHandler{}
	opts := resilientOptions(&countingRemote{Remote: newRemote(t, srv.URL())}, &switchLoader{})
	opts.Logger = slog.New(h)
	opts.DisableCircuitBreaker = true // every read reaches the dead Redis
	c := newCache(t, opts)
	srv.Kill()
	for i := range 50 {
		if _, _, err := c.Get(context.Background(), "secret-key-"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	kinds := map[string]int{}
	for _, r := range h.records {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "kind" {
				kinds[a.Value.String()]++
			}
			if strings.Contains(a.Value.String(), "secret-key") {
				t.Errorf("a log record carries a key: %v", a)
			}
			return true
		})
	}
	if kinds["remote get"] != 1 || kinds["remote set"] != 1 || len(h.records) != len(kinds) {
		t.Fatalf("records per kind %v (%d records), want one for remote get and one for remote set", kinds, len(h.records))
	}
	if m := c.MetricsSnapshot(); m.RemoteErrors != 100 {
		t.Fatalf("RemoteErrors = %d, want 100 (50 reads, 50 write-backs)", m.RemoteErrors)
	}
}
