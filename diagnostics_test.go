package accelerator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/local"
)

var quiet = slog.New(slog.DiscardHandler)

func TestDiagnosticSnapshotOfALocalCache(t *testing.T) {
	ld := &countingLoader[string, int]{data: map[string]int{"a": 1, "b": 2}}
	c, err := accelerator.New(accelerator.Options[string, int]{
		Area: "local-diag", Loader: ld, LocalMaxEntries: 500, CacheNullValue: true,
		RefreshAhead: 10 * time.Second, RefreshPolicy: accelerator.RefreshProbabilistic, RefreshBeta: 3,
	})
	must(t, err)
	ctx := context.Background()
	c.Get(ctx, "a")
	c.Get(ctx, "b")
	c.Get(ctx, "none")

	d := c.DiagnosticSnapshot()
	if d.Area != "local-diag" || d.Mode != "local" || d.Closed || time.Since(d.TakenAt) > time.Minute {
		t.Fatalf("identity %q %q closed=%v taken %v", d.Area, d.Mode, d.Closed, d.TakenAt)
	}
	want := accelerator.ConfigSnapshot{
		LocalBackend: "*local.Store[string,int]", LocalMaxEntries: 500,
		Codec: "codec.Msgpack[int]", KeyEncoder: d.Config.KeyEncoder,
		Loader: "*accelerator_test.countingLoader[string,int]", LoaderTimeout: accelerator.DefaultLoaderTimeout,
		LoadConcurrency: accelerator.DefaultLoadConcurrency, PenetrationProtection: true,
		LocalTTL: accelerator.DefaultLocalTTL, RemoteTTL: accelerator.DefaultRemoteTTL,
		CacheNullValue: true, NullTTL: accelerator.DefaultNullTTL,
		WarmupBatchSize: accelerator.DefaultWarmupBatchSize, MaxValueSize: accelerator.DefaultMaxValueSize,
		RefreshAhead: 10 * time.Second, RefreshPolicy: "probabilistic", RefreshBeta: 3,
		RemoteTimeout: accelerator.DefaultRemoteTimeout, CircuitBreaker: true,
		BreakerFailures: accelerator.DefaultBreakerFailures, BreakerBackoff: accelerator.DefaultBreakerBackoff,
		FillGuard: true,
	}
	if d.Config != want {
		t.Fatalf("config\n got %+v\nwant %+v", d.Config, want)
	}
	if d.Local != (accelerator.LocalDiagnostics{Enabled: true, Backend: "*local.Store[string,int]", Entries: 3}) {
		t.Fatalf("local %+v", d.Local)
	}
	if d.Remote.Enabled || d.Remote.State != accelerator.RemoteDisabled || d.Invalidation.State != "disabled" {
		t.Fatalf("remote %+v, invalidation %+v", d.Remote, d.Invalidation)
	}
	if d.Loads != (accelerator.LoadDiagnostics{}) || len(d.LastErrors) != 0 {
		t.Fatalf("loads %+v, errors %+v", d.Loads, d.LastErrors)
	}
	c.Close()
	if !c.DiagnosticSnapshot().Closed {
		t.Fatal("Closed not reported after Close")
	}
}

// TestDiagnosticSnapshotNeverShowsTheRedisPassword: the snapshot names backends by
// type only, so a password in the Redis URL cannot leak through it, in Go or JSON,
// in failure texts included.
func TestDiagnosticSnapshotNeverShowsTheRedisPassword(t *testing.T) {
	const password = "pa55-Word-7c1f"
	srv := redistest.Start(t, redistest.WithPassword(password))
	c := newCache(t, accelerator.Options[string, string]{
		Area: "secret", Remote: newRemote(t, srv.URL()), Logger: quiet,
		Loader: &countingLoader[string, string]{data: map[string]string{"k": "v"}},
	})
	ctx := context.Background()
	c.Get(ctx, "k")
	c.ProbeRemote(ctx)
	srv.Kill()
	c.Get(ctx, "j")
	c.ProbeRemote(ctx)
	d := c.DiagnosticSnapshot()
	if d.Config.RemoteBackend != "*rueidisremote.Remote" || d.Remote.Backend != "*rueidisremote.Remote" {
		t.Fatalf("remote backend named %q / %q", d.Config.RemoteBackend, d.Remote.Backend)
	}
	js, err := json.Marshal(d)
	must(t, err)
	for _, s := range []string{string(js), fmt.Sprintf("%+v", d), fmt.Sprintf("%#v", d)} {
		if strings.Contains(s, password) {
			t.Fatalf("the snapshot shows the password: %s", s)
		}
	}
	if len(d.LastErrors) == 0 || d.Remote.Probe == nil || d.Remote.Probe.OK {
		t.Fatalf("the failures were not recorded: %s", js)
	}
}

