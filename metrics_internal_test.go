package accelerator

import (
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/accelerator-go/accelerator/internal/counter"
)

// TestSnapshotCopiesEachLiveCounterToItsField gives every live counter a distinct
// value and checks that each lands in the snapshot field of its name: the plan of
// the copy is computed from the two types, and a wrong offset would swap counters.
func TestSnapshotCopiesEachLiveCounterToItsField(t *testing.T) {
	m := newMetrics()
	live := []struct {
		add   func(uint64)
		field string
	}{
		{m.localHits.Add, "LocalHits"}, {m.localMisses.Add, "LocalMisses"},
		{func(n uint64) { m.remoteHits.Add(n) }, "RemoteHits"}, {func(n uint64) { m.remoteMisses.Add(n) }, "RemoteMisses"},
		{func(n uint64) { m.remoteErrors.Add(n) }, "RemoteErrors"},
		{func(n uint64) { m.nullHits.Add(n) }, "NullHits"},
		{func(n uint64) { m.decodeErrors.Add(n) }, "DecodeErrors"},
		{func(n uint64) { m.loads.Add(n) }, "Loads"}, {func(n uint64) { m.mloads.Add(n) }, "MLoads"},
		{func(n uint64) { m.loadedKeys.Add(n) }, "LoadedKeys"},
		{func(n uint64) { m.loadFound.Add(n) }, "LoadFound"},
		{func(n uint64) { m.loadNotFound.Add(n) }, "LoadNotFound"},
		{func(n uint64) { m.loadErrors.Add(n) }, "LoadErrors"},
		{func(n uint64) { m.loadTimeouts.Add(n) }, "LoadTimeouts"},
		{func(n uint64) { m.loadPanics.Add(n) }, "LoadPanics"},
		{func(n uint64) { m.sharedLoads.Add(n) }, "SharedLoads"},
		{func(n uint64) { m.staleServed.Add(n) }, "StaleServed"},
		{func(n uint64) { m.refreshAttempts.Add(n) }, "RefreshAttempts"},
		{func(n uint64) { m.refreshSuccesses.Add(n) }, "RefreshSuccesses"},
		{func(n uint64) { m.refreshFailures.Add(n) }, "RefreshFailures"},
		{func(n uint64) { m.remoteRejected.Add(n) }, "RemoteRejected"},
		{func(n uint64) { m.breakerOpens.Add(n) }, "BreakerOpens"},
		{func(n uint64) { m.invPublished.Add(n) }, "InvalidationsPublished"},
		{func(n uint64) { m.invReceived.Add(n) }, "InvalidationsReceived"},
		{func(n uint64) { m.publishFailures.Add(n) }, "PublishFailures"},
		{func(n uint64) { m.receiveFailures.Add(n) }, "ReceiveFailures"},
		{func(n uint64) { m.localFlushes.Add(n) }, "LocalFlushes"},
		{func(n uint64) { m.fillsLost.Add(n) }, "FillsLost"},
		{func(n uint64) { m.oversizedValues.Add(n) }, "OversizedValues"},
		{func(n uint64) { m.tagInvalidations.Add(n) }, "TagInvalidations"},
		{func(n uint64) { m.clears.Add(n) }, "Clears"},
		{func(n uint64) { m.markReads.Add(n) }, "MarkReads"},
		{func(n uint64) { m.invalidatedReads.Add(n) }, "InvalidatedReads"},
		{func(n uint64) { m.leasesTaken.Add(n) }, "LeasesTaken"},
		{func(n uint64) { m.leaseFailures.Add(n) }, "LeaseFailures"},
		{func(n uint64) { m.leaseWaits.Add(n) }, "LeaseWaits"},
		{func(n uint64) { m.leaseWaitHits.Add(n) }, "LeaseWaitHits"},
		{func(n uint64) { m.leaseWaitTimeouts.Add(n) }, "LeaseWaitTimeouts"},
	}
	if n := reflect.TypeFor[metrics]().NumField(); n != len(live) || len(snapshotSteps) != n {
		t.Fatalf("%d live counters, %d listed here, %d copied", n, len(live), len(snapshotSteps))
	}
	for i, l := range live {
		l.add(uint64(i + 1))
	}
	s := reflect.ValueOf(m.snapshot("a"))
	for i, l := range live {
		if got := s.FieldByName(l.field).Uint(); got != uint64(i+1) {
			t.Errorf("%s = %d, want %d", l.field, got, i+1)
		}
	}
}

// TestPlanRejectsUnpairedCounters: the plan must fail, not skip, when a live
// counter has no field, a field has no live counter, or a type is not one it copies.
func TestPlanRejectsUnpairedCounters(t *testing.T) {
	type live struct {
		a, b atomic.Uint64
		c    *counter.Counter
	}
	type good struct {
		Area string
		A    uint64 `metric:"a_total"`
		B    uint64 `metric:"b_total" live:"b"`
		C    uint64 `metric:"c_total"`
	}
	if steps, err := planSnapshot(reflect.TypeFor[live](), reflect.TypeFor[good]()); err != nil || len(steps) != 3 || !steps[2].striped {
		t.Fatalf("good types: %v %+v", err, steps)
	}
	for name, snap := range map[string]reflect.Type{
		"a live counter without field": reflect.TypeFor[struct {
			A uint64 `metric:"a_total"`
			B uint64 `metric:"b_total"`
		}](),
		"a field without live counter": reflect.TypeFor[struct {
			A, B, C uint64 `metric:"a_total"`
			D       uint64 `metric:"d_total"`
		}](),
		"copied twice": reflect.TypeFor[struct {
			A uint64 `metric:"a_total"`
			B uint64 `metric:"b_total"`
			C uint64 `metric:"c_total" live:"a"`
		}](),
		"not a uint64": reflect.TypeFor[struct {
			A uint64 `metric:"a_total"`
			B int64  `metric:"b_total"`
			C uint64 `metric:"c_total"`
		}](),
	} {
		if _, err := planSnapshot(reflect.TypeFor[live](), snap); err == nil {
			t.Errorf("%s: planned", name)
		}
	}
}
