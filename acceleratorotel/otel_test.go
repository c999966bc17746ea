package acceleratorotel_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/acceleratorotel"
	"github.com/accelerator-go/accelerator/internal/redistest"
	"github.com/accelerator-go/accelerator/metrics"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// The key and value of the traced reads: no span attribute may contain them.
const (
	secretKey   = "user-4711"
	secretValue = "Ada Lovelace"
)

type countingLoader struct {
	calls atomic.Int32
	err   error
	// span is the span the last Load was called under.
	span atomic.Value
}

func (l *countingLoader) Load(ctx context.Context, key string) (string, bool, error) {
	l.calls.Add(1)
	l.span.Store(trace.SpanContextFromContext(ctx))
	if l.err != nil {
		return "", false, l.err
	}
	if key == secretKey {
		return secretValue, true, nil
	}
	return "", false, nil
}

func newTracing(t testing.TB) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, rec
}

func newCache[K comparable, V any](t testing.TB, opts accelerator.Options[K, V]) *accelerator.Cache[K, V] {
	t.Helper()
	c, err := accelerator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newRemote(t testing.TB) *rueidisremote.Remote {
	t.Helper()
	srv := redistest.Start(t)
	r, err := rueidisremote.NewFromURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// wantAttrs checks that span s has exactly the attributes want.
func wantAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[attribute.Key]any) {
	t.Helper()
	got := attrs(s)
	if len(got) != len(want) {
		t.Errorf("span %s has attributes %v, want %v", s.Name(), got, want)
	}
	for k, w := range want {
		v, ok := got[k]
		if !ok || v.AsInterface() != w {
			t.Errorf("span %s: %s = %v, want %v", s.Name(), k, v.AsInterface(), w)
		}
	}
	for _, kv := range s.Attributes() {
		if s := kv.Value.Emit(); strings.Contains(s, secretKey) || strings.Contains(s, secretValue) {
			t.Errorf("attribute %s carries a key or a value: %q", kv.Key, s)
		}
	}
}

// TestSpanTreeOfGetThatMissesL1AndL2AndLoads pins what a read that goes all the way
// to the source looks like in a trace: cache.get under the caller's span, cache.load
// under cache.get, with the area, the layer and the result, against a real Redis.
func TestSpanTreeOfGetThatMissesL1AndL2AndLoads(t *testing.T) {
	tp, rec := newTracing(t)
	remote := newRemote(t)
	ld := &countingLoader{}
	c := newCache(t, accelerator.Options[string, string]{
		Area: "users", Remote: remote, Loader: ld, Tracer: acceleratorotel.NewTracer(tp),
	})
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	unregister, err := acceleratorotel.RegisterMetrics(mp, c)
	if err != nil {
		t.Fatal(err)
	}
	defer unregister()

	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	v, found, err := c.Get(ctx, secretKey)
	parent.End()
	if err != nil || !found || v != secretValue {
		t.Fatalf("Get = %q %v %v", v, found, err)
	}

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans ended, want cache.load, cache.get, request: %v", len(spans), names(spans))
	}
	load, get, req := spans[0], spans[1], spans[2]
	if load.Name() != "cache.load" || get.Name() != "cache.get" || req.Name() != "request" {
		t.Fatalf("spans %v, want [cache.load cache.get request]", names(spans))
	}
	if get.Parent().SpanID() != req.SpanContext().SpanID() {
		t.Errorf("cache.get is not a child of the caller's span")
	}
	if load.Parent().SpanID() != get.SpanContext().SpanID() {
		t.Errorf("cache.load is not a child of cache.get")
	}
	if load.SpanContext().TraceID() != req.SpanContext().TraceID() {
		t.Errorf("cache.load is in another trace")
	}
	if sc, _ := ld.span.Load().(trace.SpanContext); sc.SpanID() != load.SpanContext().SpanID() {
		t.Errorf("the loader ran under span %v, not cache.load", sc.SpanID())
	}
	for _, s := range []sdktrace.ReadOnlySpan{get, load} {
		if s.Status().Code != codes.Unset || s.InstrumentationScope().Name != acceleratorotel.ScopeName {
			t.Errorf("span %s: status %v, scope %q", s.Name(), s.Status(), s.InstrumentationScope().Name)
		}
		if get.EndTime().Before(s.EndTime()) {
			t.Errorf("span %s ended after cache.get", s.Name())
		}
	}
	common := func(op string, extra map[attribute.Key]any) map[attribute.Key]any {
		m := map[attribute.Key]any{
			acceleratorotel.AttrArea: "users", acceleratorotel.AttrOp: op, acceleratorotel.AttrKeys: int64(1),
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	wantAttrs(t, get, common("cache.get", map[attribute.Key]any{
		acceleratorotel.AttrLayer: "source", acceleratorotel.AttrResult: "loaded", acceleratorotel.AttrFound: int64(1),
	}))
	wantAttrs(t, load, common("cache.load", map[attribute.Key]any{
		acceleratorotel.AttrLayer: "source", acceleratorotel.AttrResult: "loaded", acceleratorotel.AttrFound: int64(1),
	}))

	// An L1 hit: no span. A second instance misses L1 and hits L2: one span, no load.
	if _, _, err := c.Get(context.Background(), secretKey); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 3 {
		t.Fatalf("an L1 hit was traced: %d spans", n)
	}
	other := newCache(t, accelerator.Options[string, string]{
		Area: "users", Remote: remote, Loader: ld, Tracer: acceleratorotel.NewTracer(tp),
	})
	if _, _, err := other.Get(context.Background(), secretKey); err != nil {
		t.Fatal(err)
	}
	spans = rec.Ended()
	if len(spans) != 4 {
		t.Fatalf("spans %v after an L2 hit, want one more cache.get", names(spans))
	}
	wantAttrs(t, spans[3], common("cache.get", map[attribute.Key]any{
		acceleratorotel.AttrLayer: "l2", acceleratorotel.AttrResult: "hit", acceleratorotel.AttrFound: int64(1),
	}))
	if ld.calls.Load() != 1 {
		t.Fatalf("loader called %d times, want 1", ld.calls.Load())
	}

	// The metrics of the first cache: one L1 miss and one L1 hit, one L2 miss, one
	// load that found the key.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := sums(t, rm)
	want := map[string]float64{
		`accelerator_cache_gets_total{area=users,layer=l1,result=hit}`:      1,
		`accelerator_cache_gets_total{area=users,layer=l1,result=miss}`:     1,
		`accelerator_cache_gets_total{area=users,layer=l2,result=hit}`:      0,
		`accelerator_cache_gets_total{area=users,layer=l2,result=miss}`:     1,
		`accelerator_cache_loader_calls_total{area=users,loader=load}`:      1,
		`accelerator_cache_loader_calls_total{area=users,loader=mload}`:     0,
		`accelerator_cache_load_keys_total{area=users}`:                     1,
		`accelerator_cache_load_results_total{area=users,result=found}`:     1,
		`accelerator_cache_load_results_total{area=users,result=not_found}`: 0,
		`accelerator_cache_load_errors_total{area=users}`:                   0,
		`accelerator_cache_remote_errors_total{area=users}`:                 0,
		`accelerator_cache_shared_loads_total{area=users}`:                  0,
		`accelerator_cache_loads_in_flight{area=users}`:                     0,
		`accelerator_cache_local_entries{area=users}`:                       1,
		`accelerator_cache_hit_ratio{area=users,layer=l1}`:                  0.5,
		`accelerator_cache_hit_ratio{area=users,layer=l2}`:                  0,
		`accelerator_cache_breaker_state{area=users,state=closed}`:          1,
		`accelerator_cache_breaker_state{area=users,state=open}`:            0,
		`accelerator_cache_breaker_state{area=users,state=half-open}`:       0,
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, w)
		}
	}
	// Every point of the cache is one series, with its value, and nothing else.
	points := metrics.Points(c.MetricsSnapshot(), c.Status())
	for _, p := range points {
		k := p.Name + "{"
		for i, a := range p.Labels {
			if i > 0 {
				k += ","
			}
			k += a.Name + "=" + a.Value
		}
		k += "}"
		if g, ok := got[k]; !ok || g != p.Value {
			t.Errorf("point %s = %v; the collection has %v (present %v)", k, p.Value, g, ok)
		}
	}
	if len(got) != len(points) {
		t.Errorf("%d series collected for %d points", len(got), len(points))
	}
}

