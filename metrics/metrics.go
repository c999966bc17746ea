// Package metrics names the metrics of accelerator caches and turns a cache's
// counters and status into points, for exporters: the modules acceleratorotel
// (OpenTelemetry) and acceleratorprom (Prometheus) and the admin views all use it, so
// that they export the same names.
//
// The counters come from [accelerator.MetricsSnapshot], one metric per tag: a counter
// added there appears here with no other edit. The gauges come from
// [accelerator.Status]. Every name starts with "accelerator_cache_"; counters end in
// "_total". Every point has the label "area" first.
package metrics

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/accelerator-go/accelerator"
)

// Prefix starts the name of every metric.
const Prefix = "accelerator_cache_"

// Kind says how a metric behaves over time.
type Kind string

// The metric kinds.
const (
	// Counter only grows, from 0 when the cache is built: export it as a cumulative
	// monotonic sum (an OpenTelemetry counter, a Prometheus counter).
	Counter Kind = "counter"
	// Gauge is a value at the moment it was read.
	Gauge Kind = "gauge"
)

// Desc describes one metric.
type Desc struct {
	// Name is the metric's name, such as "accelerator_cache_gets_total".
	Name string
	// Kind is Counter or Gauge.
	Kind Kind
	// Unit is a UCUM unit as OpenTelemetry writes them: "1" for ratios and states, an
	// annotation such as "{key}" or "{call}" for counts.
	Unit string
	// Help is one sentence for humans (a Prometheus HELP line).
	Help string
	// Labels are the names of the point labels besides "area", in order.
	Labels []string
	// Sources name where the values come from: the fields of
	// [accelerator.MetricsSnapshot] for a counter, with their label values
	// ("LocalHits{layer=l1,result=hit}"); a field of [accelerator.Status] or a method
	// of the snapshot for a gauge.
	Sources []string
}

// Label is one label of a [Point].
type Label struct {
	Name, Value string
}

// Point is one value of one metric of one cache.
type Point struct {
	// Name is the metric's name; [All] describes it.
	Name string
	// Kind is the metric's kind.
	Kind Kind
	// Value is the value. Counters are whole numbers, exact up to 2^53.
	Value float64
	// Labels are "area" first, then those the metric's [Desc] lists, in that order.
	Labels []Label
}

// counterField is one counter field of MetricsSnapshot: its index, its metric and its
// label values.
type counterField struct {
	index  int
	metric int // index in descs
	values []string
}

var descs, fields = mustParse(parseTable(reflect.TypeFor[accelerator.MetricsSnapshot]()))

func init() { descs = append(descs, gauges...) }

func mustParse(d []Desc, f []counterField, err error) ([]Desc, []counterField) {
	if err != nil {
		panic(err)
	}
	return d, f
}

// parseTable reads the counter table: the tags of t, accelerator.MetricsSnapshot.
func parseTable(t reflect.Type) ([]Desc, []counterField, error) {
	var ds []Desc
	var fs []counterField
	byName := make(map[string]int)
	for i := range t.NumField() {
		f := t.Field(i)
		metric := f.Tag.Get("metric")
		if metric == "" {
			continue
		}
		if f.Type.Kind() != reflect.Uint64 || !strings.HasSuffix(metric, "_total") {
			return nil, nil, fmt.Errorf("metrics: MetricsSnapshot.%s: a counter is a uint64 whose metric ends in _total", f.Name)
		}
		names, values, err := parseLabels(f.Tag.Get("labels"))
		if err != nil {
			return nil, nil, fmt.Errorf("metrics: MetricsSnapshot.%s: %w", f.Name, err)
		}
		name := Prefix + metric
		source := f.Name
		if len(names) > 0 {
			source += "{" + f.Tag.Get("labels") + "}"
		}
		unit, help := f.Tag.Get("unit"), f.Tag.Get("help")
		k, seen := byName[name]
		switch {
		case !seen && (unit == "" || help == ""):
			return nil, nil, fmt.Errorf("metrics: MetricsSnapshot.%s: the first field of %s needs a unit and a help tag", f.Name, name)
		case seen && (unit != "" || help != ""):
			return nil, nil, fmt.Errorf("metrics: MetricsSnapshot.%s: %s has its unit and help on its first field only", f.Name, name)
		case seen && !slices.Equal(ds[k].Labels, names):
			return nil, nil, fmt.Errorf("metrics: MetricsSnapshot.%s: labels %v, but %s has %v", f.Name, names, name, ds[k].Labels)
		case !seen:
			k = len(ds)
			byName[name] = k
			ds = append(ds, Desc{Name: name, Kind: Counter, Unit: unit, Help: help, Labels: names})
		}
		ds[k].Sources = append(ds[k].Sources, source)
		fs = append(fs, counterField{index: i, metric: k, values: values})
	}
	return ds, fs, nil
}

