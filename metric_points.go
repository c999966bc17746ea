package accelerator

import (
	"slices"

	"github.com/accelerator-go/accelerator/internal/breaker"
)

// MetricKind says how a [MetricPoint] behaves over time.
type MetricKind string

// The metric kinds.
const (
	// MetricCounter only grows, from 0 when the cache is built: export it as a
	// cumulative monotonic sum (an OpenTelemetry counter, a Prometheus counter).
	MetricCounter MetricKind = "counter"
	// MetricGauge is a value at the moment it was read.
	MetricGauge MetricKind = "gauge"
)

// Attribute is one attribute (label) of a [MetricPoint].
type Attribute struct {
	Key, Value string
}

// MetricPoint is one value of one metric of one cache, in a form that any metrics
// system takes: a stable name under accelerator_cache_*, a kind, a unit, and
// attributes, the first of which is always "area". [Cache.OTelMetricPoints] returns
// them; [MetricDescriptions] lists the names.
type MetricPoint struct {
	// Name is the metric's name, such as "accelerator_cache_gets_total".
	Name string
	// Kind is counter or gauge.
	Kind MetricKind
	// Unit is a UCUM unit as OpenTelemetry writes them: "1" for ratios, an
	// annotation such as "{key}" or "{call}" for counts.
	Unit string
	// Value is the value. Counters are whole numbers, exact up to 2^53.
	Value float64
	// Attributes are the point's attributes: "area" first, then those its
	// [MetricDescription] lists, in that order.
	Attributes []Attribute
}

// MetricDescription describes one metric of [Cache.OTelMetricPoints].
type MetricDescription struct {
	// Name, Kind and Unit are those of its points.
	Name string
	Kind MetricKind
	Unit string
	// Description is one sentence for humans (a Prometheus HELP line).
	Description string
	// Attributes are the keys of the point attributes besides "area".
	Attributes []string
}

