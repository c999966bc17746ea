package accelerator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/admin"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/metrics"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// Markers put in keys, values and the password. TestNothingRevealsKeysValuesOrPasswords
// looks for them in every string the library produced.
const (
	keyMarker   = "KEYMARK"
	valueMarker = "VALMARK"
	pwMarker    = "PWMARK"
)

var leakMarkers = []string{keyMarker, valueMarker, pwMarker}

// leakHandler is a slog.Handler that renders every record, with its attributes and
// those of its parents, to text.
type leakHandler struct {
	mu    *sync.Mutex
	texts *[]string
	attrs []slog.Attr
}

func newLeakHandler() *leakHandler {
	return &leakHandler{mu: new(sync.Mutex), texts: new([]string)}
}

func (h *leakHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *leakHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Resolve())
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Resolve())
		return true
	})
	h.mu.Lock()
	*h.texts = append(*h.texts, b.String())
	h.mu.Unlock()
	return nil
}

func (h *leakHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &leakHandler{mu: h.mu, texts: h.texts, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *leakHandler) WithGroup(string) slog.Handler { return h }

func (h *leakHandler) records() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), *h.texts...)
}

// leakTracer records every span's start and end.
type leakTracer struct {
	mu    sync.Mutex
	texts []string
}

type leakSpan struct {
	t     *leakTracer
	start accelerator.SpanStart
}

func (t *leakTracer) Start(ctx context.Context, s accelerator.SpanStart) (context.Context, accelerator.Span) {
	return ctx, &leakSpan{t: t, start: s}
}

func (s *leakSpan) End(e accelerator.SpanEnd) {
	text := fmt.Sprintf("%+v %+v", s.start, e)
	if e.Err != nil {
		text += " " + e.Err.Error() + " " + accelerator.ErrorKind(e.Err)
	}
	s.t.mu.Lock()
	s.t.texts = append(s.t.texts, text)
	s.t.mu.Unlock()
}

// leakSource is a source of truth whose keys and values carry the markers; keys
// holding "fail" fail to load.
type leakSource struct {
	onLoad func(key string) // called before each load, when set
}

var errSourceDown = errors.New("source of truth unavailable")

func (s *leakSource) Load(_ context.Context, key string) (string, bool, error) {
	if s.onLoad != nil {
		s.onLoad(key)
	}
	if strings.Contains(key, "fail") {
		return "", false, errSourceDown
	}
	return "value-" + valueMarker + "-" + key, true, nil
}

func (s *leakSource) MLoad(_ context.Context, keys []string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if strings.Contains(k, "fail") {
			return nil, errSourceDown
		}
		out[k] = "value-" + valueMarker + "-" + k
	}
	return out, nil
}

func leakKeys(tag string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user-" + keyMarker + "-" + tag + "-" + strconv.Itoa(i) + "@example.com"
	}
	return keys
}