// sums flattens the collected metrics to name{attr=value,...} → value, and checks
// that the counters are cumulative monotonic sums.
func sums(t *testing.T, rm metricdata.ResourceMetrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != acceleratorotel.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
					t.Errorf("%s is not a cumulative monotonic sum", m.Name)
				}
				for _, p := range d.DataPoints {
					out[m.Name+setString(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+setString(p.Attributes)] = p.Value
				}
			default:
				t.Errorf("%s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return out
}

func setString(s attribute.Set) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range s.ToSlice() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(kv.Key) + "=" + kv.Value.Emit())
	}
	b.WriteByte('}')
	return b.String()
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

// TestFailedSpanCarriesTheErrorKindNotItsText: by default an error's text (which may
// name keys) stays out of the span; WithErrorMessages puts it in.
func TestFailedSpanCarriesTheErrorKindNotItsText(t *testing.T) {
	errDB := errors.New("db down while reading " + secretKey)
	for _, withText := range []bool{false, true} {
		tp, rec := newTracing(t)
		var opts []acceleratorotel.TracerOption
		if withText {
			opts = append(opts, acceleratorotel.WithErrorMessages())
		}
		c := newCache(t, accelerator.Options[string, string]{
			Area: "failing", Loader: &countingLoader{err: errDB}, Tracer: acceleratorotel.NewTracer(tp, opts...),
		})
		if _, _, err := c.Get(context.Background(), secretKey); !errors.Is(err, errDB) {
			t.Fatalf("Get error %v", err)
		}
		spans := rec.Ended()
		if len(spans) != 2 {
			t.Fatalf("spans %v", names(spans))
		}
		for _, s := range spans {
			a := attrs(s)
			if s.Status().Code != codes.Error || a[acceleratorotel.AttrErrorKind].AsString() != "loader" || a[acceleratorotel.AttrResult].AsString() != "error" {
				t.Errorf("span %s: status %v, attributes %v", s.Name(), s.Status(), a)
			}
			leaks := strings.Contains(s.Status().Description, secretKey)
			for _, ev := range s.Events() {
				for _, kv := range ev.Attributes {
					leaks = leaks || strings.Contains(kv.Value.Emit(), secretKey)
				}
			}
			if leaks != withText {
				t.Errorf("WithErrorMessages %v: span %s status %q events %v", withText, s.Name(), s.Status().Description, s.Events())
			}
		}
	}
}

