package benchmarks

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// envList, set to "1", makes TestListBenchmarks print the suite's benchmarks.
const envList = "ACCELERATOR_BENCH_LIST"

// TestListBenchmarks prints the full name of every benchmark of the suite, one a
// line after "bench: ", when ACCELERATOR_BENCH_LIST=1: scripts/bench.sh runs each of
// them in a process of its own, round after round. Nothing is built or run.
func TestListBenchmarks(t *testing.T) {
	if os.Getenv(envList) != "1" {
		t.Skip("prints the benchmarks for scripts/bench.sh when " + envList + "=1")
	}
	for _, w := range workloads {
		w.run(listRunner{T: t, path: w.name})
	}
}

// listRunner walks the workloads' sub-benchmarks down to the libraries, and prints
// their names instead of running them.
type listRunner struct {
	*testing.T
	path string
}

func (l listRunner) Run(name string, f func(runner)) bool {
	path := l.path + "/" + name
	if strings.HasPrefix(name, "lib=") {
		fmt.Println("bench: " + path)
		return true
	}
	f(listRunner{T: l.T, path: path})
	return true
}

func (listRunner) Loop() bool                                  { return false }
func (listRunner) Parallel(_, _ int, _ func(next func() bool)) {}
func (listRunner) Ops() int                                    { return 1 }
func (listRunner) Metric(float64, string)                      {}
func (listRunner) ReportAllocs()                               {}
func (listRunner) Smoke() bool                                 { return true }
