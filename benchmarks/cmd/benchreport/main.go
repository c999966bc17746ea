// Command benchreport turns the raw output of the benchmark suite (go test -bench,
// any -count) into the tables of docs/performance.md, checks the performance targets,
// and exports or checks the regression baseline. scripts/bench.sh drives it.
//
// Usage:
//
//	benchreport table    RAW...              markdown tables, one per workload, with ratios
//	benchreport headline RAW...              the README's headline table
//	benchreport matrix   RAW...              every workload in one table, time/op only
//	benchreport targets  RAW...              the performance targets, met or missed
//	benchreport export   -o FILE RAW...      write the baseline of the tracked benchmarks
//	benchreport check    -baseline FILE [-threshold 15] RAW...
//
// Every figure is the median of the samples of a benchmark. The baseline holds, for
// every accelerator benchmark, its ns/op divided by the ns/op of a raw floor measured
// in the same run (a bare otter Get for the local workloads, a bare GET or MGET plus
// decode on the same Redis client for the others), so that it can be compared across
// machines; check fails when a ratio grew by more than the threshold (in the medians
// and in the fastest samples alike), or when a round-trip, load or hit-ratio figure
// that was the same in every sample got worse by more than the threshold.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "table":
		err = withRun(args, func(r *run) error { return writeTables(os.Stdout, r) })
	case "headline":
		err = withRun(args, func(r *run) error { return writeHeadline(os.Stdout, r) })
	case "matrix":
		err = withRun(args, func(r *run) error { writeMatrix(os.Stdout, r); return nil })
	case "targets":
		err = withRun(args, func(r *run) error { writeTargets(os.Stdout, r); return nil })
	case "export":
		err = export(args)
	case "check":
		err = check(args)
	default:
		usage()
	}
	if errors.Is(err, errRegression) {
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchreport table|headline|matrix|targets RAW... | export -o FILE RAW... | check -baseline FILE [-threshold PCT] RAW...")
	os.Exit(2)
}

func withRun(files []string, f func(*run) error) error {
	r, err := parseFiles(files)
	if err != nil {
		return err
	}
	return f(r)
}

// --- parsing ---

// result is every sample of one benchmark, by unit.
type result struct {
	name  string // without "Benchmark" and the -GOMAXPROCS suffix
	units map[string][]float64
}

func (r *result) median(unit string) (float64, bool) {
	v := r.units[unit]
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// spread is half the range of the samples, relative to the median.
func (r *result) spread(unit string) float64 {
	v := r.units[unit]
	m, ok := r.median(unit)
	if !ok || m == 0 || len(v) < 2 {
		return 0
	}
	return (slices.Max(v) - slices.Min(v)) / 2 / m
}

// stable reports whether every sample of unit is the same.
func (r *result) stable(unit string) bool {
	v := r.units[unit]
	return len(v) > 0 && slices.Min(v) == slices.Max(v)
}

// run is one or more raw files.
type run struct {
	order   []string
	results map[string]*result
	cpu     string
	goos    string
	goarch  string
}

func (r *run) get(name string) *result { return r.results[name] }

func (r *run) ns(name string) (float64, bool) {
	res := r.results[name]
	if res == nil {
		return 0, false
	}
	return res.median("ns/op")
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

func parseFiles(files []string) (*run, error) {
	if len(files) == 0 {
		return nil, errors.New("no raw result file given")
	}
	r := &run{results: map[string]*result{}}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		err = r.parse(fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	if len(r.order) == 0 {
		return nil, fmt.Errorf("no benchmark results in %s", strings.Join(files, ", "))
	}
	return r, nil
}

func (r *run) parse(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "cpu: "):
			r.cpu = strings.TrimPrefix(line, "cpu: ")
		case strings.HasPrefix(line, "goos: "):
			r.goos = strings.TrimPrefix(line, "goos: ")
		case strings.HasPrefix(line, "goarch: "):
			r.goarch = strings.TrimPrefix(line, "goarch: ")
		case strings.HasPrefix(line, "Benchmark"):
			r.parseLine(line)
		}
	}
	return sc.Err()
}

