package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/admin"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

var quiet = slog.New(slog.DiscardHandler)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newCache[K comparable, V any](t testing.TB, opts accelerator.Options[K, V]) *accelerator.Cache[K, V] {
	t.Helper()
	c, err := accelerator.New(opts)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func newRemote(t testing.TB, url string) *rueidisremote.Remote {
	t.Helper()
	r, err := rueidisremote.NewFromURL(url)
	must(t, err)
	t.Cleanup(r.Close)
	return r
}

// adminFixture serves two caches of different types, one of them over a real Redis
// with a password.
func adminFixture(t *testing.T) (*httptest.Server, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t, redistest.WithPassword(password))
	users := newCache(t, accelerator.Options[int64, string]{
		Area: "users", Remote: newRemote(t, srv.URL()), Logger: quiet, KeyPrefix: "shop:",
		Loader: accelerator.LoaderFunc[int64, string](func(_ context.Context, id int64) (string, bool, error) {
			if id == 7 {
				return "", false, errors.New("user " + secretKey + " is broken")
			}
			return "u", true, nil
		}),
	})
	flags := newCache(t, accelerator.Options[string, bool]{Area: "flags"})
	ctx := context.Background()
	users.Get(ctx, 1)
	users.Get(ctx, 1)
	users.Get(ctx, 7)
	must(t, flags.Set(ctx, secretKey, true))
	flags.Get(ctx, secretKey)
	mux := http.NewServeMux()
	mux.Handle("/debug/cache/", http.StripPrefix("/debug/cache", admin.NewHandler(users, flags)))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs, srv
}

const (
	password  = "pa55-Word-7c1f"
	secretKey = "key-0b5e-secret"
)

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", url, ct)
	}
	return body
}

func getDoc(t *testing.T, url string) admin.Document {
	t.Helper()
	body := get(t, url)
	var doc admin.Document
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
	if doc.SchemaVersion != admin.SchemaVersion || time.Since(doc.TakenAt) > time.Minute {
		t.Fatalf("GET %s: schema %d taken %v", url, doc.SchemaVersion, doc.TakenAt)
	}
	return doc
}

func TestHandlerServesEveryDocument(t *testing.T) {
	hs, _ := adminFixture(t)
	base := hs.URL + "/debug/cache"

	doc := getDoc(t, base+"/metrics.json")
	if len(doc.Caches) != 2 || doc.Caches[0].Area != "users" || doc.Caches[0].Diagnostics != nil {
		t.Fatalf("metrics.json %+v", doc)
	}
	m := doc.Caches[0].Metrics
	if m.Counters["local_hits"] != 1 || m.Counters["local_misses"] != 2 || m.Counters["loads"] != 2 ||
		m.Counters["load_errors"] != 1 || m.LocalHitRatio != 1.0/3 || len(m.Counters) < 28 {
		t.Fatalf("metrics of users %+v", m)
	}
	if f := doc.Caches[1].Metrics; f.LocalHitRatio != 1 || f.Counters["local_hits"] != 1 {
		t.Fatalf("metrics of flags %+v", f)
	}

	doc = getDoc(t, base+"/diagnostics.json")
	d := doc.Caches[0].Diagnostics
	if d == nil || doc.Caches[0].Metrics != nil || d.Mode != "both" || d.Remote.Probe == nil || !d.Remote.Probe.OK ||
		d.Remote.State != admin.RemoteReady || d.Remote.Breaker != "closed" || doc.Caches[1].Diagnostics.Remote.Enabled {
		t.Fatalf("diagnostics.json %+v", doc)
	}
	if len(d.LastErrors) != 1 || d.LastErrors[0].Kind != "load" || d.LastErrors[0].Count != 1 || d.LastErrors[0].ErrorKind != "loader" {
		t.Fatalf("last errors %+v", d.LastErrors)
	}
	if fl := doc.Caches[1].Diagnostics.Local; !fl.Enabled || fl.Entries != 1 {
		t.Fatalf("L1 of flags %+v", fl)
	}

	doc = getDoc(t, base+"/points.json")
	areas := map[string]int{}
	for _, p := range doc.Points {
		if !strings.HasPrefix(p.Name, "accelerator_cache_") || p.Unit == "" || (p.Kind != "counter" && p.Kind != "gauge") {
			t.Fatalf("point %+v", p)
		}
		areas[p.Labels["area"]]++
	}
	if areas["users"] == 0 || areas["flags"] == 0 || len(areas) != 2 {
		t.Fatalf("points per area %v", areas)
	}

	doc = getDoc(t, base+"/caches.json")
	if len(doc.Caches) != 2 || doc.Caches[1].Metrics == nil || doc.Caches[1].Diagnostics == nil {
		t.Fatalf("caches.json %+v", doc)
	}
}

