// Package acceleratorprom exports the metrics of accelerator caches to Prometheus: a
// [prometheus.Collector] over one or more caches, with the metric names of
// docs/observability.md, the same as the OpenTelemetry module's
// (github.com/accelerator-go/accelerator/acceleratorotel).
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(acceleratorprom.MustNewCollector(users, orders))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The collector reads the caches' counters and status at each scrape; nothing is
// added to their hot paths.
package acceleratorprom

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/metrics"
)

// Cache is what the collector reads from a cache, whatever its key and value types:
// [*accelerator.Cache] implements it.
type Cache interface {
	// MetricsSnapshot returns a copy of the counters.
	MetricsSnapshot() accelerator.MetricsSnapshot
	// Status returns the state the gauges show; it does no I/O.
	Status() accelerator.Status
}

var _ Cache = (*accelerator.Cache[string, int])(nil)

// Collector is a [prometheus.Collector] over caches: one counter or gauge family per
// metric of [metrics.All], labelled by area and by the metric's own labels.
type Collector struct {
	caches []Cache
	descs  map[string]*prometheus.Desc
	kinds  map[string]prometheus.ValueType
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector over caches, which must have distinct areas: the
// area is the label that tells their series apart.
func NewCollector(caches ...Cache) (*Collector, error) {
	areas := make(map[string]bool, len(caches))
	for _, c := range caches {
		area := c.MetricsSnapshot().Area
		if areas[area] {
			return nil, fmt.Errorf("acceleratorprom: two caches share the area %q; their series would collide", area)
		}
		areas[area] = true
	}
	col := &Collector{caches: caches, descs: make(map[string]*prometheus.Desc), kinds: make(map[string]prometheus.ValueType)}
	for _, d := range metrics.All() {
		labels := append([]string{"area"}, d.Labels...)
		col.descs[d.Name] = prometheus.NewDesc(d.Name, d.Help, labels, nil)
		col.kinds[d.Name] = prometheus.GaugeValue
		if d.Kind == metrics.Counter {
			col.kinds[d.Name] = prometheus.CounterValue
		}
	}
	return col, nil
}

// MustNewCollector is [NewCollector] that panics on an error, for registration at
// start-up.
func MustNewCollector(caches ...Cache) *Collector {
	c, err := NewCollector(caches...)
	if err != nil {
		panic(err)
	}
	return c
}

// Describe sends the descriptor of every metric, whether or not a cache has it.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range metrics.All() {
		ch <- c.descs[d.Name]
	}
}

// Collect sends the points of every cache.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, cache := range c.caches {
		for _, p := range metrics.Points(cache.MetricsSnapshot(), cache.Status()) {
			values := make([]string, len(p.Labels))
			for i, l := range p.Labels {
				values[i] = l.Value
			}
			m, err := prometheus.NewConstMetric(c.descs[p.Name], c.kinds[p.Name], p.Value, values...)
			if err != nil {
				m = prometheus.NewInvalidMetric(c.descs[p.Name], err)
			}
			ch <- m
		}
	}
}
