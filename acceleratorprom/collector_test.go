package acceleratorprom_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/acceleratorprom"
	"github.com/accelerator-go/accelerator/metrics"
)

func newCache[K comparable, V any](t *testing.T, opts accelerator.Options[K, V]) *accelerator.Cache[K, V] {
	t.Helper()
	c, err := accelerator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// scrape serves reg through promhttp and parses what a Prometheus server would read.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	hs := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer hs.Close()
	req, _ := http.NewRequest(http.MethodGet, hs.URL, nil)
	req.Header.Set("Accept", "text/plain") // the text format, not protobuf
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return families
}

func series(m *dto.Metric) string {
	var kv []string
	for _, l := range m.GetLabel() {
		kv = append(kv, l.GetName()+"="+l.GetValue())
	}
	return "{" + strings.Join(kv, ",") + "}"
}

// TestScrapeShowsEveryPointOfEveryCache scrapes two caches and checks every series
// against the points the OpenTelemetry module exports: same names, kinds, labels and
// values.
func TestScrapeShowsEveryPointOfEveryCache(t *testing.T) {
	users := newCache(t, accelerator.Options[int, string]{
		Area: "users",
		Loader: accelerator.LoaderFunc[int, string](func(_ context.Context, id int) (string, bool, error) {
			return "u", id != 0, nil
		}),
	})
	flags := newCache(t, accelerator.Options[string, bool]{Area: "flags"})
	ctx := context.Background()
	for _, id := range []int{1, 1, 2, 0, 1} {
		users.Get(ctx, id)
	}
	if err := flags.Set(ctx, "dark", true); err != nil {
		t.Fatal(err)
	}
	flags.Get(ctx, "dark")

	reg := prometheus.NewRegistry()
	reg.MustRegister(acceleratorprom.MustNewCollector(users, flags))
	families := scrape(t, reg)

	want := make(map[string]float64)
	kinds := make(map[string]metrics.Kind)
	for _, c := range []acceleratorprom.Cache{users, flags} {
		for _, p := range metrics.Points(c.MetricsSnapshot(), c.Status()) {
			kv := make([]string, len(p.Labels))
			for i, l := range p.Labels {
				kv[i] = l.Name + "=" + l.Value
			}
			// The scrape sorts labels by name.
			want[p.Name+sortedLabels(kv)] = p.Value
			kinds[p.Name] = p.Kind
		}
	}
	got := make(map[string]float64)
	for name, f := range families {
		wantType := dto.MetricType_GAUGE
		if kinds[name] == metrics.Counter {
			wantType = dto.MetricType_COUNTER
		}
		if _, ok := kinds[name]; !ok || f.GetType() != wantType || f.GetHelp() == "" {
			t.Errorf("family %s: type %v, help %q", name, f.GetType(), f.GetHelp())
		}
		for _, m := range f.GetMetric() {
			v := m.GetGauge().GetValue()
			if f.GetType() == dto.MetricType_COUNTER {
				v = m.GetCounter().GetValue()
			}
			got[name+series(m)] = v
		}
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d series scraped, %d points", len(got), len(want))
	}
	for k, w := range map[string]float64{
		"accelerator_cache_gets_total{area=users,layer=l1,result=hit}":      2,
		"accelerator_cache_gets_total{area=users,layer=l1,result=miss}":     3,
		"accelerator_cache_load_results_total{area=users,result=not_found}": 1,
		"accelerator_cache_hit_ratio{area=flags,layer=l1}":                  1,
		"accelerator_cache_local_entries{area=users}":                       2,
	} {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
}

func sortedLabels(kv []string) string {
	for i := 1; i < len(kv); i++ {
		for j := i; j > 0 && kv[j] < kv[j-1]; j-- {
			kv[j], kv[j-1] = kv[j-1], kv[j]
		}
	}
	return "{" + strings.Join(kv, ",") + "}"
}

// TestCollectorPassesTheLinter: names, help and types as Prometheus wants them.
func TestCollectorPassesTheLinter(t *testing.T) {
	c := newCache(t, accelerator.Options[string, string]{Area: "lint"})
	problems, err := testutil.CollectAndLint(acceleratorprom.MustNewCollector(c))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestCachesMustHaveDistinctAreas(t *testing.T) {
	a := newCache(t, accelerator.Options[string, string]{Area: "same"})
	b := newCache(t, accelerator.Options[string, int]{Area: "same"})
	if _, err := acceleratorprom.NewCollector(a, b); err == nil {
		t.Fatal("two caches of one area accepted")
	}
}
