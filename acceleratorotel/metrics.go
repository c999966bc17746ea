package acceleratorotel

import (
	"context"
	"fmt"
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/metrics"
)

// Cache is what [RegisterMetrics] reads from a cache, whatever its key and value
// types: [*accelerator.Cache] implements it.
type Cache interface {
	// MetricsSnapshot returns a copy of the counters.
	MetricsSnapshot() accelerator.MetricsSnapshot
	// Status returns the state the gauges show; it does no I/O.
	Status() accelerator.Status
}

var _ Cache = (*accelerator.Cache[string, int])(nil)

// RegisterMetrics registers on mp one asynchronous instrument per metric of
// [metrics.All] (an Int64ObservableCounter for each counter, a
// Float64ObservableGauge for each gauge), named as in docs/observability.md, and one
// callback that reads the [metrics.Points] of every cache at each collection.
// Nothing is added to the caches' hot paths.
//
// The caches must have distinct areas: the area is the attribute that tells their
// points apart. unregister removes the callback; the instruments stay registered
// (OpenTelemetry has no way to remove them) and report nothing more.
func RegisterMetrics(mp metric.MeterProvider, caches ...Cache) (unregister func() error, err error) {
	areas := make(map[string]bool, len(caches))
	for _, c := range caches {
		area := c.MetricsSnapshot().Area
		if areas[area] {
			return nil, fmt.Errorf("acceleratorotel: two caches share the area %q; their metrics would be indistinguishable", area)
		}
		areas[area] = true
	}
	meter := mp.Meter(ScopeName)
	counters := make(map[string]metric.Int64ObservableCounter)
	gauges := make(map[string]metric.Float64ObservableGauge)
	var instruments []metric.Observable
	for _, d := range metrics.All() {
		switch d.Kind {
		case metrics.Counter:
			inst, err := meter.Int64ObservableCounter(d.Name, metric.WithDescription(d.Help), metric.WithUnit(d.Unit))
			if err != nil {
				return nil, fmt.Errorf("acceleratorotel: counter %s: %w", d.Name, err)
			}
			counters[d.Name] = inst
			instruments = append(instruments, inst)
		case metrics.Gauge:
			inst, err := meter.Float64ObservableGauge(d.Name, metric.WithDescription(d.Help), metric.WithUnit(d.Unit))
			if err != nil {
				return nil, fmt.Errorf("acceleratorotel: gauge %s: %w", d.Name, err)
			}
			gauges[d.Name] = inst
			instruments = append(instruments, inst)
		}
	}
	observe := func(_ context.Context, o metric.Observer) error {
		for _, c := range caches {
			for _, p := range metrics.Points(c.MetricsSnapshot(), c.Status()) {
				opt := metric.WithAttributeSet(attributeSet(p.Labels))
				if inst, ok := counters[p.Name]; ok {
					o.ObserveInt64(inst, int64(min(p.Value, math.MaxInt64)), opt)
				} else if inst, ok := gauges[p.Name]; ok {
					o.ObserveFloat64(inst, p.Value, opt)
				}
			}
		}
		return nil
	}
	reg, err := meter.RegisterCallback(observe, instruments...)
	if err != nil {
		return nil, fmt.Errorf("acceleratorotel: register callback: %w", err)
	}
	return reg.Unregister, nil
}

func attributeSet(labels []metrics.Label) attribute.Set {
	kvs := make([]attribute.KeyValue, len(labels))
	for i, l := range labels {
		kvs[i] = attribute.String(l.Name, l.Value)
	}
	return attribute.NewSet(kvs...)
}
