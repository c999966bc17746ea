package admin

import (
	"maps"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/metrics"
)

// SchemaVersion is the version of the JSON documents the handler serves, in their
// field schema_version. It changes only when a field is removed or changes meaning;
// fields may be added within a version.
const SchemaVersion = 1

// Document is every JSON document of the handler: the schema version, when it was
// taken, and one entry per cache. Metrics and Diagnostics are set or not according
// to the path (see [NewHandler]).
type Document struct {
	SchemaVersion int       `json:"schema_version"`
	TakenAt       time.Time `json:"taken_at"`
	// Caches has one entry per cache, in every document but /points.json.
	Caches []CacheView `json:"caches,omitzero"`
	// Points are the metric points of every cache, in /points.json only.
	Points []PointView `json:"points,omitzero"`
}

// CacheView is what the handler shows of one cache.
type CacheView struct {
	Area        string       `json:"area"`
	Metrics     *MetricsView `json:"metrics,omitempty"`
	Diagnostics *Diagnostics `json:"diagnostics,omitempty"`
}

// MetricsView is an [accelerator.MetricsSnapshot] as JSON.
type MetricsView struct {
	// Counters holds every counter of the snapshot, named as its field in snake
	// case: LocalHits is local_hits, MLoads m_loads. A counter added to the snapshot
	// appears here.
	Counters map[string]uint64 `json:"counters"`
	// LocalHitRatio and RemoteHitRatio are those of the snapshot, over the life of
	// the cache.
	LocalHitRatio  float64 `json:"local_hit_ratio"`
	RemoteHitRatio float64 `json:"remote_hit_ratio"`
}

// PointView is a [metrics.Point] as JSON.
type PointView struct {
	Name   string            `json:"name"`
	Kind   string            `json:"kind"`
	Unit   string            `json:"unit"`
	Value  float64           `json:"value"`
	Labels map[string]string `json:"labels"`
}

// RemoteState is what a cache knows of its remote layer.
type RemoteState string

// The remote states. A cache learns them from its own calls, and from
// [accelerator.Cache.ProbeRemote].
const (
	// RemoteDisabled: the cache has no remote layer.
	RemoteDisabled RemoteState = "disabled"
	// RemoteUnknown: no remote call has ended yet.
	RemoteUnknown RemoteState = "unknown"
	// RemoteReady: the last remote call (or probe) succeeded.
	RemoteReady RemoteState = "ready"
	// RemoteFailing: the last remote call (or probe) failed, but the circuit breaker
	// is still closed.
	RemoteFailing RemoteState = "failing"
	// RemoteUnavailable: the circuit breaker is open or half-open: remote calls fail
	// at once with [accelerator.ErrCircuitOpen] and reads go to the loader.
	RemoteUnavailable RemoteState = "unavailable"
)

// Diagnostics is the diagnostic snapshot of a cache: its effective configuration
// (without secrets), the state of each layer and of the connection to Redis, the
// invalidation subscriber, the loads, and the last failure of each kind. It carries
// no key, no value, no credential and no error text (a text may name keys): failures
// are given by kind.
type Diagnostics struct {
	Area    string    `json:"area"`
	Mode    string    `json:"mode"`
	TakenAt time.Time `json:"taken_at"`
	Closed  bool      `json:"closed"`
	// Config is the effective configuration: every field of accelerator.Options in
	// snake case, durations in seconds under a name ending in _seconds
	// (local_ttl_seconds), backends, loaders and codecs by Go type.
	Config       map[string]any   `json:"config"`
	Local        LocalView        `json:"local"`
	Remote       RemoteView       `json:"remote"`
	Invalidation InvalidationView `json:"invalidation"`
	Loads        LoadsView        `json:"loads"`
	// LastErrors has one entry per kind of failure seen since the cache started,
	// sorted by kind.
	LastErrors []ErrorView `json:"last_errors"`
}

// LocalView is the state of L1.
type LocalView struct {
	Enabled bool   `json:"enabled"`
	Backend string `json:"backend,omitempty"`
	// Entries is the number of entries held, an estimate; Weight their total weight
	// for an L1 bounded by weight, else 0.
	Entries int    `json:"entries"`
	Weight  uint64 `json:"weight"`
}

// RemoteView is the state of L2 and of the connection to it.
type RemoteView struct {
	Enabled bool   `json:"enabled"`
	Backend string `json:"backend,omitempty"`
	// State sums up the rest.
	State RemoteState `json:"state"`
	// Breaker is "closed", "open", "half-open" or "disabled".
	Breaker string `json:"breaker"`
	// LastSuccess and LastFailure are when a remote call last succeeded and failed;
	// absent: never.
	LastSuccess time.Time  `json:"last_success,omitzero"`
	LastFailure time.Time  `json:"last_failure,omitzero"`
	Probe       *ProbeView `json:"probe,omitempty"`
}

// ProbeView is an [accelerator.RemoteProbe], its error by kind only.
type ProbeView struct {
	At             time.Time `json:"at"`
	LatencySeconds float64   `json:"latency_seconds"`
	OK             bool      `json:"ok"`
	ErrorKind      string    `json:"error_kind,omitempty"`
}