// TestDocumentsUseSnakeCaseAndSecondsAndShowNoSecrets pins the schema: snake_case
// names everywhere, durations as numbers of seconds, and no key, error text or
// password in any document, whatever failed.
func TestDocumentsUseSnakeCaseAndSecondsAndShowNoSecrets(t *testing.T) {
	hs, srv := adminFixture(t)
	srv.Kill()
	for _, path := range []string{"/caches.json", "/diagnostics.json", "/metrics.json", "/points.json"} {
		body := string(get(t, hs.URL+"/debug/cache"+path))
		for _, secret := range []string{password, secretKey, "is broken", "connection refused"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows %q", path, secret)
			}
		}
		var doc any
		must(t, json.Unmarshal([]byte(body), &doc))
		walkKeys(t, path, doc)
	}
	d := getDoc(t, hs.URL+"/debug/cache/diagnostics.json?area=users").Caches[0].Diagnostics
	cfg := d.Config
	if cfg["loader_timeout_seconds"] != 5.0 || cfg["local_ttl_seconds"] != 60.0 || cfg["key_prefix"] != "shop:" ||
		cfg["remote"] != "*rueidisremote.Remote" || cfg["mode"] != "both" || cfg["area"] != "users" {
		t.Fatalf("config %v", cfg)
	}
	if _, ok := cfg["loader_timeout"]; ok {
		t.Fatal("a duration without its _seconds suffix")
	}
	if p := d.Remote.Probe; p == nil || p.OK || p.ErrorKind != "remote" || p.LatencySeconds <= 0 || d.Remote.State != admin.RemoteFailing {
		t.Fatalf("probe of a dead Redis %+v, state %s", p, d.Remote.State)
	}
}

func walkKeys(t *testing.T, path string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k != strings.ToLower(k) || strings.ContainsAny(k, " -") {
				// Flush reasons and label values are data, not field names.
				if !strings.Contains(k, "-") {
					t.Errorf("%s: field %q is not snake_case", path, k)
				}
			}
			walkKeys(t, path, e)
		}
	case []any:
		for _, e := range v {
			walkKeys(t, path, e)
		}
	}
}

func TestHandlerFiltersByArea(t *testing.T) {
	hs, _ := adminFixture(t)
	doc := getDoc(t, hs.URL+"/debug/cache/diagnostics.json?area=flags")
	if len(doc.Caches) != 1 || doc.Caches[0].Area != "flags" {
		t.Fatalf("diagnostics of area flags: %+v", doc)
	}
	if doc := getDoc(t, hs.URL+"/debug/cache/points.json?area=nope"); len(doc.Points) != 0 {
		t.Fatalf("%d points for an unknown area", len(doc.Points))
	}
}

// TestHandlerProbesRedis: the diagnostics say whether Redis answers now, unless the
// request asks not to probe.
func TestHandlerProbesRedis(t *testing.T) {
	hs, srv := adminFixture(t)
	srv.Kill()
	d := getDoc(t, hs.URL+"/debug/cache/diagnostics.json?area=users&probe=0").Caches[0].Diagnostics
	if d.Remote.Probe != nil || d.Remote.State != admin.RemoteReady {
		t.Fatalf("without a probe the cache reports what it last saw: %+v", d.Remote)
	}
	d = getDoc(t, hs.URL+"/debug/cache/diagnostics.json?area=users").Caches[0].Diagnostics
	if p := d.Remote.Probe; p == nil || p.OK || p.ErrorKind != "remote" || d.Remote.State != admin.RemoteFailing {
		t.Fatalf("with Redis dead: %+v", d.Remote)
	}
}

// TestHandlerIsReadOnly: GET and HEAD only; a write method is refused whatever the
// path.
func TestHandlerIsReadOnly(t *testing.T) {
	hs, _ := adminFixture(t)
	for _, path := range []string{"/", "/app.js", "/caches.json", "/metrics.json", "/diagnostics.json", "/points.json"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			req, _ := http.NewRequest(method, hs.URL+"/debug/cache"+path, strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "GET") {
				t.Errorf("%s %s: %s, Allow %q", method, path, resp.Status, resp.Header.Get("Allow"))
			}
		}
		resp, err := http.Head(hs.URL + "/debug/cache" + path)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD %s: %s, %d bytes", path, resp.Status, len(body))
		}
	}
	resp, err := http.Get(hs.URL + "/debug/cache/nothing.json")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of an unknown path: %s", resp.Status)
	}
}

