package accelerator

import (
	"sync/atomic"

	"github.com/accelerator-go/accelerator/internal/counter"
)

// MetricsSnapshot is a copy of a cache's counters at one moment. Counts are per key:
// an MGet of ten keys that all hit L1 adds ten LocalHits.
type MetricsSnapshot struct {
	// Area is the cache's area.
	Area string
	// LocalHits counts reads answered by a fresh L1 entry, negative entries included.
	LocalHits uint64
	// LocalMisses counts reads that L1 could not answer.
	LocalMisses uint64
	// RemoteHits counts reads answered by a fresh L2 entry, negative entries included.
	RemoteHits uint64
	// RemoteMisses counts L2 reads that found no fresh, readable entry.
	RemoteMisses uint64
	// RemoteErrors counts failed calls to the remote backend, reads and writes.
	RemoteErrors uint64
	// NullHits counts reads answered by a negative-cache entry, in either layer.
	NullHits uint64
	// DecodeErrors counts remote values that could not be decoded (corrupt, truncated,
	// of an unknown format version, oversized or rejected by the codec); each was read
	// as a miss.
	DecodeErrors uint64
	// Loads counts calls of Loader.Load, and MLoads calls of MLoader.MLoad.
	Loads, MLoads uint64
	// LoadedKeys counts keys the loaders were asked for; LoadFound and LoadNotFound
	// split those that came back without error.
	LoadedKeys, LoadFound, LoadNotFound uint64
	// LoadErrors counts failed loader calls, timeouts and panics included;
	// LoadTimeouts and LoadPanics count those two kinds.
	LoadErrors, LoadTimeouts, LoadPanics uint64
	// SharedLoads counts reads that waited for a load another read had started
	// (penetration protection at work).
	SharedLoads uint64
	// StaleServed counts reads answered by a stale copy because the load failed or
	// timed out (reads with [AllowStale] only).
	StaleServed uint64
	// RefreshAttempts counts background reloads started by refresh-ahead;
	// RefreshSuccesses and RefreshFailures count how they ended.
	RefreshAttempts, RefreshSuccesses, RefreshFailures uint64
	// RemoteRejected counts remote calls the circuit breaker refused to send, and
	// BreakerOpens the times it opened.
	RemoteRejected, BreakerOpens uint64
	// InvalidationsPublished and InvalidationsReceived count invalidation messages
	// this instance sent and took from other instances; PublishFailures and
	// ReceiveFailures count those that failed (a receive failure is a broken
	// subscription); LocalFlushes counts the times L1 was dropped because messages
	// may have been lost.
	InvalidationsPublished, InvalidationsReceived  uint64
	PublishFailures, ReceiveFailures, LocalFlushes uint64
	// FillsLost counts loaded values not written back because the key was deleted or
	// rewritten in L2 after the load started (the fill guard at work).
	FillsLost uint64
	// OversizedValues counts values larger than MaxValueSize once encoded: a loaded
	// one is returned to its reader but not cached; a written one fails the write
	// with [ErrValueTooLarge].
	OversizedValues uint64
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
// others are plain atomics, touched only on slower paths.
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
}

func newMetrics() *metrics {
	return &metrics{localHits: counter.New(), localMisses: counter.New()}
}

func (m *metrics) snapshot(area string) MetricsSnapshot {
	return MetricsSnapshot{
		Area:         area,
		LocalHits:    m.localHits.Load(),
		LocalMisses:  m.localMisses.Load(),
		RemoteHits:   m.remoteHits.Load(),
		RemoteMisses: m.remoteMisses.Load(),
		RemoteErrors: m.remoteErrors.Load(),
		NullHits:     m.nullHits.Load(),
		DecodeErrors: m.decodeErrors.Load(),
		Loads:        m.loads.Load(),
		MLoads:       m.mloads.Load(),
		LoadedKeys:   m.loadedKeys.Load(),
		LoadFound:    m.loadFound.Load(),
		LoadNotFound: m.loadNotFound.Load(),
		LoadErrors:   m.loadErrors.Load(),
		LoadTimeouts: m.loadTimeouts.Load(),
		LoadPanics:   m.loadPanics.Load(),
		SharedLoads:  m.sharedLoads.Load(),
		StaleServed:  m.staleServed.Load(),

		RefreshAttempts:  m.refreshAttempts.Load(),
		RefreshSuccesses: m.refreshSuccesses.Load(),
		RefreshFailures:  m.refreshFailures.Load(),
		RemoteRejected:   m.remoteRejected.Load(),
		BreakerOpens:     m.breakerOpens.Load(),

		InvalidationsPublished: m.invPublished.Load(),
		InvalidationsReceived:  m.invReceived.Load(),
		PublishFailures:        m.publishFailures.Load(),
		ReceiveFailures:        m.receiveFailures.Load(),
		LocalFlushes:           m.localFlushes.Load(),
		FillsLost:              m.fillsLost.Load(),
		OversizedValues:        m.oversizedValues.Load(),
	}
}
