package accelerator_test

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/internal/redistest"
)

// pointKey is name{k=v,...}, attributes in order.
func pointKey(p accelerator.MetricPoint) string {
	var b strings.Builder
	b.WriteString(p.Name + "{")
	for i, a := range p.Attributes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.Key + "=" + a.Value)
	}
	b.WriteByte('}')
	return b.String()
}

func pointMap(t *testing.T, pts []accelerator.MetricPoint) map[string]accelerator.MetricPoint {
	t.Helper()
	m := make(map[string]accelerator.MetricPoint, len(pts))
	for _, p := range pts {
		k := pointKey(p)
		if _, dup := m[k]; dup {
			t.Fatalf("two points %s", k)
		}
		m[k] = p
	}
	return m
}

// TestMetricPointsMirrorTheSnapshot: every counter of MetricsSnapshot is one point,
// with the same value, under the name the docs give it.
func TestMetricPointsMirrorTheSnapshot(t *testing.T) {
	srv := redistest.Start(t)
	ld := &countingLoader[string, int]{data: map[string]int{"a": 1, "b": 2}}
	c := newCache(t, accelerator.Options[string, int]{
		Area: "mirror", Remote: newRemote(t, srv.URL()), Loader: ld, MLoader: ld, CacheNullValue: true,
	})
	ctx := context.Background()
	c.Get(ctx, "a")
	c.Get(ctx, "a")
	c.Get(ctx, "zz")
	c.Get(ctx, "zz")
	c.MGet(ctx, []string{"a", "b", "c"})
	s := c.MetricsSnapshot()
	pts := pointMap(t, c.OTelMetricPoints())
	a := "area=mirror"
	want := map[string]uint64{
		"accelerator_cache_gets_total{" + a + ",layer=l1,result=hit}":         s.LocalHits,
		"accelerator_cache_gets_total{" + a + ",layer=l1,result=miss}":        s.LocalMisses,
		"accelerator_cache_gets_total{" + a + ",layer=l2,result=hit}":         s.RemoteHits,
		"accelerator_cache_gets_total{" + a + ",layer=l2,result=miss}":        s.RemoteMisses,
		"accelerator_cache_null_hits_total{" + a + "}":                        s.NullHits,
		"accelerator_cache_remote_errors_total{" + a + "}":                    s.RemoteErrors,
		"accelerator_cache_remote_rejected_total{" + a + "}":                  s.RemoteRejected,
		"accelerator_cache_breaker_opens_total{" + a + "}":                    s.BreakerOpens,
		"accelerator_cache_decode_errors_total{" + a + "}":                    s.DecodeErrors,
		"accelerator_cache_loader_calls_total{" + a + ",loader=load}":         s.Loads,
		"accelerator_cache_loader_calls_total{" + a + ",loader=mload}":        s.MLoads,
		"accelerator_cache_load_keys_total{" + a + "}":                        s.LoadedKeys,
		"accelerator_cache_load_results_total{" + a + ",result=found}":        s.LoadFound,
		"accelerator_cache_load_results_total{" + a + ",result=not_found}":    s.LoadNotFound,
		"accelerator_cache_load_errors_total{" + a + "}":                      s.LoadErrors,
		"accelerator_cache_load_timeouts_total{" + a + "}":                    s.LoadTimeouts,
		"accelerator_cache_load_panics_total{" + a + "}":                      s.LoadPanics,
		"accelerator_cache_shared_loads_total{" + a + "}":                     s.SharedLoads,
		"accelerator_cache_stale_served_total{" + a + "}":                     s.StaleServed,
		"accelerator_cache_refresh_attempts_total{" + a + "}":                 s.RefreshAttempts,
		"accelerator_cache_refresh_results_total{" + a + ",result=success}":   s.RefreshSuccesses,
		"accelerator_cache_refresh_results_total{" + a + ",result=failure}":   s.RefreshFailures,
		"accelerator_cache_invalidation_messages_total{" + a + ",op=publish}": s.InvalidationsPublished,
		"accelerator_cache_invalidation_messages_total{" + a + ",op=receive}": s.InvalidationsReceived,
		"accelerator_cache_invalidation_failures_total{" + a + ",op=publish}": s.PublishFailures,
		"accelerator_cache_invalidation_failures_total{" + a + ",op=receive}": s.ReceiveFailures,
		"accelerator_cache_local_flushes_total{" + a + "}":                    s.LocalFlushes,
		"accelerator_cache_fills_lost_total{" + a + "}":                       s.FillsLost,
		"accelerator_cache_oversized_values_total{" + a + "}":                 s.OversizedValues,
		"accelerator_cache_loads_in_flight{" + a + "}":                        0,
		"accelerator_cache_local_entries{" + a + "}":                          4, // a, zz, b, c
		"accelerator_cache_breaker_state{" + a + ",state=closed}":             1,
		"accelerator_cache_breaker_state{" + a + ",state=open}":               0,
		"accelerator_cache_breaker_state{" + a + ",state=half-open}":          0,
		"accelerator_cache_hit_ratio{" + a + ",layer=l1}":                     0, // checked below
		"accelerator_cache_hit_ratio{" + a + ",layer=l2}":                     0,
	}
	if s.LocalHits == 0 || s.LoadNotFound == 0 || s.MLoads == 0 || s.NullHits == 0 {
		t.Fatalf("the scenario did not move the counters: %+v", s)
	}
	for k, w := range want {
		p, ok := pts[k]
		switch {
		case !ok:
			t.Errorf("no point %s", k)
		case strings.HasPrefix(k, "accelerator_cache_hit_ratio{"+a+",layer=l1}"):
			if p.Value != s.LocalHitRatio() || p.Kind != accelerator.MetricGauge {
				t.Errorf("%s = %v, want %v", k, p.Value, s.LocalHitRatio())
			}
		case p.Value != float64(w):
			t.Errorf("%s = %v, want %d", k, p.Value, w)
		}
	}
	for k := range pts {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected point %s", k)
		}
	}
}