// TestDashboardIsSelfContained: the page loads nothing from elsewhere (it must work
// offline, and its policy forbids it).
func TestDashboardIsSelfContained(t *testing.T) {
	hs, _ := adminFixture(t)
	for _, path := range []string{"/", "/app.js", "/style.css"} {
		resp, err := http.Get(hs.URL + "/debug/cache" + path)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) < 200 {
			t.Fatalf("GET %s: %s, %d bytes", path, resp.Status, len(body))
		}
		if s := string(body); strings.Contains(s, "http://") && !strings.Contains(s, "http://www.w3.org/2000/svg") || strings.Contains(s, "https://") || strings.Contains(s, "//cdn") {
			t.Errorf("%s refers to another origin", path)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
}

// TestRemoteStateFollowsRedis walks a cache through Redis up, down, breaker open and
// back, as the diagnostics report it.
func TestRemoteStateFollowsRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, accelerator.Options[string, string]{
		Area: "state", Remote: newRemote(t, srv.URL()), Logger: quiet,
		BreakerFailures: 4, BreakerBackoff: 200 * time.Millisecond,
		Loader: accelerator.LoaderFunc[string, string](func(context.Context, string) (string, bool, error) { return "", false, nil }),
	})
	ctx := context.Background()
	state := func() admin.RemoteView { return admin.Diagnose(c.Status()).Remote }
	if r := state(); r.State != admin.RemoteUnknown || r.Breaker != "closed" || !r.LastSuccess.IsZero() {
		t.Fatalf("before any call: %+v", r)
	}
	if p := c.ProbeRemote(ctx); !p.OK || p.Latency <= 0 || p.Error != "" {
		t.Fatalf("probe of a live Redis: %+v", p)
	}
	if r := state(); r.State != admin.RemoteReady || r.Probe == nil || !r.Probe.OK {
		t.Fatalf("after a good probe: %+v", r)
	}
	c.Get(ctx, "k0") // an L2 miss and a negative load: good calls (a probe is not one)
	if r := state(); r.State != admin.RemoteReady || r.LastSuccess.IsZero() {
		t.Fatalf("after a good call: %+v", r)
	}

	srv.Kill()
	c.Get(ctx, "k1") // the read fails: one failure of four
	if r := state(); r.State != admin.RemoteFailing || r.Breaker != "closed" || r.LastFailure.Before(r.LastSuccess) {
		t.Fatalf("after a failed call: %+v", r)
	}
	for i := range 3 {
		c.Get(ctx, "k"+strconv.Itoa(i+2))
	}
	if r := state(); r.State != admin.RemoteUnavailable || r.Breaker != "open" {
		t.Fatalf("after four failures: %+v", r)
	}
	if p := c.ProbeRemote(ctx); p.OK || p.ErrorKind != accelerator.ErrorKindRemote {
		t.Fatalf("probe of a dead Redis: %+v", p)
	}

	srv.Restart(t)
	if p := c.ProbeRemote(ctx); !p.OK {
		t.Fatalf("probe after restart: %+v", p)
	}
	if r := state(); r.State != admin.RemoteUnavailable {
		t.Fatalf("the breaker is still open, but the state is %+v", r)
	}
	// The breaker lets a call through after its backoff: poll until one closes it.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; state().State != admin.RemoteReady && time.Now().Before(deadline); i++ {
		c.Get(ctx, "r"+strconv.Itoa(i))
		time.Sleep(20 * time.Millisecond)
	}
	if r := state(); r.State != admin.RemoteReady || r.Breaker != "closed" {
		t.Fatalf("after recovery: %+v", r)
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"LocalHits": "local_hits", "LocalTTL": "local_ttl", "TTLJitter": "ttl_jitter", "MLoads": "m_loads",
		"InvalidationsPublished": "invalidations_published", "DisableFillGuard": "disable_fill_guard", "Area": "area",
	} {
		if got := admin.SnakeCase(in); got != want {
			t.Errorf("SnakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEmptySelectionIsAnEmptyList: the dashboard reads caches as a list, also when
// an area filter keeps none.
func TestEmptySelectionIsAnEmptyList(t *testing.T) {
	hs, _ := adminFixture(t)
	body := string(get(t, hs.URL+"/debug/cache/caches.json?area=nope&probe=0"))
	if !strings.Contains(body, `"caches": []`) || strings.Contains(body, `"points"`) {
		t.Fatalf("caches.json of no cache: %s", body)
	}
	body = string(get(t, hs.URL+"/debug/cache/points.json?area=nope"))
	if !strings.Contains(body, `"points": []`) || strings.Contains(body, `"caches"`) {
		t.Fatalf("points.json of no cache: %s", body)
	}
}
