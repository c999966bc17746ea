package accelerator

import (
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/accelerator-go/accelerator/internal/counter"
)

// MetricsSnapshot is a copy of a cache's counters at one moment, as
// [database/sql.DBStats] is of a pool's. Counts are per key: an MGet of ten keys that
// all hit L1 adds ten LocalHits.
//
// The struct is the table of the counters: the tags of each field name the metric it
// is exported as (metric, prefixed with "accelerator_cache_"), the labels that tell it
// apart from the other fields of that metric, and, on the first field of a metric,
// its unit and help text. The package
// github.com/accelerator-go/accelerator/metrics reads them, and the exporters, the
// admin views and docs/observability.md follow from it: a counter added here appears
// in all of them.
type MetricsSnapshot struct {
	// Area is the cache's area.
	Area string

	// LocalHits counts reads answered by a fresh L1 entry, negative entries included.
	LocalHits uint64 `metric:"gets_total" labels:"layer=l1,result=hit" unit:"{key}" help:"Keys read, by layer (l1, l2) and result (hit, miss); negative entries are hits, an undecodable L2 value is a miss."`
	// LocalMisses counts reads that L1 could not answer.
	LocalMisses uint64 `metric:"gets_total" labels:"layer=l1,result=miss"`
	// RemoteHits counts reads answered by a fresh L2 entry, negative entries included.
	RemoteHits uint64 `metric:"gets_total" labels:"layer=l2,result=hit"`
	// RemoteMisses counts L2 reads that found no fresh, readable entry.
	RemoteMisses uint64 `metric:"gets_total" labels:"layer=l2,result=miss"`
	// NullHits counts reads answered by a negative-cache entry, in either layer.
	NullHits uint64 `metric:"null_hits_total" unit:"{key}" help:"Reads answered by a negative-cache entry, in either layer."`
	// RemoteErrors counts failed calls to the remote backend, reads and writes.
	RemoteErrors uint64 `metric:"remote_errors_total" unit:"{call}" help:"Failed calls to the remote backend, reads and writes, timeouts included (not the caller's own cancellation)."`
	// RemoteRejected counts remote calls the circuit breaker refused to send.
	RemoteRejected uint64 `metric:"remote_rejected_total" unit:"{call}" help:"Remote calls the open circuit breaker refused to send."`
	// BreakerOpens counts the times the circuit breaker opened.
	BreakerOpens uint64 `metric:"breaker_opens_total" unit:"{event}" help:"Times the circuit breaker opened."`
	// DecodeErrors counts remote values that could not be decoded (corrupt, truncated,
	// of an unknown format version, oversized or rejected by the codec); each was read
	// as a miss.
	DecodeErrors uint64 `metric:"decode_errors_total" unit:"{value}" help:"Remote values that could not be decoded (corrupt, truncated, unknown format, oversized, refused by the codec); each was read as a miss."`
	// Loads counts calls of Loader.Load.
	Loads uint64 `metric:"loader_calls_total" labels:"loader=load" unit:"{call}" help:"Calls of Loader.Load (loader=load) and MLoader.MLoad (loader=mload)."`
	// MLoads counts calls of MLoader.MLoad.
	MLoads uint64 `metric:"loader_calls_total" labels:"loader=mload"`
	// LoadedKeys counts keys the loaders were asked for.
	LoadedKeys uint64 `metric:"load_keys_total" unit:"{key}" help:"Keys the loaders were asked for."`
	// LoadFound counts keys the loaders found.
	LoadFound uint64 `metric:"load_results_total" labels:"result=found" unit:"{key}" help:"Keys the loaders answered without error, by result (found, not_found)."`
	// LoadNotFound counts keys the loaders answered "not found".
	LoadNotFound uint64 `metric:"load_results_total" labels:"result=not_found"`
	// LoadErrors counts failed loader calls, timeouts and panics included.
	LoadErrors uint64 `metric:"load_errors_total" unit:"{call}" help:"Failed loader calls, timeouts and panics included."`
	// LoadTimeouts counts loads that outlived [Options.LoaderTimeout].
	LoadTimeouts uint64 `metric:"load_timeouts_total" unit:"{call}" help:"Loads that outlived the loader timeout."`
	// LoadPanics counts loader calls that panicked.
	LoadPanics uint64 `metric:"load_panics_total" unit:"{call}" help:"Loader calls that panicked."`
	// SharedLoads counts reads that waited for a load another read had started
	// (penetration protection at work).
	SharedLoads uint64 `metric:"shared_loads_total" unit:"{read}" help:"Reads that waited for a load another read had started (penetration protection at work)."`
	// StaleServed counts reads answered by a stale copy because the load failed or
	// timed out (reads with [AllowStale] only).
	StaleServed uint64 `metric:"stale_served_total" unit:"{key}" help:"Reads answered by a stale copy because the load failed or timed out (AllowStale reads)."`
	// RefreshAttempts counts background reloads started by refresh-ahead.
	RefreshAttempts uint64 `metric:"refresh_attempts_total" unit:"{refresh}" help:"Background reloads started by refresh-ahead."`
	// RefreshSuccesses counts background reloads that succeeded.
	RefreshSuccesses uint64 `metric:"refresh_results_total" labels:"result=success" unit:"{refresh}" help:"Background reloads that ended, by result (success, failure)."`
	// RefreshFailures counts background reloads that failed.
	RefreshFailures uint64 `metric:"refresh_results_total" labels:"result=failure"`
	// InvalidationsPublished counts invalidation messages this instance sent.
	InvalidationsPublished uint64 `metric:"invalidation_messages_total" labels:"op=publish" unit:"{message}" help:"Cross-instance invalidation messages published and received (op=publish, receive)." live:"invPublished"`
	// InvalidationsReceived counts invalidation messages taken from other instances.
	InvalidationsReceived uint64 `metric:"invalidation_messages_total" labels:"op=receive" live:"invReceived"`
	// PublishFailures counts invalidation messages that could not be published.
	PublishFailures uint64 `metric:"invalidation_failures_total" labels:"op=publish" unit:"{message}" help:"Invalidation messages that could not be published, and broken subscriptions (op=publish, receive)."`
	// ReceiveFailures counts broken subscriptions.
	ReceiveFailures uint64 `metric:"invalidation_failures_total" labels:"op=receive"`
	// LocalFlushes counts the times L1 was dropped because invalidation messages may
	// have been lost.
	LocalFlushes uint64 `metric:"local_flushes_total" unit:"{flush}" help:"Times L1 was dropped because invalidation messages may have been lost."`
	// FillsLost counts loaded values not written back because the key was deleted or
	// rewritten in L2 after the load started (the fill guard at work).
	FillsLost uint64 `metric:"fills_lost_total" unit:"{key}" help:"Loaded values not written back because the key was deleted or rewritten meanwhile (the fill guard at work)."`
	// LeasesTaken counts load leases this instance took (Options.LoadLease): each
	// is a load of a key no other instance was loading.
	LeasesTaken uint64 `metric:"load_leases_total" labels:"result=taken" unit:"{lease}" help:"Load leases asked for, by result: taken (this instance loaded), failed (the remote failed: loaded without a lease)."`
	// LeaseFailures counts loads that went on without a lease, or stopped waiting for
	// one, because a remote call failed.
	LeaseFailures uint64 `metric:"load_leases_total" labels:"result=failed"`
	// LeaseWaits counts loads that found the lease of their key held by another
	// instance and waited for its value.
	LeaseWaits uint64 `metric:"lease_waits_total" unit:"{wait}" help:"Loads that waited for the value of a load lease another instance held."`
	// LeaseWaitHits counts waits that ended with the holder's value, read from L2:
	// loads saved.
	LeaseWaitHits uint64 `metric:"lease_wait_results_total" labels:"result=value" unit:"{wait}" help:"Waits for a load lease that ended, by result: value (the holder's value appeared in L2), timeout (LoadLeaseWait ran out and this instance loaded)."`
	// LeaseWaitTimeouts counts waits that ran out (LoadLeaseWait) and loaded.
	LeaseWaitTimeouts uint64 `metric:"lease_wait_results_total" labels:"result=timeout"`
	// OversizedValues counts values larger than MaxValueSize once encoded: a loaded
	// one is returned to its reader but not cached; a written one fails the write
	// with [ErrValueTooLarge].
	OversizedValues uint64 `metric:"oversized_values_total" unit:"{value}" help:"Values larger than MaxValueSize once encoded: loaded ones returned but not cached, written ones refused."`
	// TagInvalidations counts the tags this instance invalidated
	// ([Cache.InvalidateTags]).
	TagInvalidations uint64 `metric:"tag_invalidations_total" unit:"{tag}" help:"Tags this instance invalidated (InvalidateTags)."`
	// Clears counts the calls of [Cache.Clear] on this instance.
	Clears uint64 `metric:"clears_total" unit:"{call}" help:"Calls of Clear on this instance."`
	// MarkReads counts the reads of invalidation marks from Redis (each one round
	// trip, for the marks of any number of tags).
	MarkReads uint64 `metric:"mark_reads_total" unit:"{call}" help:"Reads of invalidation marks (tags, Clear) from Redis, one round trip each."`
	// InvalidatedReads counts entries found fresh in L1 or L2 but read as misses
	// because a tag of theirs was invalidated, or the area cleared, after they were
	// written.
	InvalidatedReads uint64 `metric:"invalidated_reads_total" unit:"{key}" help:"Entries found in L1 or L2 but read as misses because one of their tags was invalidated, or the area cleared, after they were written."`
}

