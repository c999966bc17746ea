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

func TestStatusOfALocalCache(t *testing.T) {
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

	d := c.Status()
	if d.Area != "local-diag" || d.Mode != accelerator.ModeLocal || d.Closed || time.Since(d.TakenAt) > time.Minute {
		t.Fatalf("identity %q %v closed=%v taken %v", d.Area, d.Mode, d.Closed, d.TakenAt)
	}
	got := make(map[string]any)
	for _, s := range d.Config {
		got[s.Name] = s.Value
	}
	want := map[string]any{
		"Area": "local-diag", "Mode": "local", "KeyPrefix": "",
		"Local": "*local.Store[string,int]", "LocalMaxEntries": 500, "Remote": "",
		"Codec": "codec.Msgpack[int]", "KeyEncoder": got["KeyEncoder"],
		"Loader": "*accelerator_test.countingLoader[string,int]", "MLoader": "",
		"LoaderTimeout": accelerator.DefaultLoaderTimeout, "LoadConcurrency": accelerator.DefaultLoadConcurrency,
		"DisablePenetrationProtection": false,
		"LocalTTL":                     accelerator.DefaultLocalTTL, "RemoteTTL": accelerator.DefaultRemoteTTL,
		"CacheNullValue": true, "NullTTL": accelerator.DefaultNullTTL, "TTLJitter": 0.0,
		"WarmupBatchSize": accelerator.DefaultWarmupBatchSize, "MaxValueSize": accelerator.DefaultMaxValueSize,
		"RefreshAhead": 10 * time.Second, "RefreshPolicy": "probabilistic", "RefreshBeta": 3.0, "StaleTTL": time.Duration(0),
		"RemoteTimeout": accelerator.DefaultRemoteTimeout, "DisableCircuitBreaker": false,
		"MaxBatchKeys": accelerator.DefaultMaxBatchKeys, "ServerAssistedInvalidation": false,
		"BreakerFailures": accelerator.DefaultBreakerFailures, "BreakerBackoff": accelerator.DefaultBreakerBackoff,
		"Clock": "", "Tracer": "", "Logger": "", "BroadcastInvalidation": false, "PubSub": "",
		"InvalidationPingInterval": accelerator.DefaultInvalidationPingInterval,
		"InvalidationGrace":        accelerator.DefaultInvalidationGrace, "DisableFillGuard": false,
		"InvalidationMarkMaxAge": accelerator.DefaultInvalidationMarkMaxAge,
		// A local cache: MaxLoaderTTL is LocalTTL; MinLoaderTTL twice RefreshAhead.
		"MinLoaderTTL": 20 * time.Second, "MaxLoaderTTL": accelerator.DefaultLocalTTL,
		"LoadLease": time.Duration(0), "LoadLeaseWait": time.Duration(0),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config\n got %#v\nwant %#v", got, want)
	}
	if len(d.Config) != reflect.TypeFor[accelerator.Options[string, int]]().NumField() {
		t.Fatalf("%d settings for the fields of Options", len(d.Config))
	}
	if d.LocalBackend != "*local.Store[string,int]" || d.LocalEntries != 3 || d.LocalWeight != 0 {
		t.Fatalf("local %q %d %d", d.LocalBackend, d.LocalEntries, d.LocalWeight)
	}
	if d.RemoteBackend != "" || d.Breaker != "disabled" || d.RemoteProbe != nil || d.Subscriber.Enabled {
		t.Fatalf("remote %q %q %v, subscriber %+v", d.RemoteBackend, d.Breaker, d.RemoteProbe, d.Subscriber)
	}
	if d.LoadsInFlight != 0 || d.RefreshBackoffs != 0 || len(d.Errors) != 0 {
		t.Fatalf("loads %d %d, errors %+v", d.LoadsInFlight, d.RefreshBackoffs, d.Errors)
	}
	c.Close()
	if !c.Status().Closed {
		t.Fatal("Closed not reported after Close")
	}
}

// TestStatusNeverShowsTheRedisPassword: the status names backends by
// type only, so a password in the Redis URL cannot leak through it, in Go or JSON,
// in failure texts included (the probe and the records of the last errors).
func TestStatusNeverShowsTheRedisPassword(t *testing.T) {
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
	d := c.Status()
	if d.RemoteBackend != "*rueidisremote.Remote" {
		t.Fatalf("remote backend named %q", d.RemoteBackend)
	}
	js, err := json.Marshal(d)
	must(t, err)
	for _, s := range []string{string(js), fmt.Sprintf("%+v", d), fmt.Sprintf("%#v", d)} {
		if strings.Contains(s, password) {
			t.Fatalf("the snapshot shows the password: %s", s)
		}
	}
	if len(d.Errors) == 0 || d.RemoteProbe == nil || d.RemoteProbe.OK {
		t.Fatalf("the failures were not recorded: %s", js)
	}
}