// TestSampledOutSpansCostNoRecording: with a sampler that drops everything, the cache
// still works and nothing is recorded.
func TestSampledOutSpansCostNoRecording(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.NeverSample()))
	c := newCache(t, accelerator.Options[string, string]{Loader: &countingLoader{}, Tracer: acceleratorotel.NewTracer(tp)})
	if v, _, err := c.Get(context.Background(), secretKey); err != nil || v != secretValue {
		t.Fatal(v, err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("%d sampled-out spans recorded", n)
	}
}

// TestRegisterMetricsRejectsSharedAreas: two caches of one area would report the same
// series.
func TestRegisterMetricsRejectsSharedAreas(t *testing.T) {
	a := newCache(t, accelerator.Options[string, int]{Area: "same"})
	b := newCache(t, accelerator.Options[int, string]{Area: "same"})
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	if _, err := acceleratorotel.RegisterMetrics(mp, a, b); err == nil || !strings.Contains(err.Error(), `"same"`) {
		t.Fatalf("RegisterMetrics with a shared area: %v", err)
	}
}

// TestUnregisterStopsReporting: after unregister, a collection has no cache points.
func TestUnregisterStopsReporting(t *testing.T) {
	c := newCache(t, accelerator.Options[string, int]{Area: "gone"})
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	unregister, err := acceleratorotel.RegisterMetrics(mp, c)
	if err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	reader.Collect(context.Background(), &rm)
	if len(sums(t, rm)) == 0 {
		t.Fatal("no points before unregister")
	}
	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	rm = metricdata.ResourceMetrics{}
	reader.Collect(context.Background(), &rm)
	if n := len(sums(t, rm)); n != 0 {
		t.Fatalf("%d points after unregister", n)
	}
}

// TestL1HitDoesNotAllocateWithOTel: installing the OpenTelemetry tracer and metrics
// must leave the L1 hit free of allocations.
func TestL1HitDoesNotAllocateWithOTel(t *testing.T) {
	tp, _ := newTracing(t)
	c := newCache(t, accelerator.Options[string, string]{
		Loader: &countingLoader{}, Tracer: acceleratorotel.NewTracer(tp), LocalTTL: time.Hour,
	})
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	if _, err := acceleratorotel.RegisterMetrics(mp, c); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.Get(ctx, secretKey)
	if a := testing.AllocsPerRun(1000, func() { c.Get(ctx, secretKey) }); a != 0 {
		t.Fatalf("L1 hit with the OpenTelemetry hook allocates %v times", a)
	}
}