func (r *run) parseLine(line string) {
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
		res = &result{name: name, units: map[string][]float64{}}
		r.results[name] = res
		r.order = append(r.order, name)
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			continue
		}
		res.units[f[i+1]] = append(res.units[f[i+1]], v)
	}
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

var floors = map[string]bool{"otter": true, "rueidis": true, "goredis": true}

// clientOf returns the Redis client a library uses, "" for none or unknown.
func clientOf(lib string) string {
	switch lib {
	case "accelerator-rueidis", "rueidis":
		return "rueidis"
	case "accelerator":
		return ""
	}
	return "goredis"
}

// floorOf returns the raw floor an accelerator benchmark is normalised by, in the
// same run: the workload's own floor where it has one, else a bare otter Get for the
// local workloads and a bare GET plus decode on the same client for the others.
func floorOf(name string) string {
	group, lib := split(name)
	size := part(name, "size")
	switch {
	case strings.HasPrefix(group, "L1Hit/"):
		return group + "/lib=otter"
	case lib == "accelerator":
		return "L1Hit/size=" + size + "/lib=otter"
	case strings.HasPrefix(group, "L2HitParallel/"), strings.HasPrefix(group, "L2Hit/"):
		return group + "/lib=" + clientOf(lib)
	case strings.HasPrefix(group, "Batch/"):
		return "Batch/keys=all-in-L2/size=" + size + "/lib=" + clientOf(lib)
	}
	return "L2Hit/size=" + size + "/lib=" + clientOf(lib)
}

// timeTracked reports whether the ns/op of a benchmark is gated: not for the
// stampede, whose time is mostly its loader's sleep.
func timeTracked(name string) bool { return !strings.HasPrefix(name, "Stampede/") }

// --- tables ---

func writeTables(w io.Writer, r *run) error {
	var groups []string
	libsOf := map[string][]string{}
	for _, name := range r.order {
		g, lib := split(name)
		if _, ok := libsOf[g]; !ok {
			groups = append(groups, g)
		}
		libsOf[g] = append(libsOf[g], lib)
	}
	if r.cpu != "" {
		fmt.Fprintf(w, "cpu: %s, %s/%s\n\n", r.cpu, r.goos, r.goarch)
	}
	for _, g := range groups {
		writeGroup(w, r, g, libsOf[g])
	}
	return nil
}

// metricCols are the figures shown after ns/op, when a workload reports them.
var metricCols = []struct{ unit, title string }{
	{"B/op", "B/op"}, {"allocs/op", "allocs/op"}, {"roundtrips/op", "round trips/op"},
	{"loads/op", "loads/op"}, {"hit-ratio", "L1 hit ratio"},
}