// TestStatusShowsTheSubscriber follows the invalidation subscriber of a cache
// through Redis up and down.
func TestStatusShowsTheSubscriber(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, accelerator.Options[string, string]{
		Area: "subscribed", Remote: newRemote(t, srv.URL()), BroadcastInvalidation: true, Logger: quiet,
	})
	waitConnected := func(want bool) accelerator.SubscriberState {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for c.Status().Subscriber.Connected != want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		inv := c.Status().Subscriber
		if inv.Connected != want {
			t.Fatalf("subscriber %+v, want connected %v", inv, want)
		}
		return inv
	}
	inv := waitConnected(true)
	if !inv.Enabled || inv.Channel == "" {
		t.Fatalf("subscribed: %+v", inv)
	}
	cfg := make(map[string]any)
	for _, s := range c.Status().Config {
		cfg[s.Name] = s.Value
	}
	if cfg["BroadcastInvalidation"] != true || cfg["PubSub"] != "*rueidisremote.Remote" || cfg["InvalidationGrace"] != accelerator.DefaultInvalidationGrace {
		t.Fatalf("config %+v", cfg)
	}
	srv.Kill()
	waitConnected(false)

	local := newLocal(t, accelerator.Options[string, string]{})
	if inv := local.Status().Subscriber; inv.Enabled {
		t.Fatalf("without BroadcastInvalidation: %+v", inv)
	}
}

func TestStatusShowsLoadsInFlight(t *testing.T) {
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
	for c.Status().LoadsInFlight != 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := c.Status().LoadsInFlight; n != 2 {
		t.Fatalf("InFlight = %d with two keys loading", n)
	}
	close(release)
	wg.Wait()
	if n := c.Status().LoadsInFlight; n != 0 {
		t.Fatalf("InFlight = %d after the loads", n)
	}
}

func TestStatusShowsRefreshBackoffs(t *testing.T) {
	ld := &switchLoader{}
	c := newLocal(t, accelerator.Options[string, string]{
		Loader: ld, LocalTTL: 400 * time.Millisecond, RefreshAhead: 350 * time.Millisecond, Logger: quiet,
	})
	ctx := context.Background()
	c.Get(ctx, "k")
	ld.failing.Store(true)
	// Read until a read falls in the refresh window (50 ms after the write) and starts
	// a refresh, which fails.
	deadline := time.Now().Add(5 * time.Second)
	for c.MetricsSnapshot().RefreshAttempts == 0 && time.Now().Before(deadline) {
		c.Get(ctx, "k")
		time.Sleep(time.Millisecond)
	}
	for c.Status().RefreshBackoffs != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if d := c.Status(); d.RefreshBackoffs != 1 {
		t.Fatalf("RefreshBackoffs = %d after a failed refresh", d.RefreshBackoffs)
	}
}

func TestStatusShowsLastErrorsByKind(t *testing.T) {
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
	got := c.Status().Errors
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
	last := c.Status().Errors[0].Last
	if len(last) > 520 || !strings.HasSuffix(last, "é…") {
		t.Fatalf("error text of %d bytes: %q", len(last), last[len(last)-10:])
	}
}

func TestStatusShowsTheWeightOfL1(t *testing.T) {
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
	for c.Status().LocalWeight != 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	d := c.Status()
	if d.LocalWeight != 8 || d.LocalEntries != 2 || d.Config[4] != (accelerator.Setting{Name: "LocalMaxEntries", Value: 0}) {
		t.Fatalf("local %d %d, %+v", d.LocalWeight, d.LocalEntries, d.Config[4])
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
	// Three failures open the breaker: the frozen read, then the Set's read of the
	// invalidation clock (to stamp its value) and its write.
	c := newCache(t, accelerator.Options[string, string]{
		Remote: newRemote(t, srv.URL()), RemoteTimeout: 100 * time.Millisecond,
		BreakerFailures: 3, BreakerBackoff: time.Minute, Logger: quiet,
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
	// The third kind: each load first tries to read the invalidation clock it is
	// stamped with (docs/tags.md).
	if len(h.records) != 3 || len(records) != 3 || records["remote read-marks"] == nil {
		t.Fatalf("%d records of kinds %v, want one remote get, one remote read-marks and one load", len(h.records), records)
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
