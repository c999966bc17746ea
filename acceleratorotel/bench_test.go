package acceleratorotel_test

import (
	"context"
	"strconv"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/acceleratorotel"
)

// discard is a span processor that drops every ended span.
type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }

var loadInt = accelerator.LoaderFunc[int, int](func(_ context.Context, k int) (int, bool, error) { return k, true, nil })

// hooks are the three set-ups compared: nothing installed, the OpenTelemetry tracer
// (sampling and recording every span, then dropping it as an exporter would take it),
// and the tracer plus the metric instruments.
var hooks = []struct {
	name    string
	tracer  bool
	metrics bool
}{
	{"no-hook", false, false},
	{"otel-tracer", true, false},
	{"otel-tracer+metrics", true, true},
}

func hookedCache(b *testing.B, tracer, metrics bool, opts accelerator.Options[int, int]) *accelerator.Cache[int, int] {
	if tracer {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(discard{}))
		b.Cleanup(func() { tp.Shutdown(context.Background()) })
		opts.Tracer = acceleratorotel.NewTracer(tp)
	}
	c := newCache(b, opts)
	if metrics {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		if _, err := acceleratorotel.RegisterMetrics(mp, c); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// BenchmarkGetLocalHit: the L1 hit is not traced, so the hook must cost nothing.
func BenchmarkGetLocalHit(b *testing.B) {
	for _, h := range hooks {
		b.Run(h.name, func(b *testing.B) {
			c := hookedCache(b, h.tracer, h.metrics, accelerator.Options[int, int]{Loader: loadInt})
			ctx := context.Background()
			c.Get(ctx, 1)
			b.ReportAllocs()
			for b.Loop() {
				c.Get(ctx, 1)
			}
		})
	}
}

// BenchmarkGetLocalHitParallel is BenchmarkGetLocalHit from every P at once.
func BenchmarkGetLocalHitParallel(b *testing.B) {
	for _, h := range hooks {
		b.Run(h.name, func(b *testing.B) {
			c := hookedCache(b, h.tracer, h.metrics, accelerator.Options[int, int]{Loader: loadInt})
			ctx := context.Background()
			c.Get(ctx, 1)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.Get(ctx, 1)
				}
			})
		})
	}
}

// BenchmarkGetMissLoad: an L1 miss that loads, the path that is traced (two spans,
// cache.get and cache.load).
func BenchmarkGetMissLoad(b *testing.B) {
	for _, h := range hooks[:2] {
		b.Run(h.name, func(b *testing.B) {
			c := hookedCache(b, h.tracer, false, accelerator.Options[int, int]{Loader: loadInt, LocalMaxEntries: 1})
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				c.Get(ctx, i)
			}
		})
	}
}

// BenchmarkCollect: one collection of the instruments of ten caches, what a
// PeriodicReader does every interval.
func BenchmarkCollect(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	var caches []acceleratorotel.Cache
	for i := range 10 {
		caches = append(caches, newCache(b, accelerator.Options[int, int]{Area: "area" + strconv.Itoa(i)}))
	}
	if _, err := acceleratorotel.RegisterMetrics(mp, caches...); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			b.Fatal(err)
		}
	}
}