// TestRemoteStateFollowsRedis walks a cache through Redis up, down, breaker open and
// back, as the diagnostic snapshot reports it.
func TestRemoteStateFollowsRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, accelerator.Options[string, string]{
		Area: "state", Remote: newRemote(t, srv.URL()), Logger: quiet,
		BreakerFailures: 4, BreakerBackoff: 200 * time.Millisecond,
		Loader: &countingLoader[string, string]{data: map[string]string{}},
	})
	ctx := context.Background()
	state := func() accelerator.RemoteDiagnostics { return c.DiagnosticSnapshot().Remote }
	if r := state(); r.State != accelerator.RemoteUnknown || r.Breaker != "closed" || !r.LastSuccess.IsZero() {
		t.Fatalf("before any call: %+v", r)
	}
	if p := c.ProbeRemote(ctx); !p.OK || p.Latency <= 0 || p.Error != "" {
		t.Fatalf("probe of a live Redis: %+v", p)
	}
	if r := state(); r.State != accelerator.RemoteReady || r.Probe == nil || !r.Probe.OK {
		t.Fatalf("after a good probe: %+v", r)
	}
	c.Get(ctx, "k0") // an L2 miss and a negative load: good calls (a probe is not one)
	if r := state(); r.State != accelerator.RemoteReady || r.LastSuccess.IsZero() || time.Since(r.LastSuccess) > time.Second {
		t.Fatalf("after a good call: %+v", r)
	}

	srv.Kill()
	c.Get(ctx, "k1") // the read fails: one failure of four
	r := state()
	if r.State != accelerator.RemoteFailing || r.Breaker != "closed" || r.LastFailure.Before(r.LastSuccess) {
		t.Fatalf("after a failed call: %+v", r)
	}
	for i := range 3 {
		c.Get(ctx, "k"+strconv.Itoa(i+2))
	}
	if r := state(); r.State != accelerator.RemoteUnavailable || r.Breaker != "open" {
		t.Fatalf("after four failures: %+v", r)
	}
	p := c.ProbeRemote(ctx)
	if p.OK || p.ErrorKind != accelerator.ErrorKindRemote || !strings.Contains(p.Error, "probe") {
		t.Fatalf("probe of a dead Redis: %+v", p)
	}

	srv.Restart(t)
	if p := c.ProbeRemote(ctx); !p.OK {
		t.Fatalf("probe after restart: %+v", p)
	}
	if r := state(); r.State != accelerator.RemoteUnavailable {
		t.Fatalf("the breaker is still open, but the state is %+v", r)
	}
	time.Sleep(250 * time.Millisecond) // the breaker lets a probe call through
	c.Get(ctx, "k9")
	if r := state(); r.State != accelerator.RemoteReady || r.Breaker != "closed" {
		t.Fatalf("after recovery: %+v", r)
	}
}