// LocalHitRatio returns LocalHits / (LocalHits + LocalMisses), or 0 before any read.
func (s MetricsSnapshot) LocalHitRatio() float64 { return ratio(s.LocalHits, s.LocalMisses) }

// RemoteHitRatio returns RemoteHits / (RemoteHits + RemoteMisses), or 0 before any
// remote read.
func (s MetricsSnapshot) RemoteHitRatio() float64 { return ratio(s.RemoteHits, s.RemoteMisses) }

func ratio(hits, misses uint64) float64 {
	if hits+misses == 0 {
		return 0
	}
	return float64(hits) / float64(hits+misses)
}

// metrics holds the live counters. The two counted on every L1 read are striped; the
// others are plain atomics, touched only on slower paths. Each is copied into the
// field of [MetricsSnapshot] of the same name (case aside) or the one whose live tag
// names it; planSnapshot checks that every field has its counterpart, and the
// package does not start (a panic at init, which every test shows) if one has none.
type metrics struct {
	localHits, localMisses *counter.Counter

	remoteHits, remoteMisses, remoteErrors atomic.Uint64
	nullHits, decodeErrors                 atomic.Uint64
	loads, mloads                          atomic.Uint64
	loadedKeys, loadFound, loadNotFound    atomic.Uint64
	loadErrors, loadTimeouts, loadPanics   atomic.Uint64
	sharedLoads, staleServed               atomic.Uint64
	refreshAttempts, refreshSuccesses      atomic.Uint64
	refreshFailures                        atomic.Uint64
	remoteRejected, breakerOpens           atomic.Uint64
	invPublished, invReceived              atomic.Uint64
	publishFailures, receiveFailures       atomic.Uint64
	localFlushes, fillsLost                atomic.Uint64
	oversizedValues                        atomic.Uint64
	leasesTaken, leaseFailures             atomic.Uint64
	leaseWaits, leaseWaitHits              atomic.Uint64
	leaseWaitTimeouts                      atomic.Uint64
	tagInvalidations, clears               atomic.Uint64
	markReads, invalidatedReads            atomic.Uint64
}