// The metrics. docs/observability.md has the same table; a test keeps them in step.
var (
	metricGets = MetricDescription{"accelerator_cache_gets_total", MetricCounter, "{key}",
		"Keys read, by layer (l1, l2) and result (hit, miss); negative entries are hits.", []string{"layer", "result"}}
	metricNullHits = MetricDescription{"accelerator_cache_null_hits_total", MetricCounter, "{key}",
		"Reads answered by a negative-cache entry, in either layer.", nil}
	metricRemoteErrors = MetricDescription{"accelerator_cache_remote_errors_total", MetricCounter, "{call}",
		"Failed calls to the remote backend, reads and writes, timeouts included.", nil}
	metricRemoteRejected = MetricDescription{"accelerator_cache_remote_rejected_total", MetricCounter, "{call}",
		"Remote calls the open circuit breaker refused to send.", nil}
	metricBreakerOpens = MetricDescription{"accelerator_cache_breaker_opens_total", MetricCounter, "{event}",
		"Times the circuit breaker opened.", nil}
	metricDecodeErrors = MetricDescription{"accelerator_cache_decode_errors_total", MetricCounter, "{value}",
		"Remote values that could not be decoded; each was read as a miss.", nil}
	metricLoaderCalls = MetricDescription{"accelerator_cache_loader_calls_total", MetricCounter, "{call}",
		"Calls of Loader.Load (loader=load) and MLoader.MLoad (loader=mload).", []string{"loader"}}
	metricLoadKeys = MetricDescription{"accelerator_cache_load_keys_total", MetricCounter, "{key}",
		"Keys the loaders were asked for.", nil}
	metricLoadResults = MetricDescription{"accelerator_cache_load_results_total", MetricCounter, "{key}",
		"Keys the loaders answered without error, by result (found, not_found).", []string{"result"}}
	metricLoadErrors = MetricDescription{"accelerator_cache_load_errors_total", MetricCounter, "{call}",
		"Failed loader calls, timeouts and panics included.", nil}
	metricLoadTimeouts = MetricDescription{"accelerator_cache_load_timeouts_total", MetricCounter, "{call}",
		"Loads that outlived the loader timeout.", nil}
	metricLoadPanics = MetricDescription{"accelerator_cache_load_panics_total", MetricCounter, "{call}",
		"Loader calls that panicked.", nil}
	metricSharedLoads = MetricDescription{"accelerator_cache_shared_loads_total", MetricCounter, "{read}",
		"Reads that waited for a load another read had started.", nil}
	metricStaleServed = MetricDescription{"accelerator_cache_stale_served_total", MetricCounter, "{key}",
		"Reads answered by a stale copy because the load failed or timed out.", nil}
	metricRefreshAttempts = MetricDescription{"accelerator_cache_refresh_attempts_total", MetricCounter, "{refresh}",
		"Background reloads started by refresh-ahead.", nil}
	metricRefreshResults = MetricDescription{"accelerator_cache_refresh_results_total", MetricCounter, "{refresh}",
		"Background reloads that ended, by result (success, failure).", []string{"result"}}
	metricInvMessages = MetricDescription{"accelerator_cache_invalidation_messages_total", MetricCounter, "{message}",
		"Invalidation messages published and received (op=publish, receive).", []string{"op"}}
	metricInvFailures = MetricDescription{"accelerator_cache_invalidation_failures_total", MetricCounter, "{message}",
		"Invalidation messages that could not be published, and broken subscriptions (op=publish, receive).", []string{"op"}}
	metricLocalFlushes = MetricDescription{"accelerator_cache_local_flushes_total", MetricCounter, "{flush}",
		"Times L1 was dropped because invalidation messages may have been lost.", nil}
	metricFillsLost = MetricDescription{"accelerator_cache_fills_lost_total", MetricCounter, "{key}",
		"Loaded values not written back because the key was deleted or rewritten in L2 meanwhile.", nil}
	metricOversized = MetricDescription{"accelerator_cache_oversized_values_total", MetricCounter, "{value}",
		"Values larger than MaxValueSize once encoded: loaded ones not cached, written ones refused.", nil}

	metricHitRatio = MetricDescription{"accelerator_cache_hit_ratio", MetricGauge, "1",
		"Hits / (hits + misses) of a layer since the cache was built; 0 before any read.", []string{"layer"}}
	metricLocalEntries = MetricDescription{"accelerator_cache_local_entries", MetricGauge, "{entry}",
		"Entries held in L1 (an estimate).", nil}
	metricLocalWeight = MetricDescription{"accelerator_cache_local_weight", MetricGauge, "1",
		"Total weight of the L1 entries, for an L1 bounded by weight.", nil}
	metricLoadsInFlight = MetricDescription{"accelerator_cache_loads_in_flight", MetricGauge, "{key}",
		"Keys whose single-key load or background refresh is running.", nil}
	metricBreakerState = MetricDescription{"accelerator_cache_breaker_state", MetricGauge, "1",
		"1 for the circuit breaker's current state (closed, open, half-open), 0 for the others.", []string{"state"}}
	metricSubscribed = MetricDescription{"accelerator_cache_invalidation_subscribed", MetricGauge, "1",
		"1 while the invalidation subscription is confirmed and alive, 0 otherwise.", nil}
)

var metricDescriptions = []*MetricDescription{
	&metricGets, &metricNullHits, &metricRemoteErrors, &metricRemoteRejected, &metricBreakerOpens,
	&metricDecodeErrors, &metricLoaderCalls, &metricLoadKeys, &metricLoadResults, &metricLoadErrors,
	&metricLoadTimeouts, &metricLoadPanics, &metricSharedLoads, &metricStaleServed,
	&metricRefreshAttempts, &metricRefreshResults, &metricInvMessages, &metricInvFailures,
	&metricLocalFlushes, &metricFillsLost, &metricOversized,
	&metricHitRatio, &metricLocalEntries, &metricLocalWeight, &metricLoadsInFlight, &metricBreakerState,
	&metricSubscribed,
}

// MetricDescriptions returns every metric that [Cache.OTelMetricPoints] may return,
// counters first. Exporters use it to register their instruments up front.
func MetricDescriptions() []MetricDescription {
	out := make([]MetricDescription, len(metricDescriptions))
	for i, d := range metricDescriptions {
		out[i] = *d
		out[i].Attributes = slices.Clone(d.Attributes)
	}
	return out
}

// OTelMetricPoints returns the cache's counters and gauges as metric points, ready for
// an exporter (the module github.com/accelerator-go/accelerator/acceleratorotel
// registers them on an OpenTelemetry MeterProvider) or for JSON. Every counter is
// always present; the gauges of a layer the cache does not have are left out. See
// [MetricDescriptions] and docs/observability.md for the names.
//
// It reads the counters like [Cache.MetricsSnapshot] and allocates the returned
// slices; it costs a few microseconds, meant for a scrape, not for every request.
func (c *Cache[K, V]) OTelMetricPoints() []MetricPoint {
	return c.c.metricPoints()
}

