package accelerator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// adminFixture serves two caches of different types, one of them over a real Redis.
func adminFixture(t *testing.T) (*httptest.Server, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	users := newCache(t, accelerator.Options[int64, string]{
		Area: "users", Remote: newRemote(t, srv.URL()), Logger: quiet,
		Loader: accelerator.LoaderFunc[int64, string](func(context.Context, int64) (string, bool, error) { return "u", true, nil }),
	})
	flags := newLocal(t, accelerator.Options[string, bool]{Area: "flags"})
	ctx := context.Background()
	users.Get(ctx, 1)
	users.Get(ctx, 1)
	must(t, flags.Set(ctx, "dark-mode", true))
	flags.Get(ctx, "dark-mode")
	mux := http.NewServeMux()
	mux.Handle("/debug/cache/", http.StripPrefix("/debug/cache", accelerator.NewAdminHandler(users, flags)))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs, srv
}

func getJSON(t *testing.T, url string, into any) *http.Response {
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
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
	return resp
}

func TestAdminHandlerServesEveryDocument(t *testing.T) {
	hs, _ := adminFixture(t)
	base := hs.URL + "/debug/cache"

	var metrics []struct {
		Area                          string
		LocalHits, LocalMisses        uint64
		LocalHitRatio, RemoteHitRatio float64
	}
	getJSON(t, base+"/metrics.json", &metrics)
	if len(metrics) != 2 || metrics[0].Area != "users" || metrics[0].LocalHits != 1 || metrics[0].LocalHitRatio != 0.5 ||
		metrics[1].Area != "flags" || metrics[1].LocalHitRatio != 1 {
		t.Fatalf("metrics.json %+v", metrics)
	}

	var diags []accelerator.DiagnosticSnapshot
	getJSON(t, base+"/diagnostics.json", &diags)
	if len(diags) != 2 || diags[0].Mode != "both" || diags[0].Remote.Probe == nil || !diags[0].Remote.Probe.OK ||
		diags[0].Remote.State != accelerator.RemoteReady || diags[1].Remote.Enabled {
		t.Fatalf("diagnostics.json %+v", diags)
	}

	var points []accelerator.MetricPoint
	getJSON(t, base+"/otel.json", &points)
	areas := map[string]int{}
	for _, p := range points {
		if !strings.HasPrefix(p.Name, "accelerator_cache_") || p.Attributes[0].Key != "area" {
			t.Fatalf("point %+v", p)
		}
		areas[p.Attributes[0].Value]++
	}
	if areas["users"] == 0 || areas["flags"] == 0 || len(areas) != 2 {
		t.Fatalf("points per area %v", areas)
	}

	var all []struct {
		Area        string
		Metrics     map[string]any
		Diagnostics accelerator.DiagnosticSnapshot
		Points      []accelerator.MetricPoint
	}
	getJSON(t, base+"/", &all)
	if len(all) != 2 || all[1].Area != "flags" || all[1].Metrics["LocalHits"] != 1.0 || len(all[1].Points) == 0 ||
		all[1].Diagnostics.Local.Entries != 1 {
		t.Fatalf("index %+v", all)
	}
}

func TestAdminHandlerFiltersByArea(t *testing.T) {
	hs, _ := adminFixture(t)
	var diags []accelerator.DiagnosticSnapshot
	getJSON(t, hs.URL+"/debug/cache/diagnostics.json?area=flags", &diags)
	if len(diags) != 1 || diags[0].Area != "flags" {
		t.Fatalf("diagnostics of area flags: %+v", diags)
	}
	var points []accelerator.MetricPoint
	getJSON(t, hs.URL+"/debug/cache/otel.json?area=nope", &points)
	if len(points) != 0 {
		t.Fatalf("%d points for an unknown area", len(points))
	}
}

// TestAdminHandlerProbesRedis: the diagnostics say whether Redis answers now, unless
// the request asks not to probe.
func TestAdminHandlerProbesRedis(t *testing.T) {
	hs, srv := adminFixture(t)
	srv.Kill()
	var diags []accelerator.DiagnosticSnapshot
	getJSON(t, hs.URL+"/debug/cache/diagnostics.json?area=users&probe=0", &diags)
	if diags[0].Remote.Probe != nil || diags[0].Remote.State != accelerator.RemoteReady {
		t.Fatalf("without a probe the cache reports what it last saw: %+v", diags[0].Remote)
	}
	getJSON(t, hs.URL+"/debug/cache/diagnostics.json?area=users", &diags)
	p := diags[0].Remote.Probe
	if p == nil || p.OK || p.ErrorKind != "remote" || diags[0].Remote.State != accelerator.RemoteFailing {
		t.Fatalf("with Redis dead: %+v", diags[0].Remote)
	}
}

// TestAdminHandlerIsReadOnly: GET and HEAD only; a write method is refused whatever
// the path.
func TestAdminHandlerIsReadOnly(t *testing.T) {
	hs, _ := adminFixture(t)
	for _, path := range []string{"/", "/metrics.json", "/diagnostics.json", "/otel.json"} {
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
		if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") != "application/json" {
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
