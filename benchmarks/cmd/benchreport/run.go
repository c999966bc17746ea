package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// sample is one process's result for one benchmark.
type sample struct {
	round int
	units map[string]float64
}

// result is every sample of one benchmark.
type result struct {
	name    string // without "Benchmark" and the -GOMAXPROCS suffix
	samples []sample
}

func (r *result) values(unit string) []float64 {
	if r == nil {
		return nil
	}
	var v []float64
	for _, s := range r.samples {
		if x, ok := s.units[unit]; ok {
			v = append(v, x)
		}
	}
	return v
}

func (r *result) median(unit string) (float64, bool) {
	v := r.values(unit)
	if len(v) == 0 {
		return 0, false
	}
	return median(v), true
}

func (r *result) has(unit string) bool { return len(r.values(unit)) > 0 }

// byRound returns the samples of unit by round.
func (r *result) byRound(unit string) map[int]float64 {
	m := map[int]float64{}
	if r == nil {
		return m
	}
	for _, s := range r.samples {
		if x, ok := s.units[unit]; ok {
			m[s.round] = x
		}
	}
	return m
}

// gateFile is benchmarks/baseline.json's format, which TestDeterministicGate writes.
type gateFile struct {
	Go       string                        `json:"go"`
	Valgrind string                        `json:"valgrind"`
	Figures  map[string]map[string]float64 `json:"figures"`
}

// run is a run directory.
type run struct {
	order   []string
	results map[string]*result
	cpu     string
	goos    string
	goarch  string
	meta    map[string]string
	gate    *gateFile
}

func (r *run) get(name string) *result { return r.results[name] }

func (r *run) ns(name string) (float64, bool) { return r.results[name].median("ns/op") }

