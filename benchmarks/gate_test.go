package benchmarks

// The regression gate checks the figures that noise cannot fake, against
// baseline.json: allocations per operation and Redis round trips per operation
// (exact), and instructions per operation counted by callgrind (within 3%). Times are
// reported by scripts/bench.sh, never gated: on a shared machine they move by tens
// of percent from one run to the next.
//
// TestDeterministicGate measures them through the very code of the benchmarks (the
// workloads run on a gateRunner that counts allocations around a fixed number of
// iterations), so `go test ./...` (scripts/test.sh, CI) runs the gate, and
// `scripts/bench.sh gate` and `scripts/bench.sh baseline` run this test.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accelerator-go/accelerator/internal/redistest"
)

// Environment variables of the gate.
const (
	// envGateUpdate, set to "1", writes the measured figures to the baseline instead
	// of comparing them with it (scripts/bench.sh baseline).
	envGateUpdate = "ACCELERATOR_GATE_UPDATE"
	// envGateOut names a file to write the measured figures to, as JSON.
	envGateOut = "ACCELERATOR_GATE_OUT"
	// envGateBaseline names the baseline file (default baseline.json).
	envGateBaseline = "ACCELERATOR_GATE_BASELINE"
	// envGateInstructions is "require" (fail without valgrind), "skip", or empty:
	// count instructions when valgrind is on PATH.
	envGateInstructions = "ACCELERATOR_GATE_INSTRUCTIONS"
	// envGateNote is a note stored in the baseline (where the figures come from).
	envGateNote = "ACCELERATOR_GATE_NOTE"
)

// The units of the gate.
const (
	unitAllocs       = "allocs/op"
	unitRoundTrips   = "roundtrips/op"
	unitInstructions = "instructions/op"
)

// instrTolerance is how far instructions per operation may move from the baseline.
const instrTolerance = 0.03

// Figures are the gate's figures of one benchmark, by unit.
type Figures map[string]float64

// GateBaseline is the file benchmarks/baseline.json.
type GateBaseline struct {
	Comment  string `json:"comment"`
	Created  string `json:"created"`
	Note     string `json:"note,omitempty"`
	Go       string `json:"go"`
	Valgrind string `json:"valgrind,omitempty"`
	// Figures holds, by benchmark name (as in the raw results, without
	// "Benchmark"), the figures measured. Those of accelerator are gated; those of
	// the raw floors are kept for the ratios of docs/performance.md.
	Figures map[string]Figures `json:"figures"`
}

// gateWorkloads are the workloads the gate runs, with the number of measured
// iterations (after a tenth as many warm-up ones), and the sub-benchmarks it keeps:
// 100 B values, and for each workload the parts named here.
var gateWorkloads = []struct {
	name  string
	iters int
}{
	{"L1Hit", 1000},
	{"L2HitMem", 1000},
	{"L2Hit", 1000},
	{"MissLoad", 500},
	{"Batch", 100},
}

var gateParts = map[string]bool{
	"size=100B": true, "tier=local": true, "tier=both": true,
	"keys=all-in-L2": true, "keys=all-missing": true,
}

// gateWants reports whether the gate runs the (sub-)benchmark at path.
func gateWants(path string) bool {
	parts := strings.Split(path, "/")
	last := parts[len(parts)-1]
	if lib, ok := strings.CutPrefix(last, "lib="); ok {
		return strings.HasPrefix(lib, "accelerator") || gateFloors[lib]
	}
	return len(parts) == 1 || gateParts[last]
}

// gateFloors are the raw floors whose figures the baseline keeps (not gated).
var gateFloors = map[string]bool{"otter": true, "rueidis": true, "goredis": true, "map": true}

// gated reports whether a figure is checked, and how: exactly, or within
// instrTolerance.
func gated(name, unit string) bool {
	_, lib := splitName(name)
	return strings.HasPrefix(lib, "accelerator") && (unit == unitAllocs || unit == unitRoundTrips || unit == unitInstructions)
}