// TestGaugesOfMissingLayersAreLeftOut: a local cache has no L2 ratio and no breaker; a
// remote-only cache has no L1 gauges.
func TestGaugesOfMissingLayersAreLeftOut(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		mode    accelerator.Mode
		present []string
		absent  []string
	}{
		{accelerator.ModeLocal, []string{"hit_ratio{area=m,layer=l1}", "local_entries"}, []string{"layer=l2}", "breaker_state"}},
		{accelerator.ModeRemote, []string{"hit_ratio{area=m,layer=l2}", "breaker_state"}, []string{"layer=l1}", "local_entries"}},
	} {
		opts := accelerator.Options[string, int]{Area: "m", Mode: tc.mode}
		if tc.mode == accelerator.ModeRemote {
			opts.Remote = newRemote(t, srv.URL())
		}
		var keys []string
		for _, p := range newCache(t, opts).OTelMetricPoints() {
			if p.Kind == accelerator.MetricGauge {
				keys = append(keys, pointKey(p))
			}
		}
		all := strings.Join(keys, " ")
		for _, s := range tc.present {
			if !strings.Contains(all, s) {
				t.Errorf("mode %v: no %s in %s", tc.mode, s, all)
			}
		}
		for _, s := range tc.absent {
			if strings.Contains(all, s) {
				t.Errorf("mode %v: %s in %s", tc.mode, s, all)
			}
		}
	}
}

// TestEveryMetricPointIsDescribedAndDocumented keeps the points, MetricDescriptions
// and the table of docs/observability.md in step.
func TestEveryMetricPointIsDescribedAndDocumented(t *testing.T) {
	descs := map[string]accelerator.MetricDescription{}
	for _, d := range accelerator.MetricDescriptions() {
		if !regexp.MustCompile(`^accelerator_cache_[a-z0-9_]+$`).MatchString(d.Name) || d.Description == "" || d.Unit == "" {
			t.Errorf("description %+v", d)
		}
		if (d.Kind == accelerator.MetricCounter) != strings.HasSuffix(d.Name, "_total") {
			t.Errorf("%s: counters, and only counters, end in _total", d.Name)
		}
		descs[d.Name] = d
	}
	c := newLocal(t, accelerator.Options[string, int]{Area: "described"})
	for _, p := range c.OTelMetricPoints() {
		d, ok := descs[p.Name]
		if !ok {
			t.Errorf("point %s has no description", p.Name)
			continue
		}
		keys := []string{}
		for _, a := range p.Attributes {
			keys = append(keys, a.Key)
		}
		if p.Kind != d.Kind || p.Unit != d.Unit || !slices.Equal(keys, append([]string{"area"}, d.Attributes...)) {
			t.Errorf("point %+v does not match %+v", p, d)
		}
	}
	doc, err := os.ReadFile("docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("\\| `(accelerator_cache_[a-z0-9_]+)` \\| (counter|gauge) \\|").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
		if d, ok := descs[m[1]]; !ok || string(d.Kind) != m[2] {
			t.Errorf("docs/observability.md lists %s as a %s; the code does not", m[1], m[2])
		}
	}
	for name := range descs {
		if !documented[name] {
			t.Errorf("%s is missing from the table of docs/observability.md", name)
		}
	}
}
