package benchmarks

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// runner is the part of *testing.B that the workloads use. The benchmarks run them on
// a *testing.B; TestSmoke runs the very same code on a *testing.T, one iteration per
// workload, library and value size, so that the suite cannot rot between runs of
// scripts/bench.sh. Timing is never asserted.
type runner interface {
	testing.TB
	// Run runs f as a named sub-benchmark (or subtest).
	Run(name string, f func(r runner)) bool
	// Loop reports whether the timed loop should run once more (testing.B.Loop).
	Loop() bool
	// Parallel runs body on goroutines goroutines at GOMAXPROCS=procs, the
	// equivalent of -cpu=procs with b.SetParallelism(goroutines/procs) and
	// b.RunParallel; next reports whether to run one more operation.
	Parallel(procs, goroutines int, body func(next func() bool))
	// Ops returns the number of timed operations, valid after the loop.
	Ops() int
	// Metric reports a domain figure per operation, such as "roundtrips/op".
	Metric(v float64, unit string)
	// ReportAllocs asks for B/op and allocs/op.
	ReportAllocs()
	// Smoke reports whether this is the one-iteration run of TestSmoke.
	Smoke() bool
}

// benchRunner runs the workloads as benchmarks.
type benchRunner struct{ *testing.B }

func (b benchRunner) Run(name string, f func(runner)) bool {
	return b.B.Run(name, func(b *testing.B) { f(benchRunner{b}) })
}

func (b benchRunner) Parallel(procs, goroutines int, body func(next func() bool)) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	b.SetParallelism(max(1, goroutines/procs))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) { body(pb.Next) })
	// What the workload does after the parallel section (settling, reading the
	// counters) is not part of the operations.
	b.StopTimer()
}

func (b benchRunner) Ops() int                      { return b.N }
func (b benchRunner) Metric(v float64, unit string) { b.ReportMetric(v, unit) }
func (b benchRunner) Smoke() bool                   { return false }

// smokeRunner runs every workload once as a test, and keeps the figures it reports so
// that TestSmoke can check the deterministic ones.
type smokeRunner struct {
	*testing.T
	looped  *bool
	metrics *sync.Map // full sub-test name + " " + unit -> value
}

func newSmokeRunner(t *testing.T, metrics *sync.Map) smokeRunner {
	return smokeRunner{T: t, looped: new(bool), metrics: metrics}
}

func (s smokeRunner) Run(name string, f func(runner)) bool {
	return s.T.Run(name, func(t *testing.T) { f(newSmokeRunner(t, s.metrics)) })
}

func (s smokeRunner) Loop() bool {
	if *s.looped {
		return false
	}
	*s.looped = true
	return true
}

// Parallel runs body once on each of the goroutines: every goroutine gets one
// operation.
func (s smokeRunner) Parallel(_, goroutines int, body func(next func() bool)) {
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			var done atomic.Bool
			body(func() bool { return !done.Swap(true) })
		})
	}
	wg.Wait()
}

func (s smokeRunner) Ops() int { return 1 }

func (s smokeRunner) Metric(v float64, unit string) {
	s.metrics.Store(s.Name()+" "+unit, v)
}

func (s smokeRunner) ReportAllocs() {}
func (s smokeRunner) Smoke() bool   { return true }