func writeGroup(w io.Writer, r *run, group string, libs []string) {
	var accs []string
	for _, l := range libs {
		if isAccelerator(l) {
			accs = append(accs, l)
		}
	}
	var cols []string
	for _, c := range metricCols {
		for _, l := range libs {
			if len(r.get(group + "/lib=" + l).units[c.unit]) > 0 {
				cols = append(cols, c.unit)
				break
			}
		}
	}
	fmt.Fprintf(w, "#### %s\n\n| library | time/op |", group)
	for _, a := range accs {
		fmt.Fprintf(w, " vs %s |", a)
	}
	for _, c := range cols {
		fmt.Fprintf(w, " %s |", title(c))
	}
	fmt.Fprint(w, "\n|---|---:|")
	fmt.Fprint(w, strings.Repeat("---:|", len(accs)+len(cols)))
	fmt.Fprintln(w)
	for _, l := range libs {
		res := r.get(group + "/lib=" + l)
		ns, _ := res.median("ns/op")
		label := l
		if floors[l] {
			label += " (floor)"
		}
		fmt.Fprintf(w, "| %s | %s%s |", label, human(ns), spreadNote(res))
		for _, a := range accs {
			fmt.Fprintf(w, " %s |", ratioCell(r, group, l, a))
		}
		for _, c := range cols {
			fmt.Fprintf(w, " %s |", metricCell(res, c))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func title(unit string) string {
	for _, c := range metricCols {
		if c.unit == unit {
			return c.title
		}
	}
	return unit
}

func spreadNote(res *result) string {
	s := res.spread("ns/op")
	if s == 0 {
		return ""
	}
	return fmt.Sprintf(" ±%.0f%%", s*100)
}

func ratioCell(r *run, group, lib, acc string) string {
	ns, ok1 := r.ns(group + "/lib=" + lib)
	a, ok2 := r.ns(group + "/lib=" + acc)
	if !ok1 || !ok2 || a == 0 {
		return ""
	}
	if lib == acc {
		return "1.00×"
	}
	return fmt.Sprintf("%.2f×", ns/a)
}

func metricCell(res *result, unit string) string {
	v, ok := res.median(unit)
	if !ok {
		return ""
	}
	switch unit {
	case "hit-ratio":
		return fmt.Sprintf("%.1f%%", v*100)
	case "B/op", "allocs/op":
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// human formats nanoseconds with three significant digits.
func human(ns float64) string {
	d := []struct {
		unit  string
		scale float64
	}{{"s", 1e9}, {"ms", 1e6}, {"µs", 1e3}, {"ns", 1}}
	for _, u := range d {
		if ns >= u.scale || u.unit == "ns" {
			v := ns / u.scale
			switch {
			case v >= 100:
				return fmt.Sprintf("%.0f %s", v, u.unit)
			case v >= 10:
				return fmt.Sprintf("%.1f %s", v, u.unit)
			}
			return fmt.Sprintf("%.2f %s", v, u.unit)
		}
	}
	return ""
}

// --- headline ---

var headlineRows = []struct{ title, group, extra string }{
	{"L1 hit, 100 B", "L1Hit/size=100B", ""},
	{"L1 hit, 10 KB", "L1Hit/size=10KB", ""},
	{"L2 hit, 100 B", "L2Hit/size=100B", ""},
	{"L2 hit, 10 KB", "L2Hit/size=10KB", ""},
	{"L2 hit, 2 goroutines, 100 B", "L2HitParallel/procs=2/size=100B", ""},
	{"miss + load + write-back, 100 B", "MissLoad/tier=both/size=100B", ""},
	{"MGet 100, all in L2, 100 B", "Batch/keys=all-in-L2/size=100B", ""},
	{"MGet 100, all missing, 100 B", "Batch/keys=all-missing/size=100B", ""},
	{"MGet 100, half in L2, 100 B", "Batch/keys=half/size=100B", ""},
	{"stampede, 1,000 readers, 100 B", "Stampede/tier=both/size=100B", "loads/op"},
	{"zipf mix, 2 goroutines, 100 B", "Zipf/tier=both/procs=2/size=100B", "hit-ratio"},
}

var headlineCols = []struct{ title, lib, localLib string }{
	{"accelerator (rueidis)", "accelerator-rueidis", "accelerator"},
	{"accelerator (go-redis)", "accelerator-goredis", ""},
	{"jetcache-go", "jetcache", "jetcache"},
	{"eko/gocache", "gocache", "gocache"},
	{"go-redis/cache", "goredis-cache", "goredis-cache"},
	{"sturdyc", "sturdyc", "sturdyc"},
}

func writeHeadline(w io.Writer, r *run) error {
	fmt.Fprint(w, "| workload (time/op, lower is better) |")
	for _, c := range headlineCols {
		fmt.Fprintf(w, " %s |", c.title)
	}
	fmt.Fprint(w, " raw floor |\n|---|")
	fmt.Fprint(w, strings.Repeat("---:|", len(headlineCols)+1))
	fmt.Fprintln(w)
	for _, row := range headlineRows {
		local := strings.HasPrefix(row.group, "L1Hit/")
		fmt.Fprintf(w, "| %s |", row.title)
		for _, c := range headlineCols {
			lib := c.lib
			if local {
				lib = c.localLib
			}
			fmt.Fprintf(w, " %s |", headlineCell(r, row.group, lib, row.extra, local && c.lib == "accelerator-goredis"))
		}
		fmt.Fprintf(w, " %s |\n", floorCell(r, row.group))
	}
	if r.cpu != "" {
		fmt.Fprintf(w, "\nMedians of the samples; %s, %s/%s.\n", r.cpu, r.goos, r.goarch)
	}
	return nil
}

func headlineCell(r *run, group, lib, extra string, same bool) string {
	if same {
		return "(same L1)"
	}
	res := r.get(group + "/lib=" + lib)
	if lib == "" || res == nil {
		return "—"
	}
	ns, _ := res.median("ns/op")
	cell := human(ns)
	switch extra {
	case "hit-ratio":
		if v, ok := res.median(extra); ok {
			cell += fmt.Sprintf(" (%.0f%% L1 hits)", v*100)
		}
	case "loads/op":
		loads, _ := res.median("loads/op")
		unit := "loads"
		if loads == 1 {
			unit = "load"
		}
		cell += fmt.Sprintf(" (%.3g %s", loads, unit)
		if rt, ok := res.median("roundtrips/op"); ok {
			cell += fmt.Sprintf(", %.0f round trips", rt)
		}
		cell += ")"
	}
	return cell
}

func floorCell(r *run, group string) string {
	var cells []string
	for _, f := range []string{"otter", "rueidis", "goredis"} {
		if ns, ok := r.ns(group + "/lib=" + f); ok {
			cells = append(cells, fmt.Sprintf("%s %s", f, human(ns)))
		}
	}
	if len(cells) == 0 {
		return "—"
	}
	return strings.Join(cells, ", ")
}

// --- matrix ---

// writeMatrix writes one row per workload: the time/op of every contender, and how
// the fastest peer compares with accelerator on each backend.
func writeMatrix(w io.Writer, r *run) {
	fmt.Fprint(w, "| workload |")
	for _, c := range headlineCols {
		fmt.Fprintf(w, " %s |", c.title)
	}
	fmt.Fprint(w, " raw floor | fastest peer ÷ accelerator |\n|---|")
	fmt.Fprint(w, strings.Repeat("---:|", len(headlineCols)+2))
	fmt.Fprintln(w)
	seen := map[string]bool{}
	for _, name := range r.order {
		g, _ := split(name)
		if seen[g] {
			continue
		}
		seen[g] = true
		_, hasLocal := r.ns(g + "/lib=accelerator")
		fmt.Fprintf(w, "| %s |", g)
		for _, c := range headlineCols {
			lib := c.lib
			if hasLocal {
				lib = c.localLib
			}
			cell := "—"
			if ns, ok := r.ns(g + "/lib=" + lib); ok && lib != "" {
				cell = human(ns)
			} else if hasLocal && c.lib == "accelerator-goredis" {
				cell = "″"
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		fmt.Fprintf(w, " %s | %s |\n", floorCell(r, g), peerRatios(r, g))
	}
}

// peerRatios returns the fastest peer's time/op over accelerator's, per backend:
// above 1, accelerator is ahead.
func peerRatios(r *run, group string) string {
	best, bestLib := math.Inf(1), ""
	for _, p := range peers {
		if ns, ok := r.ns(group + "/lib=" + p); ok && ns < best {
			best, bestLib = ns, p
		}
	}
	if bestLib == "" {
		return "—"
	}
	var parts []string
	for _, acc := range []string{"accelerator", "accelerator-rueidis", "accelerator-goredis"} {
		if a, ok := r.ns(group + "/lib=" + acc); ok {
			label := strings.TrimPrefix(strings.TrimPrefix(acc, "accelerator"), "-")
			if label != "" {
				label += " "
			}
			parts = append(parts, fmt.Sprintf("%s%.2f", label, best/a))
		}
	}
	return fmt.Sprintf("%s (%s)", strings.Join(parts, ", "), bestLib)
}

// --- targets ---

type verdict struct {
	target string
	ok     bool
	detail string
}

func writeTargets(w io.Writer, r *run) {
	var vs []verdict
	sizes := []string{"100B", "10KB"}
	for _, size := range sizes {
		vs = append(vs, withinFloor(r, "L1Hit/size="+size, "accelerator", "otter", 1.5, true))
	}
	for _, size := range sizes {
		for _, c := range []string{"rueidis", "goredis"} {
			vs = append(vs, withinFloor(r, "L2Hit/size="+size, "accelerator-"+c, c, 1.2, false))
		}
	}
	for _, size := range sizes {
		for _, c := range []string{"rueidis", "goredis"} {
			v := withinFloor(r, "Batch/keys=all-in-L2/size="+size, "accelerator-"+c, c, 1.2, false)
			if res := r.get("Batch/keys=all-in-L2/size=" + size + "/lib=accelerator-" + c); res != nil {
				rt, _ := res.median("roundtrips/op")
				v.ok = v.ok && rt == 1
				v.detail += fmt.Sprintf(", %.3g round trips/op", rt)
			}
			vs = append(vs, v)
		}
	}
	for _, size := range sizes {
		for _, c := range []string{"rueidis", "goredis"} {
			vs = append(vs, parallelTarget(r, size, c))
		}
	}
	vs = append(vs, aheadTargets(r)...)
	fmt.Fprintln(w, "| target | met | measured |\n|---|---|---|")
	for _, v := range vs {
		mark := "yes"
		if !v.ok {
			mark = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", v.target, mark, v.detail)
	}
}

func withinFloor(r *run, group, acc, floor string, limit float64, noAllocs bool) verdict {
	v := verdict{target: fmt.Sprintf("%s: %s within %.1f× of %s", group, acc, limit, floor)}
	if noAllocs {
		v.target += ", 0 allocs"
	}
	a, ok1 := r.ns(group + "/lib=" + acc)
	f, ok2 := r.ns(group + "/lib=" + floor)
	if !ok1 || !ok2 {
		v.detail = "not measured"
		return v
	}
	v.ok = a/f <= limit
	v.detail = fmt.Sprintf("%.2f× (%s vs %s)", a/f, human(a), human(f))
	if noAllocs {
		allocs, _ := r.get(group + "/lib=" + acc).median("allocs/op")
		v.ok = v.ok && allocs == 0
		v.detail += fmt.Sprintf(", %.0f allocs/op", allocs)
	}
	return v
}

var peers = []string{"jetcache", "gocache", "goredis-cache", "sturdyc"}

func parallelTarget(r *run, size, client string) verdict {
	group := "L2HitParallel/procs=2/size=" + size
	acc := "accelerator-" + client
	v := verdict{target: fmt.Sprintf("%s: %s throughput ≥ 1.5× the best peer's", group, acc)}
	a, ok := r.ns(group + "/lib=" + acc)
	best, bestLib := math.Inf(1), ""
	for _, p := range peers {
		if ns, ok := r.ns(group + "/lib=" + p); ok && ns < best {
			best, bestLib = ns, p
		}
	}
	if !ok || bestLib == "" {
		v.detail = "not measured"
		return v
	}
	v.ok = best/a >= 1.5
	v.detail = fmt.Sprintf("%.2f× %s (%s vs %s)", best/a, bestLib, human(a), human(best))
	return v
}

// aheadTargets checks, workload by workload, that accelerator is faster than every
// peer that runs it: the default backend (rueidis), and the go-redis backend, which
// is the client every peer uses.
func aheadTargets(r *run) []verdict {
	var groups []string
	seen := map[string]bool{}
	for _, name := range r.order {
		g, _ := split(name)
		if !seen[g] {
			seen[g] = true
			groups = append(groups, g)
		}
	}
	var vs []verdict
	for _, g := range groups {
		for _, acc := range []string{"accelerator", "accelerator-rueidis", "accelerator-goredis"} {
			a, ok := r.ns(g + "/lib=" + acc)
			if !ok {
				continue
			}
			v := verdict{target: fmt.Sprintf("%s: %s ahead of every peer", g, acc), ok: true}
			var behind []string
			for _, p := range peers {
				ns, ok := r.ns(g + "/lib=" + p)
				if ok && ns < a {
					v.ok = false
					note := ""
					if overlap(r.get(g+"/lib="+acc), r.get(g+"/lib="+p)) {
						note = " (samples overlap)"
					}
					behind = append(behind, fmt.Sprintf("%s %.2f×%s", p, a/ns, note))
				}
			}
			v.detail = "ahead of all"
			if len(behind) > 0 {
				v.detail = "slower than " + strings.Join(behind, ", ")
			}
			vs = append(vs, v)
		}
	}
	return vs
}

// overlap reports whether the time/op samples of a and b overlap: the difference
// of their medians is then within what the run's noise can do.
func overlap(a, b *result) bool {
	x, y := a.units["ns/op"], b.units["ns/op"]
	if len(x) < 2 || len(y) < 2 {
		return false
	}
	return slices.Min(x) <= slices.Max(y) && slices.Min(y) <= slices.Max(x)
}

// --- baseline ---

// Baseline is the file that scripts/bench.sh export writes and check reads.
type Baseline struct {
	Comment    string                   `json:"comment"`
	Created    string                   `json:"created"`
	CPU        string                   `json:"cpu"`
	Note       string                   `json:"note,omitempty"`
	Benchmarks map[string]BaselineEntry `json:"benchmarks"`
}

// BaselineEntry is one tracked accelerator benchmark.
type BaselineEntry struct {
	// Floor is the benchmark it is normalised by.
	Floor string `json:"floor"`
	// Ratio is its median ns/op divided by the floor's, or 0 when time is not
	// tracked; MinRatio is the same for the fastest samples, which interference from
	// other processes cannot make faster.
	Ratio    float64 `json:"ratio,omitempty"`
	MinRatio float64 `json:"min_ratio,omitempty"`
	// NsPerOp and FloorNsPerOp are the medians the ratio came from, for reference.
	NsPerOp      float64 `json:"ns_per_op"`
	FloorNsPerOp float64 `json:"floor_ns_per_op"`
	// Metrics are the domain figures that were the same in every sample, and so are
	// checked as well.
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

var gatedMetrics = []string{"roundtrips/op", "loads/op", "hit-ratio"}

func tracked(r *run) map[string]BaselineEntry {
	out := map[string]BaselineEntry{}
	for _, name := range r.order {
		_, lib := split(name)
		if !isAccelerator(lib) {
			continue
		}
		floor := floorOf(name)
		ns, ok1 := r.ns(name)
		fns, ok2 := r.ns(floor)
		if !ok1 || !ok2 || fns == 0 {
			continue
		}
		e := BaselineEntry{Floor: floor, NsPerOp: round(ns), FloorNsPerOp: round(fns)}
		if timeTracked(name) {
			e.Ratio = round(ns / fns)
			e.MinRatio = round(slices.Min(r.get(name).units["ns/op"]) / slices.Min(r.get(floor).units["ns/op"]))
		}
		res := r.get(name)
		for _, m := range gatedMetrics {
			if v, ok := res.median(m); ok && res.stable(m) {
				if e.Metrics == nil {
					e.Metrics = map[string]float64{}
				}
				e.Metrics[m] = v
			}
		}
		out[name] = e
	}
	return out
}

func round(v float64) float64 { return math.Round(v*10000) / 10000 }

func export(args []string) error {
	fs := flag.NewFlagSet("export", flag.ExitOnError)
	out := fs.String("o", "baseline.json", "baseline file to write")
	note := fs.String("note", "", "where the run comes from (commit, Go version, load)")
	_ = fs.Parse(args)
	r, err := parseFiles(fs.Args())
	if err != nil {
		return err
	}
	b := Baseline{
		Comment: "Written by scripts/bench.sh baseline. Ratio is ns/op over the floor's ns/op in the same run; " +
			"scripts/bench.sh check fails when a ratio grows by more than the threshold.",
		Created:    time.Now().UTC().Format(time.DateOnly),
		CPU:        r.cpu,
		Note:       *note,
		Benchmarks: tracked(r),
	}
	if len(b.Benchmarks) == 0 {
		return errors.New("no accelerator benchmark with its floor in the results: nothing to export")
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %d tracked benchmarks to %s\n", len(b.Benchmarks), *out)
	return nil
}

var errRegression = errors.New("regression")

func check(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	basePath := fs.String("baseline", "baseline.json", "baseline file")
	threshold := fs.Float64("threshold", 15, "allowed growth of a ratio, in percent")
	_ = fs.Parse(args)
	r, err := parseFiles(fs.Args())
	if err != nil {
		return err
	}
	data, err := os.ReadFile(*basePath)
	if err != nil {
		return err
	}
	var base Baseline
	if err := json.Unmarshal(data, &base); err != nil {
		return fmt.Errorf("%s: %w", *basePath, err)
	}
	th := *threshold / 100
	now := tracked(r)
	names := make([]string, 0, len(base.Benchmarks))
	for n := range base.Benchmarks {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Printf("| benchmark | figure | baseline | now | change | verdict |\n|---|---|---:|---:|---:|---|\n")
	compared, failed := 0, 0
	for _, n := range names {
		b := base.Benchmarks[n]
		cur, ok := now[n]
		if !ok {
			continue // not run this time (local-only, filtered) or its floor missing
		}
		compared++
		if b.Ratio > 0 && cur.Ratio > 0 {
			// A regression shows in the medians and in the fastest samples alike; a
			// median alone moves with whatever else the machine runs.
			bad := cur.Ratio > b.Ratio*(1+th) && (b.MinRatio == 0 || cur.MinRatio > b.MinRatio*(1+th))
			failed += report(n, "time ÷ "+shortFloor(b.Floor), b.Ratio, cur.Ratio, bad)
		}
		for _, m := range gatedMetrics {
			bv, ok1 := b.Metrics[m]
			cv, ok2 := r.get(n).median(m)
			if !ok1 || !ok2 {
				continue
			}
			bad := cv > bv*(1+th)+0.01
			if m == "hit-ratio" {
				bad = cv < bv*(1-th)
			}
			failed += report(n, m, bv, cv, bad)
		}
	}
	fmt.Printf("\n%d tracked benchmarks compared, threshold %.0f%%: ", compared, *threshold)
	switch {
	case compared == 0:
		fmt.Println("none of the baseline's benchmarks ran")
		return errors.New("nothing to compare")
	case failed > 0:
		fmt.Printf("%d regressions\n", failed)
		return errRegression
	}
	fmt.Println("no regression")
	return nil
}

func shortFloor(floor string) string {
	_, lib := split(floor)
	g, _ := split(floor)
	return strings.SplitN(g, "/", 2)[0] + " " + lib
}

func report(name, figure string, base, now float64, bad bool) int {
	verdict, n := "ok", 0
	if bad {
		verdict, n = "**REGRESSION**", 1
	}
	change := 0.0
	if base != 0 {
		change = (now/base - 1) * 100
	}
	fmt.Printf("| %s | %s | %.4g | %.4g | %+.1f%% | %s |\n", name, figure, base, now, change, verdict)
	return n
}