// parseLabels parses "k=v,k=v".
func parseLabels(tag string) (names, values []string, err error) {
	if tag == "" {
		return nil, nil, nil
	}
	for kv := range strings.SplitSeq(tag, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" || k == "area" {
			return nil, nil, fmt.Errorf("bad label %q in %q", kv, tag)
		}
		names, values = append(names, k), append(values, v)
	}
	return names, values, nil
}

// The gauges, read from the status.
var (
	gaugeHitRatio = Desc{Prefix + "hit_ratio", Gauge, "1",
		"Hits / (hits + misses) of a layer since the cache was built; 0 before any read.",
		[]string{"layer"}, []string{"MetricsSnapshot.LocalHitRatio()", "MetricsSnapshot.RemoteHitRatio()"}}
	gaugeLocalEntries = Desc{Prefix + "local_entries", Gauge, "{entry}",
		"Entries held in L1 (an estimate).", nil, []string{"Status.LocalEntries"}}
	gaugeLocalWeight = Desc{Prefix + "local_weight", Gauge, "1",
		"Total weight of the L1 entries, for an L1 bounded by weight; absent while 0.", nil, []string{"Status.LocalWeight"}}
	gaugeLoadsInFlight = Desc{Prefix + "loads_in_flight", Gauge, "{key}",
		"Keys whose single-key load or background refresh is running.", nil, []string{"Status.LoadsInFlight"}}
	gaugeBreakerState = Desc{Prefix + "breaker_state", Gauge, "1",
		"1 for the circuit breaker's current state (closed, open, half-open), 0 for the others.",
		[]string{"state"}, []string{"Status.Breaker"}}
	gaugeSubscribed = Desc{Prefix + "invalidation_subscribed", Gauge, "1",
		"1 while the invalidation subscription is confirmed and alive, 0 otherwise.", nil, []string{"Status.Subscriber.Connected"}}

	gauges = []Desc{gaugeHitRatio, gaugeLocalEntries, gaugeLocalWeight, gaugeLoadsInFlight, gaugeBreakerState, gaugeSubscribed}
)

// breakerStates are the states of Status.Breaker that breaker_state reports.
var breakerStates = []string{"closed", "open", "half-open"}

// All returns every metric that [Points] may return, counters first, in a fixed
// order. Exporters use it to register their instruments up front.
func All() []Desc {
	out := make([]Desc, len(descs))
	for i, d := range descs {
		out[i] = d
		out[i].Labels = slices.Clone(d.Labels)
		out[i].Sources = slices.Clone(d.Sources)
	}
	return out
}

// Points returns the points of one cache: every counter of m, always (at 0 until it
// moves, so that dashboards see stable series), then the gauges of s, those of a
// layer the cache does not have left out. m and s must be of the same cache.
//
// It allocates the returned slices; it is meant for a scrape.
func Points(m accelerator.MetricsSnapshot, s accelerator.Status) []Point {
	w := writer{area: m.Area, pts: make([]Point, 0, len(fields)+10), labels: make([]Label, 0, 3*len(fields)+20)}
	v := reflect.ValueOf(m)
	for _, f := range fields {
		d := &descs[f.metric]
		w.add(d, float64(v.Field(f.index).Uint()), f.values...)
	}
	if s.LocalBackend != "" {
		w.add(&gaugeHitRatio, m.LocalHitRatio(), "l1")
	}
	if s.RemoteBackend != "" {
		w.add(&gaugeHitRatio, m.RemoteHitRatio(), "l2")
	}
	if s.LocalBackend != "" {
		w.add(&gaugeLocalEntries, float64(s.LocalEntries))
		if s.LocalWeight > 0 {
			w.add(&gaugeLocalWeight, float64(s.LocalWeight))
		}
	}
	w.add(&gaugeLoadsInFlight, float64(s.LoadsInFlight))
	if s.Breaker != "disabled" && s.Breaker != "" {
		for _, st := range breakerStates {
			w.add(&gaugeBreakerState, boolValue(s.Breaker == st), st)
		}
	}
	if s.Subscriber.Enabled {
		w.add(&gaugeSubscribed, boolValue(s.Subscriber.Connected))
	}
	return w.pts
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// writer builds the points of one cache, their labels in one array.
type writer struct {
	area   string
	pts    []Point
	labels []Label
}

// add appends a point of d with the label values of d.Labels, in order.
func (w *writer) add(d *Desc, v float64, values ...string) {
	start := len(w.labels)
	w.labels = append(w.labels, Label{Name: "area", Value: w.area})
	for i, name := range d.Labels {
		w.labels = append(w.labels, Label{Name: name, Value: values[i]})
	}
	end := len(w.labels)
	w.pts = append(w.pts, Point{Name: d.Name, Kind: d.Kind, Value: v, Labels: w.labels[start:end:end]})
}
