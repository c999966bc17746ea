package acceleratorotel

import (
	"context"
	"fmt"
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/accelerator-go/accelerator"
)

// RegisterMetrics registers on mp one asynchronous instrument per metric of
// [accelerator.MetricDescriptions] (an Int64ObservableCounter for each counter, a
// Float64ObservableGauge for each gauge), named as in docs/observability.md, and one
// callback that reads the [accelerator.Inspectable.OTelMetricPoints] of every cache
// at each collection. Nothing is added to the caches' hot paths.
//
// The caches must have distinct areas: the area is the attribute that tells their
// points apart. unregister removes the callback; the instruments stay registered
// (OpenTelemetry has no way to remove them) and report nothing more.
func RegisterMetrics(mp metric.MeterProvider, caches ...accelerator.Inspectable) (unregister func() error, err error) {
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
	for _, d := range accelerator.MetricDescriptions() {
		switch d.Kind {
		case accelerator.MetricCounter:
			inst, err := meter.Int64ObservableCounter(d.Name, metric.WithDescription(d.Description), metric.WithUnit(d.Unit))
			if err != nil {
				return nil, fmt.Errorf("acceleratorotel: counter %s: %w", d.Name, err)
			}
			counters[d.Name] = inst
			instruments = append(instruments, inst)
		case accelerator.MetricGauge:
			inst, err := meter.Float64ObservableGauge(d.Name, metric.WithDescription(d.Description), metric.WithUnit(d.Unit))
			if err != nil {
				return nil, fmt.Errorf("acceleratorotel: gauge %s: %w", d.Name, err)
			}
			gauges[d.Name] = inst
			instruments = append(instruments, inst)
		}
	}
	observe := func(_ context.Context, o metric.Observer) error {
		for _, c := range caches {
			for _, p := range c.OTelMetricPoints() {
				opt := metric.WithAttributeSet(attributeSet(p.Attributes))
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

func attributeSet(attrs []accelerator.Attribute) attribute.Set {
	kvs := make([]attribute.KeyValue, len(attrs))
	for i, a := range attrs {
		kvs[i] = attribute.String(a.Key, a.Value)
	}
	return attribute.NewSet(kvs...)
}