func (c *cache[K, V]) metricPoints() []MetricPoint {
	s := c.metrics.snapshot(c.cfg.Area)
	w := pointWriter{area: c.cfg.Area, pts: make([]MetricPoint, 0, 40), attrs: make([]Attribute, 0, 80)}
	w.counter(&metricGets, s.LocalHits, "layer", "l1", "result", "hit")
	w.counter(&metricGets, s.LocalMisses, "layer", "l1", "result", "miss")
	w.counter(&metricGets, s.RemoteHits, "layer", "l2", "result", "hit")
	w.counter(&metricGets, s.RemoteMisses, "layer", "l2", "result", "miss")
	w.counter(&metricNullHits, s.NullHits)
	w.counter(&metricRemoteErrors, s.RemoteErrors)
	w.counter(&metricRemoteRejected, s.RemoteRejected)
	w.counter(&metricBreakerOpens, s.BreakerOpens)
	w.counter(&metricDecodeErrors, s.DecodeErrors)
	w.counter(&metricLoaderCalls, s.Loads, "loader", "load")
	w.counter(&metricLoaderCalls, s.MLoads, "loader", "mload")
	w.counter(&metricLoadKeys, s.LoadedKeys)
	w.counter(&metricLoadResults, s.LoadFound, "result", "found")
	w.counter(&metricLoadResults, s.LoadNotFound, "result", "not_found")
	w.counter(&metricLoadErrors, s.LoadErrors)
	w.counter(&metricLoadTimeouts, s.LoadTimeouts)
	w.counter(&metricLoadPanics, s.LoadPanics)
	w.counter(&metricSharedLoads, s.SharedLoads)
	w.counter(&metricStaleServed, s.StaleServed)
	w.counter(&metricRefreshAttempts, s.RefreshAttempts)
	w.counter(&metricRefreshResults, s.RefreshSuccesses, "result", "success")
	w.counter(&metricRefreshResults, s.RefreshFailures, "result", "failure")
	w.counter(&metricInvMessages, s.InvalidationsPublished, "op", "publish")
	w.counter(&metricInvMessages, s.InvalidationsReceived, "op", "receive")
	w.counter(&metricInvFailures, s.PublishFailures, "op", "publish")
	w.counter(&metricInvFailures, s.ReceiveFailures, "op", "receive")
	w.counter(&metricLocalFlushes, s.LocalFlushes)
	w.counter(&metricFillsLost, s.FillsLost)
	w.counter(&metricOversized, s.OversizedValues)

	if c.local != nil {
		w.point(&metricHitRatio, s.LocalHitRatio(), "layer", "l1")
	}
	if c.remote != nil {
		w.point(&metricHitRatio, s.RemoteHitRatio(), "layer", "l2")
	}
	if c.local != nil {
		w.point(&metricLocalEntries, float64(c.local.Len()))
		if lw, ok := c.local.(weighted); ok {
			if weight := lw.WeightedSize(); weight > 0 {
				w.point(&metricLocalWeight, float64(weight))
			}
		}
	}
	w.point(&metricLoadsInFlight, float64(c.loads.InFlight()))
	if c.remote != nil && c.remote.br != nil {
		st := c.remote.br.State()
		for _, state := range []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen} {
			w.point(&metricBreakerState, boolValue(st == state), "state", state.String())
		}
	}
	if c.inv != nil {
		w.point(&metricSubscribed, boolValue(c.inv.state().Connected))
	}
	return w.pts
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// pointWriter builds the points of one cache, their attributes in one array.
type pointWriter struct {
	area  string
	pts   []MetricPoint
	attrs []Attribute
}

func (w *pointWriter) counter(d *MetricDescription, v uint64, kv ...string) {
	w.point(d, float64(v), kv...)
}

func (w *pointWriter) point(d *MetricDescription, v float64, kv ...string) {
	start := len(w.attrs)
	w.attrs = append(w.attrs, Attribute{Key: "area", Value: w.area})
	for i := 0; i+1 < len(kv); i += 2 {
		w.attrs = append(w.attrs, Attribute{Key: kv[i], Value: kv[i+1]})
	}
	end := len(w.attrs)
	w.pts = append(w.pts, MetricPoint{Name: d.Name, Kind: d.Kind, Unit: d.Unit, Value: v, Attributes: w.attrs[start:end:end]})
}
