// Package admin serves the state of accelerator caches to operators: a read-only
// [http.Handler] with JSON views of their counters, metric points and diagnostic
// snapshots, and a live dashboard page that polls them.
//
// Mount it on an admin listener, under a prefix, with [http.StripPrefix]:
//
//	mux.Handle("/debug/cache/", http.StripPrefix("/debug/cache", admin.NewHandler(users, orders)))
//
// WARNING: the handler has no access control of its own: serve it on an admin
// listener or behind authentication. It shows no keys, values, credentials or error
// texts.
package admin

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/accelerator-go/accelerator"
)

// Cache is what the handler reads from a cache, whatever its key and value types:
// [*accelerator.Cache] implements it.
type Cache interface {
	// MetricsSnapshot returns a copy of the counters.
	MetricsSnapshot() accelerator.MetricsSnapshot
	// Status returns the configuration and state; it does no I/O.
	Status() accelerator.Status
	// ProbeRemote checks that the remote layer answers now.
	ProbeRemote(ctx context.Context) accelerator.RemoteProbe
}

var _ Cache = (*accelerator.Cache[string, int])(nil)

//go:embed dashboard
var dashboard embed.FS

// NewHandler returns a read-only [http.Handler] over caches:
//
//   - GET /: the dashboard, a page that polls /caches.json and shows, for each
//     cache, its hit ratio per layer over the last minutes, loads and errors per
//     second, the breaker, the invalidation subscriber, L1 and the last errors;
//   - GET /caches.json: the metrics and diagnostics of each cache;
//   - GET /metrics.json: the metrics of each cache ([MetricsView]);
//   - GET /diagnostics.json: the diagnostics of each cache ([Diagnostics]);
//   - GET /points.json: the metric points of every cache, named as the exporters
//     name them.
//
// Every JSON document is a [Document], with the schema version first. The query
// parameter area=name keeps the caches of that area. Before the diagnostics, each
// cache that has a remote layer is probed ([accelerator.Cache.ProbeRemote],
// concurrently, each bounded by its RemoteTimeout and the request), so that they say
// whether Redis answers now; probe=0 skips that and reports what the caches learned
// from their own calls (the dashboard does). HEAD is answered like GET without a
// body; any other method gets 405 Method Not Allowed.
func NewHandler(caches ...Cache) http.Handler {
	h := &handler{caches: caches}
	page, err := fs.Sub(dashboard, "dashboard")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", pageHeaders(http.FileServerFS(page)))
	mux.HandleFunc("GET /caches.json", h.serve(true, true))
	mux.HandleFunc("GET /metrics.json", h.serve(true, false))
	mux.HandleFunc("GET /diagnostics.json", h.serve(false, true))
	mux.HandleFunc("GET /points.json", h.points)
	return mux
}

type handler struct {
	caches []Cache
}

// pageHeaders forbids the page from loading anything from elsewhere.
func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// selected returns the caches the request asks for.
func (h *handler) selected(r *http.Request) []Cache {
	area, ok := r.URL.Query()["area"]
	if !ok {
		return h.caches
	}
	var out []Cache
	for _, c := range h.caches {
		if c.MetricsSnapshot().Area == area[0] {
			out = append(out, c)
		}
	}
	return out
}

func (h *handler) serve(withMetrics, withDiagnostics bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		caches := h.selected(r)
		if withDiagnostics {
			probe(r, caches)
		}
		doc := Document{SchemaVersion: SchemaVersion, TakenAt: time.Now(), Caches: make([]CacheView, len(caches))}
		for i, c := range caches {
			m := c.MetricsSnapshot()
			v := CacheView{Area: m.Area}
			if withMetrics {
				mv := Metrics(m)
				v.Metrics = &mv
			}
			if withDiagnostics {
				d := Diagnose(c.Status())
				v.Diagnostics = &d
			}
			doc.Caches[i] = v
		}
		writeJSON(w, doc)
	}
}

func (h *handler) points(w http.ResponseWriter, r *http.Request) {
	doc := Document{SchemaVersion: SchemaVersion, TakenAt: time.Now(), Points: []PointView{}}
	for _, c := range h.selected(r) {
		doc.Points = append(doc.Points, Points(c.MetricsSnapshot(), c.Status())...)
	}
	writeJSON(w, doc)
}

// probe probes the remote layers of caches, unless the request says probe=0.
func probe(r *http.Request, caches []Cache) {
	if r.URL.Query().Get("probe") == "0" {
		return
	}
	var wg sync.WaitGroup
	for _, c := range caches {
		wg.Go(func() { c.ProbeRemote(r.Context()) })
	}
	wg.Wait()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// The status is sent already: a failure here leaves the client a truncated
	// document, which it cannot parse.
	_ = enc.Encode(v)
}