// InvalidationView is the state of the invalidation subscriber.
type InvalidationView struct {
	// State is "disabled", "subscribed" (the subscription is confirmed and alive) or
	// "disconnected" (starting, or broken and subscribing again).
	State       string            `json:"state"`
	Channel     string            `json:"channel,omitempty"`
	Since       time.Time         `json:"since,omitzero"`
	LastMessage time.Time         `json:"last_message,omitzero"`
	Reconnects  uint64            `json:"reconnects"`
	Flushes     map[string]uint64 `json:"flushes"`
}

// LoadsView is the state of the loads from the source of truth.
type LoadsView struct {
	InFlight        int `json:"in_flight"`
	RefreshBackoffs int `json:"refresh_backoffs"`
}

// ErrorView sums up one kind of failure, without its text.
type ErrorView struct {
	Kind      string    `json:"kind"`
	Op        string    `json:"op"`
	ErrorKind string    `json:"error_kind"`
	Count     uint64    `json:"count"`
	LastAt    time.Time `json:"last_at"`
}

// Metrics returns the metrics view of a snapshot.
func Metrics(s accelerator.MetricsSnapshot) MetricsView {
	v := reflect.ValueOf(s)
	counters := make(map[string]uint64, v.NumField())
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Uint64 {
			counters[SnakeCase(v.Type().Field(i).Name)] = f.Uint()
		}
	}
	return MetricsView{Counters: counters, LocalHitRatio: s.LocalHitRatio(), RemoteHitRatio: s.RemoteHitRatio()}
}

// Diagnose returns the diagnostic snapshot of a cache's status.
func Diagnose(s accelerator.Status) Diagnostics {
	d := Diagnostics{
		Area:    s.Area,
		Mode:    s.Mode.String(),
		TakenAt: s.TakenAt,
		Closed:  s.Closed,
		Config:  make(map[string]any, len(s.Config)),
		Local: LocalView{Enabled: s.LocalBackend != "", Backend: s.LocalBackend,
			Entries: s.LocalEntries, Weight: s.LocalWeight},
		Remote:     remoteView(s),
		Loads:      LoadsView{InFlight: s.LoadsInFlight, RefreshBackoffs: s.RefreshBackoffs},
		LastErrors: make([]ErrorView, len(s.Errors)),
	}
	for _, st := range s.Config {
		name := SnakeCase(st.Name)
		if dur, ok := st.Value.(time.Duration); ok {
			d.Config[name+"_seconds"] = dur.Seconds()
			continue
		}
		d.Config[name] = st.Value
	}
	for i, e := range s.Errors {
		d.LastErrors[i] = ErrorView{Kind: e.Kind, Op: e.Op, ErrorKind: e.ErrorKind, Count: e.Count, LastAt: e.LastAt}
	}
	d.Invalidation = InvalidationView{State: "disabled", Flushes: map[string]uint64{}}
	if sub := s.Subscriber; sub.Enabled {
		d.Invalidation = InvalidationView{State: "disconnected", Channel: sub.Channel, Since: sub.Since,
			LastMessage: sub.LastMessage, Reconnects: sub.Reconnects, Flushes: maps.Clone(sub.Flushes)}
		if sub.Connected {
			d.Invalidation.State = "subscribed"
		}
		if d.Invalidation.Flushes == nil {
			d.Invalidation.Flushes = map[string]uint64{}
		}
	}
	return d
}

func remoteView(s accelerator.Status) RemoteView {
	if s.RemoteBackend == "" {
		return RemoteView{State: RemoteDisabled, Breaker: s.Breaker}
	}
	r := RemoteView{Enabled: true, Backend: s.RemoteBackend, Breaker: s.Breaker,
		LastSuccess: s.RemoteLastSuccess, LastFailure: s.RemoteLastFailure}
	ok, failed := s.RemoteLastSuccess, s.RemoteLastFailure
	if p := s.RemoteProbe; p != nil {
		r.Probe = &ProbeView{At: p.At, LatencySeconds: p.Latency.Seconds(), OK: p.OK, ErrorKind: p.ErrorKind}
		if p.OK && p.At.After(ok) {
			ok = p.At
		} else if !p.OK && p.At.After(failed) {
			failed = p.At
		}
	}
	switch {
	case s.Breaker == "open" || s.Breaker == "half-open":
		r.State = RemoteUnavailable
	case !failed.IsZero() && !failed.Before(ok): // equal: in one tick of the coarse clock; assume the worst
		r.State = RemoteFailing
	case !ok.IsZero():
		r.State = RemoteReady
	default:
		r.State = RemoteUnknown
	}
	return r
}

// Points returns the metric points of a cache as JSON views.
func Points(m accelerator.MetricsSnapshot, s accelerator.Status) []PointView {
	units := make(map[string]string)
	for _, d := range metrics.All() {
		units[d.Name] = d.Unit
	}
	pts := metrics.Points(m, s)
	out := make([]PointView, len(pts))
	for i, p := range pts {
		labels := make(map[string]string, len(p.Labels))
		for _, l := range p.Labels {
			labels[l.Name] = l.Value
		}
		out[i] = PointView{Name: p.Name, Kind: string(p.Kind), Unit: units[p.Name], Value: p.Value, Labels: labels}
	}
	return out
}

// SnakeCase turns a Go field name into the name of its JSON field: LocalHits is
// local_hits, LocalTTL local_ttl, TTLJitter ttl_jitter, MLoads m_loads.
func SnakeCase(name string) string {
	r := []rune(name)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}