// TestNothingRevealsKeysValuesOrPasswords drives a cache through every kind of
// failure against a password-protected redis-server, with markers in keys, values
// and the password, and checks that no error, log record, diagnostic snapshot,
// admin response, metric point or span carries any of them.
func TestNothingRevealsKeysValuesOrPasswords(t *testing.T) {
	const password = "pw-" + pwMarker + "-secret"
	srv := redistest.Start(t, redistest.WithPassword(password))
	// A user that may not publish: every write's broadcast is refused.
	srv.Do(t, "ACL", "SETUSER", "nopub", "on", ">"+password, "~leak:*", "&leak:*", "-@all",
		"+get", "+mget", "+getrange", "+set", "+del", "+eval", "+subscribe", "+ping", "+cluster|slots")
	adminURL := "redis://:" + password + "@" + srv.Addr()
	nopubURL := "redis://nopub:" + password + "@" + srv.Addr()

	logs := newLeakHandler()
	tracer := &leakTracer{}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	ctx := context.Background()
	src := &leakSource{}
	base := func(remote *rueidisremote.Remote, area string) accelerator.Options[string, string] {
		return accelerator.Options[string, string]{
			Area:          area,
			KeyPrefix:     "leak:",
			Remote:        remote,
			Loader:        src,
			RemoteTimeout: 200 * time.Millisecond,
			LoaderTimeout: 2 * time.Second,
			Logger:        slog.New(logs),
			Tracer:        tracer,
			MaxBatchKeys:  3,
		}
	}

	// Per-key loads (KeyError, BatchError) and MLoad failures.
	perKey := newCache(t, base(newRemote(t, adminURL), "perkey"))
	_, _, err := perKey.Get(ctx, "fail-"+keyMarker)
	keep(err)
	_, err = perKey.MGet(ctx, append(leakKeys("ok", 3), "fail-"+keyMarker+"-1", "fail-"+keyMarker+"-2"))
	keep(err)
	var be *accelerator.BatchError[string]
	if !errors.As(err, &be) || len(be.Keys) != 2 {
		t.Fatalf("MGet with failing keys = %v, want a BatchError of 2 keys", err)
	}
	mopts := base(newRemote(t, adminURL), "mload")
	mopts.MLoader = src
	batch := newCache(t, mopts)
	_, err = batch.MGet(ctx, append(leakKeys("m", 3), "fail-"+keyMarker))
	keep(err)
	_, err = batch.Warmup(ctx, append(leakKeys("w", 2), "fail-"+keyMarker))
	keep(err)

	// Publish denied by the ACL.
	popts := base(newRemote(t, nopubURL), "pub")
	popts.BroadcastInvalidation = true
	pub := newCache(t, popts)
	err = pub.Set(ctx, "user-"+keyMarker, "value-"+valueMarker)
	if !errors.Is(err, accelerator.ErrNotBroadcast) {
		t.Errorf("Set with publish denied = %v, want ErrNotBroadcast", err)
	}
	keep(err)
	keep(pub.MSet(ctx, map[string]string{"user-" + keyMarker + "-a": valueMarker, "user-" + keyMarker + "-b": valueMarker}))
	keep(pub.Del(ctx, "user-"+keyMarker))

	// Undecodable values under marked keys.
	srv.Do(t, "SET", "leak:perkey:user-"+keyMarker+"-corrupt", "\xac\x01"+valueMarker)
	srv.Do(t, "SETRANGE", "leak:perkey:user-"+keyMarker+"-huge", strconv.Itoa(9<<20), valueMarker)
	_, _, err = perKey.Get(ctx, "user-"+keyMarker+"-corrupt")
	keep(err)
	_, _, err = perKey.Get(ctx, "user-"+keyMarker+"-huge")
	keep(err)

	// Redis frozen: every call times out; a load's write-back too.
	// Without the breaker, every call meets the frozen server; the breaker's own
	// rejections are covered by the caches that follow.
	fopts := base(newRemote(t, adminURL), "frozen")
	fopts.DisableCircuitBreaker = true
	frozen := newCache(t, fopts)
	srv.Stop(t)
	_, _, err = frozen.Get(ctx, "user-"+keyMarker+"-frozen")
	keep(err)
	_, err = frozen.MGet(ctx, leakKeys("frozen", 5))
	keep(err)
	keep(frozen.Set(ctx, "user-"+keyMarker, "value-"+valueMarker))
	keep(frozen.MSet(ctx, map[string]string{"user-" + keyMarker + "-1": valueMarker, "user-" + keyMarker + "-2": valueMarker}))
	keep(frozen.Del(ctx, "user-"+keyMarker))
	keep(frozen.MDel(ctx, leakKeys("frozen-del", 4)))
	probe := frozen.ProbeRemote(ctx)
	srv.Cont(t)

	// A load whose write-back meets a frozen Redis.
	fill := newCache(t, base(newRemote(t, adminURL), "fill"))
	var once sync.Once
	src.onLoad = func(key string) {
		if strings.Contains(key, "freeze") {
			once.Do(func() { srv.Stop(t) })
		}
	}
	_, _, err = fill.Get(ctx, "user-"+keyMarker+"-freeze")
	keep(err)
	srv.Cont(t)
	src.onLoad = nil

	// Redis killed.
	kopts := base(newRemote(t, adminURL), "killed")
	kopts.DisableCircuitBreaker = true
	killed := newCache(t, kopts)
	srv.Kill()
	_, _, err = killed.Get(ctx, "user-"+keyMarker+"-killed")
	keep(err)
	_, err = killed.MGet(ctx, leakKeys("killed", 4))
	keep(err)
	keep(killed.Set(ctx, "user-"+keyMarker, "value-"+valueMarker))
	keep(killed.MSet(ctx, map[string]string{"user-" + keyMarker + "-k": valueMarker}))
	keep(killed.MDel(ctx, leakKeys("killed-del", 4)))

	// Constructors: a malformed URL, a wrong password, nobody listening.
	for _, url := range []string{
		"redis://:" + password + "@" + srv.Addr() + "x",
		"redis://:" + password + "%zz@" + srv.Addr(),
		"redis:/:" + password + "@" + srv.Addr(),
		"redis://:" + password + "@" + srv.Addr() + "?dial_timeout=200ms",
	} {
		r, err := rueidisremote.NewFromURL(url)
		if err == nil {
			r.Close()
			continue
		}
		keep(err)
	}
	_, err = accelerator.New(accelerator.Options[string, string]{Remote: (*rueidisremote.Remote)(nil)})
	keep(err)

	// Collect everything.
	var texts []string
	add := func(what string, v any) {
		switch v := v.(type) {
		case string:
			texts = append(texts, what+": "+v)
		default:
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("marshal %s: %v", what, err)
			}
			texts = append(texts, what+": "+string(b))
		}
	}
	for _, err := range errs {
		add("error", err.Error())
		add("error %+v", fmt.Sprintf("%+v", err))
		for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
			add("wrapped error", e.Error())
		}
	}
	for _, r := range logs.records() {
		add("log", r)
	}
	tracer.mu.Lock()
	for _, s := range tracer.texts {
		add("span", s)
	}
	tracer.mu.Unlock()
	add("probe", probe)
	caches := []*accelerator.Cache[string, string]{perKey, batch, pub, frozen, fill, killed}
	inspect := make([]admin.Cache, len(caches))
	for i, c := range caches {
		inspect[i] = c
		add("status", c.Status())
		add("diagnostics", admin.Diagnose(c.Status()))
		add("metrics", c.MetricsSnapshot())
		add("points", metrics.Points(c.MetricsSnapshot(), c.Status()))
	}
	h := admin.NewHandler(inspect...)
	for _, path := range []string{"/", "/caches.json", "/diagnostics.json", "/metrics.json", "/points.json", "/diagnostics.json?probe=1"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body, _ := io.ReadAll(rec.Body)
		add("admin "+path, string(body))
	}

	for _, text := range texts {
		for _, m := range leakMarkers {
			if strings.Contains(text, m) {
				t.Errorf("%s reveals %s", text, m)
			}
		}
	}
	// The failures did happen, and were seen.
	want := map[string]bool{
		accelerator.ErrorKindTimeout: false, accelerator.ErrorKindBroadcast: false,
		accelerator.ErrorKindLoader: false, accelerator.ErrorKindRemote: false,
	}
	for _, err := range errs {
		if _, ok := want[accelerator.ErrorKind(err)]; ok {
			want[accelerator.ErrorKind(err)] = true
		}
	}
	for kind, seen := range want {
		if !seen {
			t.Errorf("no error of kind %q was returned", kind)
		}
	}
	if n := len(logs.records()); n < 5 {
		t.Errorf("%d log records, want the failures logged", n)
	}
	t.Logf("checked %d texts: %d errors, %d log records, %d spans", len(texts), len(errs), len(logs.records()), len(tracer.texts))
}
