package benchmarks

import (
	"sync"
	"testing"
)

// TestSmoke runs every workload once, for every library and value size, through the
// same code as the benchmarks, so that the suite cannot rot: scripts/test.sh (and so
// CI) runs it with every go test. It asserts no timing, only the figures that are
// deterministic for accelerator: one round trip per L2 hit and per 100-key batch,
// one loader call per batch of misses and per stampede. The smoke runs one operation
// on a new instance, whose first load also reads the area's invalidation clock to
// stamp what it loads (docs/tags.md): one round trip more than a benchmark's
// operation costs.
func TestSmoke(t *testing.T) {
	var metrics sync.Map
	for _, w := range workloads {
		t.Run(w.name, func(t *testing.T) { w.run(newSmokeRunner(t, &metrics)) })
	}
	want := map[string]float64{
		"TestSmoke/L2Hit/size=100B/lib=accelerator-rueidis roundtrips/op":                  1,
		"TestSmoke/L2Hit/size=10KB/lib=accelerator-goredis roundtrips/op":                  1,
		"TestSmoke/Batch/keys=all-in-L2/size=100B/lib=accelerator-rueidis roundtrips/op":   1,
		"TestSmoke/Batch/keys=all-in-L2/size=10KB/lib=accelerator-goredis roundtrips/op":   1,
		"TestSmoke/Batch/keys=all-missing/size=100B/lib=accelerator-rueidis roundtrips/op": 3,
		"TestSmoke/Batch/keys=all-missing/size=100B/lib=accelerator-rueidis loads/op":      1,
		"TestSmoke/Batch/keys=half/size=10KB/lib=accelerator-goredis loads/op":             1,
		"TestSmoke/MissLoad/tier=both/size=100B/lib=accelerator-goredis roundtrips/op":     3,
	}
	if _, ok := metrics.Load("TestSmoke/L2Hit/size=100B/lib=goredis roundtrips/op"); !ok {
		t.Log("no Redis workload ran (redis-server missing or local-only): nothing to check")
		return
	}
	for name, w := range want {
		got, ok := metrics.Load(name)
		if !ok {
			t.Errorf("%s: not reported", name)
			continue
		}
		if got.(float64) != w {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}
}