// TestDiagnosticSnapshotShowsTheSubscriber follows the invalidation subscriber of a
// cache through Redis up and down, in the snapshot and in the gauge.
func TestDiagnosticSnapshotShowsTheSubscriber(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, accelerator.Options[string, string]{
		Area: "subscribed", Remote: newRemote(t, srv.URL()), BroadcastInvalidation: true, Logger: quiet,
	})
	gauge := func() float64 {
		for _, p := range c.OTelMetricPoints() {
			if p.Name == "accelerator_cache_invalidation_subscribed" {
				return p.Value
			}
		}
		t.Fatal("no accelerator_cache_invalidation_subscribed point")
		return -1
	}
	waitState := func(want string) accelerator.InvalidationDiagnostics {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for c.DiagnosticSnapshot().Invalidation.State != want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		inv := c.DiagnosticSnapshot().Invalidation
		if inv.State != want {
			t.Fatalf("invalidation state %+v, want %s", inv, want)
		}
		return inv
	}
	inv := waitState("subscribed")
	if !inv.Enabled || !inv.Connected || inv.Channel == "" || gauge() != 1 {
		t.Fatalf("subscribed: %+v, gauge %v", inv, gauge())
	}
	cfg := c.DiagnosticSnapshot().Config
	if !cfg.BroadcastInvalidation || cfg.PubSub != "*rueidisremote.Remote" || cfg.InvalidationGrace != accelerator.DefaultInvalidationGrace {
		t.Fatalf("config %+v", cfg)
	}
	srv.Kill()
	if inv := waitState("disconnected"); inv.Connected || gauge() != 0 {
		t.Fatalf("disconnected: %+v, gauge %v", inv, gauge())
	}

	local := newLocal(t, accelerator.Options[string, string]{})
	if inv := local.DiagnosticSnapshot().Invalidation; inv.State != "disabled" || inv.Enabled {
		t.Fatalf("without BroadcastInvalidation: %+v", inv)
	}
	for _, p := range local.OTelMetricPoints() {
		if p.Name == "accelerator_cache_invalidation_subscribed" {
			t.Fatal("a subscriber gauge without a subscriber")
		}
	}
}

