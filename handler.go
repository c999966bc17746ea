package accelerator

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
)

// NewAdminHandler returns a read-only [http.Handler] that serves the snapshots of
// caches as JSON, for an admin endpoint:
//
//   - GET /metrics.json: the [MetricsSnapshot] of each cache, with its hit ratios;
//   - GET /diagnostics.json: the [DiagnosticSnapshot] of each cache;
//   - GET /otel.json: the [MetricPoint]s of every cache, in one list;
//   - GET /: all three, cache by cache, in one document.
//
// The query parameter area=name keeps the caches of that area. Before the
// diagnostics, each cache that has a remote layer is probed ([Cache.ProbeRemote],
// concurrently, each bounded by its [Options.RemoteTimeout] and the request), so that
// they say whether Redis answers now; probe=0 skips that and reports what the caches
// learned from their own calls. HEAD is answered like GET without a body; any other
// method gets 405 Method Not Allowed.
//
// Mount it under a prefix with [http.StripPrefix]:
//
//	mux.Handle("/debug/cache/", http.StripPrefix("/debug/cache", accelerator.NewAdminHandler(users, orders)))
//
// WARNING: the handler has no access control of its own: serve it on an admin
// listener or behind authentication. It shows no keys, values or credentials, but the
// error texts it shows come from the loaders and from Redis.
func NewAdminHandler(caches ...Inspectable) http.Handler {
	h := &adminHandler{caches: caches}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.all)
	mux.HandleFunc("GET /metrics.json", h.metrics)
	mux.HandleFunc("GET /diagnostics.json", h.diagnostics)
	mux.HandleFunc("GET /otel.json", h.points)
	return mux
}

type adminHandler struct {
	caches []Inspectable
}

// metricsView is a [MetricsSnapshot] with its derived ratios, as served.
type metricsView struct {
	MetricsSnapshot
	LocalHitRatio, RemoteHitRatio float64
}

func viewMetrics(s MetricsSnapshot) metricsView {
	return metricsView{MetricsSnapshot: s, LocalHitRatio: s.LocalHitRatio(), RemoteHitRatio: s.RemoteHitRatio()}
}

// remoteProber is implemented by [*Cache].
type remoteProber interface {
	ProbeRemote(ctx context.Context) RemoteProbe
}

// selected returns the caches the request asks for.
func (h *adminHandler) selected(r *http.Request) []Inspectable {
	area, ok := r.URL.Query()["area"]
	if !ok {
		return h.caches
	}
	var out []Inspectable
	for _, c := range h.caches {
		if c.MetricsSnapshot().Area == area[0] {
			out = append(out, c)
		}
	}
	return out
}

func (h *adminHandler) metrics(w http.ResponseWriter, r *http.Request) {
	caches := h.selected(r)
	out := make([]metricsView, len(caches))
	for i, c := range caches {
		out[i] = viewMetrics(c.MetricsSnapshot())
	}
	writeJSON(w, out)
}

func (h *adminHandler) diagnostics(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, diagnose(r, h.selected(r)))
}

func (h *adminHandler) points(w http.ResponseWriter, r *http.Request) {
	out := []MetricPoint{}
	for _, c := range h.selected(r) {
		out = append(out, c.OTelMetricPoints()...)
	}
	writeJSON(w, out)
}

// cacheView is everything the handler knows of one cache.
type cacheView struct {
	Area        string
	Metrics     metricsView
	Diagnostics DiagnosticSnapshot
	Points      []MetricPoint
}

func (h *adminHandler) all(w http.ResponseWriter, r *http.Request) {
	caches := h.selected(r)
	diags := diagnose(r, caches)
	out := make([]cacheView, len(caches))
	for i, c := range caches {
		out[i] = cacheView{
			Area:        diags[i].Area,
			Metrics:     viewMetrics(c.MetricsSnapshot()),
			Diagnostics: diags[i],
			Points:      c.OTelMetricPoints(),
		}
	}
	writeJSON(w, out)
}

// diagnose probes the remote layers of caches, unless the request says probe=0, and
// returns their diagnostic snapshots.
func diagnose(r *http.Request, caches []Inspectable) []DiagnosticSnapshot {
	if r.URL.Query().Get("probe") != "0" {
		var wg sync.WaitGroup
		for _, c := range caches {
			if p, ok := c.(remoteProber); ok {
				wg.Go(func() { p.ProbeRemote(r.Context()) })
			}
		}
		wg.Wait()
	}
	out := make([]DiagnosticSnapshot, len(caches))
	for i, c := range caches {
		out[i] = c.DiagnosticSnapshot()
	}
	return out
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
