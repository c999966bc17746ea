package benchmarks

import "testing"

// workload is one benchmark of the suite: BenchmarkX runs it as a benchmark,
// TestSmoke runs it once.
type workload struct {
	name string
	run  func(r runner)
}

// workloads are the benchmarks of the suite, in the order of docs/performance.md.
var workloads = []workload{
	{"L1Hit", l1Hit},
	{"L2Hit", l2Hit},
	{"L2HitMem", l2HitMem},
	{"L2HitConcurrent", func(r runner) {
		r.Run(goroutinesName(concurrentGoroutines), func(r runner) {
			l2HitConcurrent(r, concurrentProcs, concurrentGoroutines)
		})
	}},
	{"MissLoad", func(r runner) {
		for _, t := range []tier{tierLocal, tierBoth} {
			r.Run("tier="+t.String(), func(r runner) { missLoad(r, t) })
		}
	}},
	{"Batch", func(r runner) {
		for _, k := range []batchKind{batchAllInL2, batchAllMissing, batchHalf} {
			r.Run("keys="+k.String(), func(r runner) { batch(r, k) })
		}
	}},
	{"Stampede", func(r runner) {
		for _, t := range []tier{tierLocal, tierBoth} {
			r.Run("tier="+t.String(), func(r runner) { stampede(r, t) })
		}
	}},
	{"Zipf", func(r runner) {
		for _, t := range []tier{tierLocal, tierBoth} {
			r.Run("tier="+t.String()+"/"+goroutinesName(concurrentGoroutines), func(r runner) {
				zipf(r, t, concurrentProcs, concurrentGoroutines)
			})
		}
	}},
}

// The concurrent workloads run concurrentGoroutines goroutines at
// GOMAXPROCS=concurrentProcs (-cpu 2 with b.SetParallelism(32)).
const (
	concurrentProcs      = 2
	concurrentGoroutines = 64
)

func run(b *testing.B, name string) {
	for _, w := range workloads {
		if w.name == name {
			w.run(benchRunner{b})
			return
		}
	}
	b.Fatalf("no workload %q", name)
}

// BenchmarkL1Hit reads a key held by L1; the floor is a bare otter Get.
func BenchmarkL1Hit(b *testing.B) { run(b, "L1Hit") }

// BenchmarkL2Hit reads a key held by Redis, with no L1; the floors are a bare GET
// and decode on each client.
func BenchmarkL2Hit(b *testing.B) { run(b, "L2Hit") }

// BenchmarkL2HitMem is BenchmarkL2Hit against an in-memory remote (a map): the
// cache's own work on an L2 hit, without the network; the floor is the same map's
// lookup and decode.
func BenchmarkL2HitMem(b *testing.B) { run(b, "L2HitMem") }

// BenchmarkL2HitConcurrent is BenchmarkL2Hit on 64 goroutines at GOMAXPROCS=2.
func BenchmarkL2HitConcurrent(b *testing.B) { run(b, "L2HitConcurrent") }

// BenchmarkMissLoad reads keys that no layer holds: load, write back.
func BenchmarkMissLoad(b *testing.B) { run(b, "MissLoad") }

// BenchmarkBatch reads 100 keys in one call: all in Redis, all missing, or half.
func BenchmarkBatch(b *testing.B) { run(b, "Batch") }

// BenchmarkStampede starts 1,000 readers on one cold key.
func BenchmarkStampede(b *testing.B) { run(b, "Stampede") }

// BenchmarkZipf runs a zipf-distributed read-mostly mix with a bounded L1, on 64
// goroutines at GOMAXPROCS=2.
func BenchmarkZipf(b *testing.B) { run(b, "Zipf") }