func TestDiagnosticSnapshotShowsLoadsInFlight(t *testing.T) {
	release := make(chan struct{})
	c := newLocal(t, accelerator.Options[string, string]{
		Loader: accelerator.LoaderFunc[string, string](func(context.Context, string) (string, bool, error) {
			<-release
			return "v", true, nil
		}),
	})
	var wg sync.WaitGroup
	for _, k := range []string{"a", "a", "b"} {
		wg.Go(func() { c.Get(context.Background(), k) })
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.DiagnosticSnapshot().Loads.InFlight != 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := c.DiagnosticSnapshot().Loads.InFlight; n != 2 {
		t.Fatalf("InFlight = %d with two keys loading", n)
	}
	close(release)
	wg.Wait()
	if n := c.DiagnosticSnapshot().Loads.InFlight; n != 0 {
		t.Fatalf("InFlight = %d after the loads", n)
	}
}

func TestDiagnosticSnapshotShowsRefreshBackoffs(t *testing.T) {
	ld := &switchLoader{}
	c := newLocal(t, accelerator.Options[string, string]{
		Loader: ld, LocalTTL: 400 * time.Millisecond, RefreshAhead: 350 * time.Millisecond, Logger: quiet,
	})
	ctx := context.Background()
	c.Get(ctx, "k")
	ld.failing.Store(true)
	time.Sleep(60 * time.Millisecond)
	c.Get(ctx, "k") // starts a refresh that fails
	deadline := time.Now().Add(5 * time.Second)
	for c.DiagnosticSnapshot().Loads.RefreshBackoffs != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if d := c.DiagnosticSnapshot(); d.Loads.RefreshBackoffs != 1 {
		t.Fatalf("loads %+v after a failed refresh", d.Loads)
	}
}

func TestDiagnosticSnapshotShowsLastErrorsByKind(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	c := newCache(t, accelerator.Options[string, string]{
		Area: "errs", Remote: newRemote(t, srv.URL()), Logger: quiet, DisableCircuitBreaker: true,
		Loader: errLoader{errors.New("db down")},
	})
	before := time.Now()
	c.Get(ctx, "a")
	c.Get(ctx, "b")
	srv.Kill()
	c.Get(ctx, "c")
	after := time.Now()
	got := c.DiagnosticSnapshot().LastErrors
	if len(got) != 2 {
		t.Fatalf("last errors %+v, want load and remote get", got)
	}
	load, remote := got[0], got[1]
	if load.Kind != "load" || load.Op != "load" || load.ErrorKind != "loader" || load.Count != 3 || load.Last != "db down" {
		t.Errorf("load errors %+v", load)
	}
	// The engine may read L2 more than once per miss: count what the metrics counted.
	if remote.Kind != "remote get" || remote.Op != "remote.get" || remote.ErrorKind != "remote" ||
		remote.Count == 0 || remote.Count != c.MetricsSnapshot().RemoteErrors ||
		!strings.HasPrefix(remote.Last, "accelerator: remote get: ") {
		t.Errorf("remote errors %+v", remote)
	}
	for _, e := range got {
		if e.LastAt.Before(before) || e.LastAt.After(after) {
			t.Errorf("%s at %v, outside [%v, %v]", e.Kind, e.LastAt, before, after)
		}
	}
}

// TestLongErrorTextsAreCut: a loader's panic carries its stack; the snapshot keeps
// the beginning.
func TestLongErrorTextsAreCut(t *testing.T) {
	c := newLocal(t, accelerator.Options[string, string]{Logger: quiet, Loader: errLoader{errors.New(strings.Repeat("é", 1000))}})
	c.Get(context.Background(), "k")
	last := c.DiagnosticSnapshot().LastErrors[0].Last
	if len(last) > 520 || !strings.HasSuffix(last, "é…") {
		t.Fatalf("error text of %d bytes: %q", len(last), last[len(last)-10:])
	}
}

func TestDiagnosticSnapshotShowsTheWeightOfL1(t *testing.T) {
	st, err := local.New(local.Options[string, string]{
		MaximumWeight: 1 << 20, Weigher: func(_ string, v string) uint32 { return uint32(len(v)) },
	})
	must(t, err)
	defer st.Close()
	c := newLocal(t, accelerator.Options[string, string]{Local: st})
	ctx := context.Background()
	must(t, c.Set(ctx, "a", "12345"))
	must(t, c.Set(ctx, "b", "123"))
	// otter applies writes to its weight asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	for c.DiagnosticSnapshot().Local.Weight != 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	d := c.DiagnosticSnapshot()
	if d.Local.Weight != 8 || d.Local.Entries != 2 || d.Config.LocalMaxEntries != 0 {
		t.Fatalf("local %+v, LocalMaxEntries %d", d.Local, d.Config.LocalMaxEntries)
	}
	if !hasPoint(c.OTelMetricPoints(), "accelerator_cache_local_weight", 8) {
		t.Fatal("no accelerator_cache_local_weight point of 8")
	}
}

func hasPoint(pts []accelerator.MetricPoint, name string, v float64) bool {
	for _, p := range pts {
		if p.Name == name && p.Value == v {
			return true
		}
	}
	return false
}

// TestSnapshotDurationsAreWrittenAsText: "5s" reads better than 5000000000 on an
// admin page; every Duration of the JSON must be text.
func TestSnapshotDurationsAreWrittenAsText(t *testing.T) {
	c := newLocal(t, accelerator.Options[string, int]{})
	js, err := json.Marshal(c.DiagnosticSnapshot())
	must(t, err)
	var doc struct {
		Config map[string]any
	}
	must(t, json.Unmarshal(js, &doc))
	ct := reflect.TypeFor[accelerator.ConfigSnapshot]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		v, ok := doc.Config[f.Name]
		if !ok {
			t.Errorf("field %s missing from the JSON", f.Name)
			continue
		}
		if f.Type == reflect.TypeFor[time.Duration]() {
			if _, isText := v.(string); !isText {
				t.Errorf("%s written as %v, want text", f.Name, v)
			}
		}
	}
	if doc.Config["LoaderTimeout"] != "5s" {
		t.Errorf("LoaderTimeout = %v", doc.Config["LoaderTimeout"])
	}
	var back accelerator.DiagnosticSnapshot
	must(t, json.Unmarshal(js, &back))
	if back.Config != c.DiagnosticSnapshot().Config {
		t.Errorf("the config does not survive a JSON round trip:\n%+v\n%+v", back.Config, c.DiagnosticSnapshot().Config)
	}
	pj, err := json.Marshal(accelerator.RemoteProbe{Latency: 1500 * time.Microsecond})
	must(t, err)
	if !strings.Contains(string(pj), `"Latency":"1.5ms"`) {
		t.Errorf("probe JSON %s", pj)
	}
}

func TestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&accelerator.PanicError{Value: "boom"}, "panic"},
		{fmt.Errorf("wrapped: %w", &accelerator.PanicError{Value: context.Canceled}), "panic"},
		{accelerator.ErrClosed, "closed"},
		{accelerator.ErrCircuitOpen, "circuit_open"},
		{context.Canceled, "canceled"},
		{context.DeadlineExceeded, "timeout"},
		{fmt.Errorf("%w: slow", accelerator.ErrLoaderTimeout), "timeout"},
		{accelerator.ErrRemoteTimeout, "timeout"},
		{&accelerator.BatchError[string]{Keys: []string{"k"}, Err: accelerator.ErrLoaderTimeout}, "timeout"},
		{errors.New("no such table"), "loader"},
	} {
		if got := accelerator.ErrorKind(tc.err); got != tc.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestErrorKindOfRealFailures classifies the errors a cache returns when Redis is
// down, frozen, or shut off by the breaker, and when the cache is closed.
func TestErrorKindOfRealFailures(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	c := newCache(t, accelerator.Options[string, string]{
		Remote: newRemote(t, srv.URL()), RemoteTimeout: 100 * time.Millisecond,
		BreakerFailures: 2, BreakerBackoff: time.Minute, Logger: quiet,
	})
	srv.Stop(t) // killed when the test ends, even stopped
	_, _, err := c.Get(ctx, "k")
	if k := accelerator.ErrorKind(err); k != "timeout" {
		t.Errorf("frozen Redis: %q (%v)", k, err)
	}
	srv.Cont(t)
	srv.Kill()
	err = c.Set(ctx, "k", "v")
	if k := accelerator.ErrorKind(err); k != "remote" {
		t.Errorf("dead Redis: %q (%v)", k, err)
	}
	err = c.Set(ctx, "k", "v")
	if k := accelerator.ErrorKind(err); k != "circuit_open" {
		t.Errorf("open breaker: %q (%v)", k, err)
	}
	c.Close()
	_, _, err = c.Get(ctx, "k")
	if k := accelerator.ErrorKind(err); k != "closed" {
		t.Errorf("closed cache: %q (%v)", k, err)
	}
}

// TestFailureLogRecordsCarryOpResultLatencyAndErrorKind: one record per kind of
// failure, with what an operator needs and no key.
func TestFailureLogRecordsCarryOpResultLatencyAndErrorKind(t *testing.T) {
	srv := redistest.Start(t)
	h := &recordingHandler{}
	c := newCache(t, accelerator.Options[string, string]{
		Area: "logged", Remote: newRemote(t, srv.URL()), Logger: slog.New(h),
		RemoteTimeout: 100 * time.Millisecond, DisableCircuitBreaker: true,
		Loader: errLoader{errors.New("db down")},
	})
	ctx := context.Background()
	srv.Stop(t)
	t.Cleanup(func() { srv.Cont(t) })
	for i := range 5 {
		c.Get(ctx, "secret-key-"+strconv.Itoa(i))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	records := map[string]map[string]slog.Value{}
	for _, r := range h.records {
		attrs := map[string]slog.Value{}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value
			if strings.Contains(a.Value.String(), "secret-key") {
				t.Errorf("a log record carries a key: %v", a)
			}
			return true
		})
		if r.Level != slog.LevelWarn {
			t.Errorf("record %q at level %v", r.Message, r.Level)
		}
		records[attrs["kind"].String()] = attrs
	}
	if len(h.records) != 2 || len(records) != 2 {
		t.Fatalf("%d records of kinds %v, want one remote get and one load", len(h.records), records)
	}
	get := records["remote get"]
	if get["area"].String() != "logged" || get["op"].String() != "remote.get" || get["result"].String() != "error" ||
		get["error_kind"].String() != "timeout" || get["latency"].Duration() < 100*time.Millisecond {
		t.Errorf("remote get record %v", get)
	}
	load := records["load"]
	if load["op"].String() != "load" || load["error_kind"].String() != "loader" || load["error"].String() != "db down" {
		t.Errorf("load record %v", load)
	}
	if m := c.MetricsSnapshot(); m.LoadErrors != 5 || m.RemoteErrors < 5 {
		t.Fatalf("%d load errors, %d remote errors: the two records must sum up at least 5 failures each", m.LoadErrors, m.RemoteErrors)
	}
}