func splitName(name string) (group, lib string) {
	i := strings.LastIndex(name, "/lib=")
	if i < 0 {
		return name, ""
	}
	return name[:i], name[i+len("/lib="):]
}

// gateResults collects the figures of a gate run.
type gateResults struct {
	mu  sync.Mutex
	fig map[string]Figures
}

func (g *gateResults) put(name, unit string, v float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fig[name] == nil {
		g.fig[name] = Figures{}
	}
	g.fig[name][unit] = v
}

// gateRunner runs a workload for the gate: a fixed number of iterations, the
// allocations of each measured one counted with the runtime's counters (those that
// -benchmem reads), and the median taken: an allocation that a background goroutine
// or a buffer growing once makes now and then does not move it, so the figure is
// the same from run to run. -benchmem's allocs/op is the mean, and may be a little
// higher.
type gateRunner struct {
	*testing.T
	path  string
	iters int
	res   *gateResults
	loop  *gateLoop
}

type gateLoop struct {
	calls  int
	last   runtime.MemStats
	allocs []float64
}

func (g gateRunner) Run(name string, f func(runner)) bool {
	path := name
	if g.path != "" {
		path = g.path + "/" + name
	}
	if !gateWants(path) {
		return true
	}
	return g.T.Run(name, func(t *testing.T) {
		f(gateRunner{T: t, path: path, iters: g.iters, res: g.res, loop: &gateLoop{}})
	})
}

func (g gateRunner) warm() int { return max(g.iters/10, 10) }

func (g gateRunner) Loop() bool {
	l := g.loop
	l.calls++
	warm := g.warm()
	if l.calls <= warm {
		return true
	}
	var now runtime.MemStats
	runtime.ReadMemStats(&now)
	if l.calls > warm+1 {
		l.allocs = append(l.allocs, float64(now.Mallocs-l.last.Mallocs))
	}
	if l.calls > warm+g.iters {
		slices.Sort(l.allocs)
		g.res.put(g.path, unitAllocs, l.allocs[len(l.allocs)/2])
		return false
	}
	runtime.ReadMemStats(&l.last)
	return true
}

func (g gateRunner) Parallel(_, goroutines int, body func(next func() bool)) {
	newSmokeRunner(g.T, &sync.Map{}).Parallel(0, goroutines, body)
}

func (g gateRunner) Ops() int                      { return g.warm() + g.iters }
func (g gateRunner) Metric(v float64, unit string) { g.res.put(g.path, unit, v) }
func (g gateRunner) ReportAllocs()                 {}
func (g gateRunner) Smoke() bool                   { return false }

