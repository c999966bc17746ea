package metrics

import (
	"context"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/accelerator-go/accelerator"
)

var update = flag.Bool("update", false, "rewrite the metrics table of docs/observability.md")

// TestBadTablesAreRejected pins the checks of the counter table: a tag the exporters
// could not use must fail every test of this package at init, not export garbage.
func TestBadTablesAreRejected(t *testing.T) {
	for name, typ := range map[string]reflect.Type{
		"not uint64": reflect.TypeFor[struct {
			A int `metric:"a_total" unit:"1" help:"h"`
		}](),
		"no _total": reflect.TypeFor[struct {
			A uint64 `metric:"a" unit:"1" help:"h"`
		}](),
		"no help": reflect.TypeFor[struct {
			A uint64 `metric:"a_total" unit:"1"`
		}](),
		"help twice": reflect.TypeFor[struct {
			A uint64 `metric:"a_total" unit:"1" help:"h" labels:"x=1"`
			B uint64 `metric:"a_total" unit:"1" help:"h" labels:"x=2"`
		}](),
		"labels differ": reflect.TypeFor[struct {
			A uint64 `metric:"a_total" unit:"1" help:"h" labels:"x=1"`
			B uint64 `metric:"a_total" labels:"y=2"`
		}](),
		"bad label": reflect.TypeFor[struct {
			A uint64 `metric:"a_total" unit:"1" help:"h" labels:"x"`
		}](),
		"area label": reflect.TypeFor[struct {
			A uint64 `metric:"a_total" unit:"1" help:"h" labels:"area=x"`
		}](),
	} {
		if _, _, err := parseTable(typ); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestEveryCounterFieldIsAMetric checks that no uint64 field of MetricsSnapshot is
// left out of the exporters.
func TestEveryCounterFieldIsAMetric(t *testing.T) {
	typ := reflect.TypeFor[accelerator.MetricsSnapshot]()
	n := 0
	for i := range typ.NumField() {
		if typ.Field(i).Type.Kind() == reflect.Uint64 {
			n++
		}
	}
	if n != len(fields) || n < 28 {
		t.Fatalf("%d uint64 fields, %d counter fields exported", n, len(fields))
	}
}

func newCache(t *testing.T) *accelerator.Cache[string, string] {
	t.Helper()
	c, err := accelerator.New(accelerator.Options[string, string]{
		Area: "users",
		Loader: accelerator.LoaderFunc[string, string](func(_ context.Context, k string) (string, bool, error) {
			return "v", k != "missing", nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPointsMirrorTheSnapshot checks each counter point against the snapshot field
// it comes from, and the gauges of a local cache.
func TestPointsMirrorTheSnapshot(t *testing.T) {
	c := newCache(t)
	ctx := context.Background()
	for _, k := range []string{"a", "a", "b", "missing", "a"} {
		c.Get(ctx, k)
	}
	m, s := c.MetricsSnapshot(), c.Status()
	pts := Points(m, s)
	got := make(map[string]float64)
	for _, p := range pts {
		if p.Labels[0] != (Label{"area", "users"}) {
			t.Fatalf("%s: labels %v", p.Name, p.Labels)
		}
		got[key(p.Name, p.Labels[1:])] = p.Value
	}
	mv := reflect.ValueOf(m)
	for _, f := range fields {
		d := descs[f.metric]
		labels := make([]Label, len(d.Labels))
		for i := range labels {
			labels[i] = Label{d.Labels[i], f.values[i]}
		}
		k := key(d.Name, labels)
		if v, ok := got[k]; !ok || v != float64(mv.Field(f.index).Uint()) {
			t.Errorf("%s = %v (present %v), want %d", k, v, ok, mv.Field(f.index).Uint())
		}
	}
	want := map[string]float64{
		"accelerator_cache_gets_total{layer=l1,result=hit}":  2,
		"accelerator_cache_gets_total{layer=l1,result=miss}": 3,
		"accelerator_cache_loader_calls_total{loader=load}":  3,
		"accelerator_cache_hit_ratio{layer=l1}":              0.4,
		"accelerator_cache_local_entries":                    2,
		"accelerator_cache_loads_in_flight":                  0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for _, absent := range []string{"accelerator_cache_hit_ratio{layer=l2}", "accelerator_cache_local_weight",
		"accelerator_cache_breaker_state{state=closed}", "accelerator_cache_invalidation_subscribed"} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s present in a local cache", absent)
		}
	}
	if len(pts) != len(fields)+3 {
		t.Errorf("%d points, want %d counters and 3 gauges", len(pts), len(fields))
	}
}

// TestPointsOfTheRemoteGauges checks the gauges a local cache cannot show.
func TestPointsOfTheRemoteGauges(t *testing.T) {
	s := accelerator.Status{RemoteBackend: "*x.Remote", Breaker: "open", Subscriber: accelerator.SubscriberState{Enabled: true}}
	got := make(map[string]float64)
	for _, p := range Points(accelerator.MetricsSnapshot{Area: "a", RemoteHits: 1, RemoteMisses: 3}, s) {
		got[key(p.Name, p.Labels[1:])] = p.Value
	}
	for k, v := range map[string]float64{
		"accelerator_cache_hit_ratio{layer=l2}":            0.25,
		"accelerator_cache_breaker_state{state=open}":      1,
		"accelerator_cache_breaker_state{state=closed}":    0,
		"accelerator_cache_breaker_state{state=half-open}": 0,
		"accelerator_cache_invalidation_subscribed":        0,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

func key(name string, labels []Label) string {
	if len(labels) == 0 {
		return name
	}
	kv := make([]string, len(labels))
	for i, l := range labels {
		kv[i] = l.Name + "=" + l.Value
	}
	return name + "{" + strings.Join(kv, ",") + "}"
}

// Markers around the generated table in docs/observability.md.
const (
	docBegin = "<!-- metrics table: generated from MetricsSnapshot by `go test ./metrics -update`; do not edit -->\n"
	docEnd   = "<!-- end of metrics table -->\n"
)

// docTable renders All as the table of docs/observability.md.
func docTable() string {
	var b strings.Builder
	b.WriteString("| name | kind | unit | labels (besides `area`) | from | what it counts |\n|---|---|---|---|---|---|\n")
	for _, d := range All() {
		labels := make([]string, len(d.Labels))
		for i, l := range d.Labels {
			labels[i] = "`" + l + "`"
		}
		sources := make([]string, len(d.Sources))
		for i, s := range d.Sources {
			sources[i] = "`" + s + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s | %s | %s |\n", d.Name, d.Kind, d.Unit,
			strings.Join(labels, ", "), strings.Join(sources, ", "), d.Help)
	}
	return b.String()
}

// TestDocsTableIsInStep fails when docs/observability.md does not list the metrics
// as All describes them: a counter added to MetricsSnapshot must be documented (run
// go test ./metrics -update to rewrite the table).
func TestDocsTableIsInStep(t *testing.T) {
	const path = "../docs/observability.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	before, rest, ok1 := strings.Cut(doc, docBegin)
	table, after, ok2 := strings.Cut(rest, docEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no generated metrics table (markers %q ... %q)", path, docBegin, docEnd)
	}
	want := docTable()
	if table == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(before+docBegin+want+docEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("the metrics table of %s is out of date; run go test ./metrics -update\nwant:\n%s", path, want)
}

// BenchmarkPoints: what an exporter pays per cache and scrape, status included.
func BenchmarkPoints(b *testing.B) {
	c, err := accelerator.New(accelerator.Options[int, int]{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for i := range 1000 {
		c.Set(context.Background(), i, i)
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(Points(c.MetricsSnapshot(), c.Status()))
	}
	b.ReportMetric(float64(n), "points")
}