func newMetrics() *metrics {
	return &metrics{localHits: counter.New(), localMisses: counter.New()}
}

// copyStep copies one live counter, at offset from in metrics, to the uint64 at
// offset to in MetricsSnapshot.
type copyStep struct {
	from, to uintptr
	striped  bool
}

// snapshotSteps is the plan of metrics.snapshot, computed once from the two types.
var snapshotSteps = mustPlan(planSnapshot(reflect.TypeFor[metrics](), reflect.TypeFor[MetricsSnapshot]()))

func mustPlan(steps []copyStep, err error) []copyStep {
	if err != nil {
		panic(err)
	}
	return steps
}

// planSnapshot pairs every counter field of snap (MetricsSnapshot) with its live
// counter in live (metrics), and fails unless both sides are paired exactly once and
// have the types the copy expects.
func planSnapshot(live, snap reflect.Type) ([]copyStep, error) {
	striped, plain := reflect.TypeFor[*counter.Counter](), reflect.TypeFor[atomic.Uint64]()
	used := make(map[string]bool)
	var steps []copyStep
	for i := range snap.NumField() {
		f := snap.Field(i)
		if f.Tag.Get("metric") == "" {
			continue
		}
		name := f.Tag.Get("live")
		if name == "" {
			name = f.Name
		}
		lf, ok := live.FieldByNameFunc(func(n string) bool { return strings.EqualFold(n, name) })
		switch {
		case f.Type.Kind() != reflect.Uint64:
			return nil, fmt.Errorf("accelerator: MetricsSnapshot.%s is a %v, not a uint64", f.Name, f.Type)
		case !ok:
			return nil, fmt.Errorf("accelerator: MetricsSnapshot.%s has no live counter %q", f.Name, name)
		case lf.Type != striped && lf.Type != plain:
			return nil, fmt.Errorf("accelerator: live counter %s is a %v", lf.Name, lf.Type)
		case used[lf.Name]:
			return nil, fmt.Errorf("accelerator: live counter %s is copied twice", lf.Name)
		}
		used[lf.Name] = true
		steps = append(steps, copyStep{from: lf.Offset, to: f.Offset, striped: lf.Type == striped})
	}
	for i := range live.NumField() {
		if n := live.Field(i).Name; !used[n] {
			return nil, fmt.Errorf("accelerator: live counter %s has no field in MetricsSnapshot", n)
		}
	}
	return steps, nil
}

// snapshot copies the counters, following snapshotSteps: the offsets come from the
// reflected types, so each read is of the type planSnapshot checked.
func (m *metrics) snapshot(area string) MetricsSnapshot {
	s := MetricsSnapshot{Area: area}
	from, to := unsafe.Pointer(m), unsafe.Pointer(&s)
	for _, st := range stripedSteps {
		*(*uint64)(unsafe.Add(to, st.to)) = (*(**counter.Counter)(unsafe.Add(from, st.from))).Load()
	}
	for _, st := range plainSteps {
		*(*uint64)(unsafe.Add(to, st.to)) = (*atomic.Uint64)(unsafe.Add(from, st.from)).Load()
	}
	return s
}

// stripedSteps and plainSteps split snapshotSteps by the type they read, so that
// the copy loops do not branch.
var stripedSteps, plainSteps = splitSteps(snapshotSteps)

func splitSteps(steps []copyStep) (striped, plain []copyStep) {
	for _, st := range steps {
		if st.striped {
			striped = append(striped, st)
		} else {
			plain = append(plain, st)
		}
	}
	return striped, plain
}