// TestDeterministicGate measures the gate's figures and compares them with
// baseline.json: allocations and round trips per operation exactly, instructions per
// operation within 3% (when valgrind is on PATH, and the baseline was measured with
// the same Go). It fails with one line per figure that moved, saying which way and
// how to refresh the baseline when the change is meant.
func TestDeterministicGate(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if raceEnabled {
		// Under -race sync.Pool drops items at random, so allocation counts mean
		// nothing: the gate runs in a test binary of its own, built without it.
		runGateChild(t)
		return
	}
	res := &gateResults{fig: map[string]Figures{}}
	if os.Getenv(envRedisAddr) == "" && os.Getenv(envLocalOnly) != "1" {
		if _, err := exec.LookPath("redis-server"); err == nil || os.Getenv(redistest.EnvRequireIntegration) == "1" {
			srv := redistest.Start(t, redistest.WithArgs("--maxmemory", "1gb", "--maxmemory-policy", "allkeys-lru"))
			t.Setenv(envRedisAddr, srv.Addr())
		}
	}
	for _, w := range gateWorkloads {
		for _, wl := range workloads {
			if wl.name == w.name {
				gateRunner{T: t, iters: w.iters, res: res}.Run(w.name, wl.run)
			}
		}
	}
	valgrind := ""
	switch mode := os.Getenv(envGateInstructions); {
	case mode == "skip":
		t.Log("instructions not counted: " + envGateInstructions + "=skip")
	default:
		if _, err := exec.LookPath("valgrind"); err != nil {
			if mode == "require" {
				t.Fatalf("valgrind not found on PATH, and %s=require: install it (apt-get install valgrind)", envGateInstructions)
			}
			t.Log("instructions not counted: valgrind is not on PATH (apt-get install valgrind)")
			break
		}
		valgrind = valgrindVersion()
		start := time.Now()
		countInstructions(t, res)
		t.Logf("instructions counted with %s in %v", valgrind, time.Since(start).Round(time.Second))
	}
	if t.Failed() {
		return
	}
	measured := GateBaseline{
		Comment: "Written by scripts/bench.sh baseline (TestDeterministicGate). The gate compares accelerator's " +
			"allocs/op and roundtrips/op exactly and its instructions/op within 3%; the floors' figures are kept for reference.",
		Created:  time.Now().UTC().Format(time.DateOnly),
		Note:     os.Getenv(envGateNote),
		Go:       runtime.Version(),
		Valgrind: valgrind,
		Figures:  res.fig,
	}
	if out := os.Getenv(envGateOut); out != "" {
		writeJSON(t, out, measured)
	}
	basePath := cmpOr(os.Getenv(envGateBaseline), "baseline.json")
	if os.Getenv(envGateUpdate) == "1" {
		writeJSON(t, basePath, measured)
		t.Logf("wrote %d benchmarks' figures to %s", len(measured.Figures), basePath)
		return
	}
	data, err := os.ReadFile(basePath)
	if err != nil {
		t.Fatalf("no baseline: %v (write one with ./scripts/bench.sh baseline)", err)
	}
	var base GateBaseline
	if err := json.Unmarshal(data, &base); err != nil {
		t.Fatalf("%s: %v", basePath, err)
	}
	for _, p := range compareGate(base, measured) {
		t.Error(p)
	}
	if !t.Failed() {
		t.Logf("gate: no figure moved (%d benchmarks compared with %s)", len(measured.Figures), basePath)
	}
}

// compareGate returns one problem per gated figure that moved.
func compareGate(base, now GateBaseline) []string {
	var problems []string
	names := make([]string, 0, len(base.Figures))
	for n := range base.Figures {
		names = append(names, n)
	}
	sort.Strings(names)
	const refresh = "if the change is meant, refresh the baseline with ./scripts/bench.sh baseline and commit benchmarks/baseline.json with the change"
	for _, n := range names {
		cur, ran := now.Figures[n]
		for _, unit := range []string{unitAllocs, unitRoundTrips, unitInstructions} {
			want, ok := base.Figures[n][unit]
			if !ok || !gated(n, unit) {
				continue
			}
			if unit == unitInstructions && now.Valgrind == "" {
				continue // not counted in this run; said in the log
			}
			if unit == unitInstructions && base.Go != now.Go {
				continue // compared only under the Go that measured the baseline
			}
			got, ok := cur[unit]
			if !ran || !ok {
				if unit != unitInstructions {
					problems = append(problems, fmt.Sprintf("%s: %s not measured (the benchmark was renamed, removed or skipped); %s", n, unit, refresh))
				}
				continue
			}
			switch unit {
			case unitInstructions:
				change := got/want - 1
				if math.Abs(change) > instrTolerance {
					way := "more: a regression"
					if change < 0 {
						way = "fewer: an improvement the baseline does not know yet"
					}
					problems = append(problems, fmt.Sprintf("%s: %.0f %s, baseline %.0f (%+.1f%%, %s; the gate allows ±%.0f%%); %s",
						n, got, unit, want, change*100, way, instrTolerance*100, refresh))
				}
			default:
				if got != want {
					way := "more: a regression"
					if got < want {
						way = "fewer: an improvement the baseline does not know yet"
					}
					problems = append(problems, fmt.Sprintf("%s: %s %s, baseline %s (%s; the gate wants them exact); %s",
						n, fmtFloat(got), unit, fmtFloat(want), way, refresh))
				}
			}
		}
	}
	return problems
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// buildTestBinary builds this package's tests, without -race, into dir.
func buildTestBinary(dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go is not on PATH: %w", err)
	}
	bin := filepath.Join(dir, "benchmarks.test")
	build := exec.Command(goBin, "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the benchmarks' test binary: %v\n%s", err, out)
	}
	return bin, nil
}