// gateFig returns a figure of the gate, measured in the same run.
func (r *run) gateFig(name, unit string) (float64, bool) {
	if r.gate == nil {
		return 0, false
	}
	v, ok := r.gate.Figures[name][unit]
	return v, ok
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// loadRun reads a run directory; raw.txt must exist, the rest is optional.
func loadRun(dir string) (*run, error) {
	r := &run{results: map[string]*result{}, meta: map[string]string{}}
	f, err := os.Open(filepath.Join(dir, "raw.txt"))
	if err != nil {
		return nil, err
	}
	err = r.parse(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	if len(r.order) == 0 {
		return nil, fmt.Errorf("no benchmark results in %s", filepath.Join(dir, "raw.txt"))
	}
	if data, err := os.ReadFile(filepath.Join(dir, "gate.json")); err == nil {
		var g gateFile
		if err := json.Unmarshal(data, &g); err != nil {
			return nil, fmt.Errorf("gate.json: %w", err)
		}
		r.gate = &g
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if data, err := os.ReadFile(filepath.Join(dir, "meta.txt")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				r.meta[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return r, nil
}

func (r *run) parse(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	round := 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# round "):
			round, _ = strconv.Atoi(strings.TrimPrefix(line, "# round "))
		case strings.HasPrefix(line, "cpu: "):
			r.cpu = strings.TrimPrefix(line, "cpu: ")
		case strings.HasPrefix(line, "goos: "):
			r.goos = strings.TrimPrefix(line, "goos: ")
		case strings.HasPrefix(line, "goarch: "):
			r.goarch = strings.TrimPrefix(line, "goarch: ")
		case strings.HasPrefix(line, "Benchmark"):
			r.parseLine(line, round)
		}
	}
	return sc.Err()
}

func (r *run) parseLine(line string, round int) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 {
		return // a benchmark's name printed alone, or its log
	}
	if _, err := strconv.Atoi(f[1]); err != nil {
		return
	}
	name := procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
	res := r.results[name]
	if res == nil {
		res = &result{name: name}
		r.results[name] = res
		r.order = append(r.order, name)
	}
	s := sample{round: round, units: map[string]float64{}}
	if round == 0 {
		s.round = len(res.samples) + 1 // a file of plain -count samples
	}
	for i := 2; i+1 < len(f); i += 2 {
		if v, err := strconv.ParseFloat(f[i], 64); err == nil {
			s.units[f[i+1]] = v
		}
	}
	res.samples = append(res.samples, s)
}

// --- statistics ---

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianCI returns the 95% confidence interval of the median of v: the order
// statistics x(k) and x(n-k+1) with the largest k for which the binomial tail
// P(X < k), X ~ B(n, 1/2), is at most 2.5%, the interval benchstat prints. With fewer
// than 6 samples there is none (ok false).
func medianCI(v []float64) (lo, hi float64, ok bool) {
	n := len(v)
	if n < 6 {
		return 0, 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	k := 0 // number of samples cut from each end
	for {
		// P(X <= k) for X ~ B(n, 1/2)
		if binomCDF(n, k) > 0.025 {
			break
		}
		k++
	}
	// k samples below the interval at most: the interval is [s[k-1], s[n-k]] in
	// 0-based terms when P(X <= k-1) <= 2.5%.
	if k == 0 {
		return s[0], s[n-1], true
	}
	return s[k-1], s[n-k], true
}

func binomCDF(n, k int) float64 {
	sum := 0.0
	for i := 0; i <= k; i++ {
		sum += math.Exp(lchoose(n, i) - float64(n)*math.Ln2)
	}
	return sum
}

func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// spread returns the half-width of the confidence interval of the median, relative
// to it (benchstat's ±), or, with fewer than 6 samples, half the range.
func spread(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	m := median(v)
	if m == 0 {
		return 0
	}
	lo, hi, ok := medianCI(v)
	if !ok {
		lo, hi = slices.Min(v), slices.Max(v)
		return (hi - lo) / 2 / m
	}
	return math.Max(m-lo, hi-m) / m
}

// ratio is a ratio of two contenders taken round by round.
type ratio struct {
	median, lo, hi float64
	n              int
	ok             bool
}

// pairedRatio returns a's ns/op over b's, round by round, summarised.
func (r *run) pairedRatio(a, b string) ratio {
	ra, rb := r.get(a).byRound("ns/op"), r.get(b).byRound("ns/op")
	var v []float64
	for round, x := range ra {
		if y, ok := rb[round]; ok && y > 0 {
			v = append(v, x/y)
		}
	}
	if len(v) == 0 {
		return ratio{}
	}
	out := ratio{median: median(v), n: len(v), ok: true}
	var ok bool
	if out.lo, out.hi, ok = medianCI(v); !ok {
		out.lo, out.hi = slices.Min(v), slices.Max(v)
	}
	return out
}

// --- names ---

// split returns the workload of a benchmark (its name without "/lib=...") and the
// library.
func split(name string) (group, lib string) {
	i := strings.LastIndex(name, "/lib=")
	if i < 0 {
		return name, ""
	}
	return name[:i], name[i+len("/lib="):]
}

// part returns the value of the "key=value" element of name, or "".
func part(name, key string) string {
	for _, p := range strings.Split(name, "/") {
		if v, ok := strings.CutPrefix(p, key+"="); ok {
			return v
		}
	}
	return ""
}

func isAccelerator(lib string) bool { return strings.HasPrefix(lib, "accelerator") }

var floors = map[string]bool{"otter": true, "rueidis": true, "goredis": true, "map": true}

// peers are the other multi-level caches.
var peers = []string{"jetcache", "gocache", "goredis-cache", "sturdyc"}

// bestPeer returns the peer with the lowest median time in group.
func (r *run) bestPeer(group string) (string, bool) {
	best, bestLib := math.Inf(1), ""
	for _, p := range peers {
		if ns, ok := r.ns(group + "/lib=" + p); ok && ns < best {
			best, bestLib = ns, p
		}
	}
	return bestLib, bestLib != ""
}

// floorFor returns the raw floor of an accelerator benchmark in its own workload,
// if the workload has one: otter for the L1 hit, the map for the in-memory L2 hit,
// the same client's GET or MGET plus decode for the Redis reads.
func (r *run) floorFor(group, acc string) (string, bool) {
	var f string
	switch {
	case acc == "accelerator" && strings.HasPrefix(group, "L2HitMem/"):
		f = "map"
	case acc == "accelerator":
		f = "otter"
	default:
		f = strings.TrimPrefix(acc, "accelerator-")
	}
	_, ok := r.ns(group + "/lib=" + f)
	return f, ok
}