// runGateChild builds this package's tests without -race and runs the gate there.
func runGateChild(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the gate needs a test binary built without -race, and go is not on PATH")
	}
	bin, err := buildTestBinary(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestDeterministicGate$", "-test.v", "-test.count=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if strings.Contains(line, "gate_test.go") || strings.HasPrefix(line, "--- ") {
			t.Log(strings.TrimSpace(line))
		}
	}
	if err != nil {
		t.Fatalf("the gate failed (built without -race): %v\n%s", err, out.String())
	}
}

// --- instructions ---

// instrIterations are the two iteration counts of each callgrind run: the difference
// of their instruction counts, divided by the difference of the counts, is the cost
// of one operation, whatever the set-up cost.
var instrIterations = [2]int{2000, 12000}

// countInstructions runs BenchmarkInstr under callgrind, two cases at a time, in a
// test binary of its own: go test links the binary it runs without a symbol table,
// and callgrind needs one to find instrOp.
func countInstructions(t *testing.T, res *gateResults) {
	dir := t.TempDir()
	bin, err := buildTestBinary(dir)
	if err != nil {
		t.Fatal(err)
	}
	type job struct{ c, lib string }
	var jobs []job
	for _, c := range instrCases {
		for _, l := range c.libs {
			jobs = append(jobs, job{c.name, l.name})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			v, err := instructionsPerOp(bin, dir, j.c, j.lib)
			if err != nil {
				t.Errorf("instructions of %s/%s: %v", j.c, j.lib, err)
				return
			}
			res.put(j.c+"/size=100B/lib="+j.lib, unitInstructions, math.Round(v))
		})
	}
	wg.Wait()
}

var totalsLine = regexp.MustCompile(`(?m)^(?:totals|summary): (\d+)`)

// instructionsPerOp returns the instructions per operation of one case.
func instructionsPerOp(bin, dir, c, lib string) (float64, error) {
	var counts [2]float64
	for i, n := range instrIterations {
		out := filepath.Join(dir, fmt.Sprintf("callgrind.%s.%s.%d", c, lib, n))
		cmd := exec.Command("valgrind", "--tool=callgrind", "--collect-atstart=no",
			"--toggle-collect=*benchmarks.instrOp", "--callgrind-out-file="+out,
			bin, "-test.run=^$", "-test.bench=^BenchmarkInstr$/^case="+regexp.QuoteMeta(c)+"$/^lib="+regexp.QuoteMeta(lib)+"$",
			fmt.Sprintf("-test.benchtime=%dx", n), "-test.count=1")
		// One P, no collection, no asynchronous preemption: the same instructions
		// every run.
		cmd.Env = append(os.Environ(), "GOGC=off", "GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1")
		if b, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%v\n%s", err, b)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			return 0, err
		}
		m := totalsLine.FindSubmatch(data)
		if m == nil {
			return 0, errors.New("no totals in " + out)
		}
		counts[i], _ = strconv.ParseFloat(string(m[1]), 64)
		if counts[i] == 0 {
			return 0, errors.New("callgrind collected nothing: the binary has no symbol for instrOp")
		}
	}
	return (counts[1] - counts[0]) / float64(instrIterations[1]-instrIterations[0]), nil
}

func valgrindVersion() string {
	out, err := exec.Command("valgrind", "--version").Output()
	if err != nil {
		return "valgrind"
	}
	return strings.TrimSpace(string(out))
}
