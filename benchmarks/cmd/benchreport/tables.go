package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sectionNames are the generated sections of the docs, in the order of
// docs/performance.md.
var sectionNames = []string{"run", "headline", "ratios", "figures", "targets", "all"}

// section returns one generated section in a language ("en" or "zh").
func section(r *run, name, lang string) string {
	var b strings.Builder
	t := translator(lang)
	switch name {
	case "run":
		writeRun(&b, r, t)
	case "run-line":
		writeRunLine(&b, r, t)
	case "headline":
		writeHeadline(&b, r, t)
	case "ratios":
		writeRatios(&b, r, t)
	case "figures":
		writeFigures(&b, r, t)
	case "targets":
		writeTargets(&b, r, t)
	case "all":
		writeAll(&b, r, t)
	default:
		return ""
	}
	return b.String()
}

// --- formatting ---

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

// timeCell is "median ±spread%" of a benchmark's ns/op, or "—".
func timeCell(r *run, name string) string {
	res := r.get(name)
	v := res.values("ns/op")
	if len(v) == 0 {
		return "—"
	}
	return fmt.Sprintf("%s ±%.0f%%", human(median(v)), spread(v)*100)
}

func ratioCell(q ratio) string {
	if !q.ok {
		return "—"
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", q.median, q.lo, q.hi)
}

func num(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e7:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func metricCell(r *run, name, unit string) string {
	v, ok := r.get(name).median(unit)
	if !ok {
		return "—"
	}
	if unit == "hit-ratio" {
		return fmt.Sprintf("%.1f%%", v*100)
	}
	return num(v)
}

// --- rows and columns ---

// row is one workload of the headline and ratio tables.
type row struct{ en, zh, group, extra string }

var rows = []row{
	{"L1 hit", "L1 命中", "L1Hit/size=100B", ""},
	{"L2 hit", "L2 命中", "L2Hit/size=100B", ""},
	{"L2 hit, 64 goroutines", "L2 命中，64 个 goroutine", "L2HitConcurrent/goroutines=64/size=100B", ""},
	{"miss + load + write-back", "未命中 + 加载 + 回写", "MissLoad/tier=both/size=100B", ""},
	{"miss + load, L1 only", "未命中 + 加载，仅 L1", "MissLoad/tier=local/size=100B", ""},
	{"MGet 100, all in L2", "MGet 100，全部在 L2", "Batch/keys=all-in-L2/size=100B", ""},
	{"MGet 100, all missing", "MGet 100，全部缺失", "Batch/keys=all-missing/size=100B", ""},
	{"MGet 100, half in L2", "MGet 100，一半在 L2", "Batch/keys=half/size=100B", ""},
	{"stampede, 1,000 readers", "击穿，1,000 个读者", "Stampede/tier=both/size=100B", "loads/op"},
	{"stampede, L1 only", "击穿，仅 L1", "Stampede/tier=local/size=100B", "loads/op"},
	{"zipf mix, 64 goroutines", "zipf 混合，64 个 goroutine", "Zipf/tier=both/goroutines=64/size=100B", "hit-ratio"},
	{"zipf mix, 64 goroutines, L1 only", "zipf 混合，64 个 goroutine，仅 L1", "Zipf/tier=local/goroutines=64/size=100B", "hit-ratio"},
}

func (w row) title(lang string) string {
	if lang == "zh" {
		return w.zh
	}
	return w.en
}

// col is a contender column; local is the library in the in-process workloads.
type col struct{ title, lib, local string }

var cols = []col{
	{"accelerator (rueidis)", "accelerator-rueidis", "accelerator"},
	{"accelerator (go-redis)", "accelerator-goredis", ""},
	{"jetcache-go", "jetcache", "jetcache"},
	{"eko/gocache", "gocache", "gocache"},
	{"go-redis/cache", "goredis-cache", "goredis-cache"},
	{"sturdyc", "sturdyc", "sturdyc"},
}

func isLocal(r *run, group string) bool {
	_, ok := r.ns(group + "/lib=accelerator")
	return ok
}

// accs returns the accelerator contenders of a group.
func accs(r *run, group string) []string {
	if isLocal(r, group) {
		return []string{"accelerator"}
	}
	var out []string
	for _, a := range []string{"accelerator-rueidis", "accelerator-goredis"} {
		if _, ok := r.ns(group + "/lib=" + a); ok {
			out = append(out, a)
		}
	}
	return out
}

func present(r *run, group string) bool {
	for _, name := range r.order {
		if g, _ := split(name); g == group {
			return true
		}
	}
	return false
}

// --- sections ---

func writeRun(b *strings.Builder, r *run, t tr) {
	fmt.Fprintf(b, "| %s | |\n|---|---|\n", t("run"))
	for _, k := range []struct{ key, en string }{
		{"date", "date"}, {"commit", "commit"}, {"command", "command"}, {"machine", "machine"},
		{"go", "Go"}, {"redis", "Redis"}, {"rounds", "rounds"}, {"wall", "wall time"},
		{"load", "load average (start → end)"}, {"valgrind", "valgrind"}, {"idle", "idle process"},
	} {
		v := r.meta[k.key]
		switch k.key {
		case "machine":
			if v == "" {
				v = r.cpu
			}
		case "valgrind":
			if r.gate != nil && r.gate.Valgrind != "" {
				v = r.gate.Valgrind
			}
		}
		if v == "" {
			continue
		}
		if k.key == "command" || k.key == "commit" {
			v = "`" + v + "`"
		}
		fmt.Fprintf(b, "| %s | %s |\n", t(k.en), v)
	}
}

func writeRunLine(b *strings.Builder, r *run, t tr) {
	fmt.Fprintf(b, t("Medians over %s interleaved rounds with the 95%% confidence interval of the median (±), 100 B values; %s, %s, commit %s, %s, made by `%s`.")+"\n",
		r.meta["rounds-n"], r.meta["date"], r.meta["machine-short"], "`"+r.meta["commit"]+"`", r.meta["redis"], r.meta["command"])
}

func writeHeadline(b *strings.Builder, r *run, t tr) {
	fmt.Fprintf(b, "| %s |", t("workload (time/op, lower is better)"))
	for _, c := range cols {
		fmt.Fprintf(b, " %s |", c.title)
	}
	fmt.Fprintf(b, " %s |\n|---|%s\n", t("raw floor"), strings.Repeat("---:|", len(cols)+1))
	for _, w := range rows {
		if !present(r, w.group) {
			continue
		}
		local := isLocal(r, w.group)
		fmt.Fprintf(b, "| %s |", w.title(t.lang()))
		for _, c := range cols {
			lib := c.lib
			if local {
				lib = c.local
			}
			cell := "—"
			switch {
			case local && c.lib == "accelerator-goredis":
				cell = t("(same L1)")
			case lib != "":
				if _, ok := r.ns(w.group + "/lib=" + lib); ok {
					cell = timeCell(r, w.group+"/lib="+lib) + extraNote(r, w.group+"/lib="+lib, w.extra, t)
				}
			}
			fmt.Fprintf(b, " %s |", cell)
		}
		var fl []string
		for _, f := range []string{"otter", "rueidis", "goredis"} {
			if _, ok := r.ns(w.group + "/lib=" + f); ok {
				fl = append(fl, f+" "+timeCell(r, w.group+"/lib="+f))
			}
		}
		if len(fl) == 0 {
			fl = []string{"—"}
		}
		fmt.Fprintf(b, " %s |\n", strings.Join(fl, ", "))
	}
}

func extraNote(r *run, name, extra string, t tr) string {
	res := r.get(name)
	switch extra {
	case "hit-ratio":
		if v, ok := res.median(extra); ok {
			return fmt.Sprintf(t(" (%.0f%% L1 hits)"), v*100)
		}
	case "loads/op":
		loads, _ := res.median("loads/op")
		unit := t("loads")
		if loads == 1 {
			unit = t("load")
		}
		s := fmt.Sprintf(" (%s %s", num(loads), unit)
		if rt, ok := res.median("roundtrips/op"); ok {
			s += fmt.Sprintf(", %s %s", num(rt), t("round trips"))
		}
		return s + ")"
	}
	return ""
}

func writeRatios(b *strings.Builder, r *run, t tr) {
	fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n|---|---|---:|---:|---:|---:|\n",
		t("workload"), t("best peer"),
		t("accelerator (rueidis) ÷ best peer"), t("accelerator (go-redis) ÷ best peer"),
		t("accelerator (rueidis) ÷ raw floor"), t("accelerator (go-redis) ÷ raw floor"))
	for _, w := range rows {
		if !present(r, w.group) {
			continue
		}
		best, _ := r.bestPeer(w.group)
		cells := []string{"—", "—", "—", "—"}
		as := accs(r, w.group)
		for i, a := range as {
			if best != "" {
				cells[i] = ratioCell(r.pairedRatio(w.group+"/lib="+a, w.group+"/lib="+best))
			}
			if f, ok := r.floorFor(w.group, a); ok {
				cells[2+i] = ratioCell(r.pairedRatio(w.group+"/lib="+a, w.group+"/lib="+f)) + " " + f
			}
		}
		if len(as) == 1 && as[0] == "accelerator" {
			cells[1], cells[3] = t("(same L1)"), t("(same L1)")
		}
		if best == "" {
			best = "—"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", w.title(t.lang()), best, strings.Join(cells, " | "))
	}
}

// figureRows are the workloads of the deterministic table.
var figureRows = []row{
	{"L1 hit", "L1 命中", "L1Hit/size=100B", ""},
	{"L2 hit, in-memory L2", "L2 命中，内存中的 L2", "L2HitMem/size=100B", ""},
	{"L2 hit", "L2 命中", "L2Hit/size=100B", ""},
	{"L2 hit, 64 goroutines", "L2 命中，64 个 goroutine", "L2HitConcurrent/goroutines=64/size=100B", ""},
	{"miss + load + write-back", "未命中 + 加载 + 回写", "MissLoad/tier=both/size=100B", ""},
	{"miss + load, L1 only", "未命中 + 加载，仅 L1", "MissLoad/tier=local/size=100B", ""},
	{"MGet 100, all in L2", "MGet 100，全部在 L2", "Batch/keys=all-in-L2/size=100B", ""},
	{"MGet 100, all missing", "MGet 100，全部缺失", "Batch/keys=all-missing/size=100B", ""},
	{"stampede, 1,000 readers", "击穿，1,000 个读者", "Stampede/tier=both/size=100B", ""},
	{"zipf mix, 64 goroutines", "zipf 混合，64 个 goroutine", "Zipf/tier=both/goroutines=64/size=100B", ""},
}

func writeFigures(b *strings.Builder, r *run, t tr) {
	fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
		t("workload"), t("library"), t("instructions/op"), t("allocs/op (gate)"), t("allocs/op (-benchmem)"),
		t("round trips/op"), t("Redis commands/op"), t("Redis CPU µs/op"))
	for _, w := range figureRows {
		if !present(r, w.group) {
			continue
		}
		var libs []string
		for _, a := range accs(r, w.group) {
			libs = append(libs, a)
		}
		for _, a := range accs(r, w.group) {
			if f, ok := r.floorFor(w.group, a); ok {
				libs = append(libs, f)
			}
		}
		for _, lib := range libs {
			name := w.group + "/lib=" + lib
			label := lib
			if floors[lib] {
				label += t(" (floor)")
			}
			gateCell := func(unit string) string {
				if v, ok := r.gateFig(name, unit); ok && !(unit == "instructions/op" && v == 0) {
					return num(v)
				}
				return "—"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", w.title(t.lang()), label,
				gateCell("instructions/op"), gateCell("allocs/op"), metricCell(r, name, "allocs/op"),
				metricCell(r, name, "roundtrips/op"), metricCell(r, name, "redis-cmds/op"), metricCell(r, name, "redis-µs/op"))
		}
	}
}

// writeAll writes one table per workload, every contender.
func writeAll(b *strings.Builder, r *run, t tr) {
	var groups []string
	libsOf := map[string][]string{}
	for _, name := range r.order {
		g, lib := split(name)
		if _, ok := libsOf[g]; !ok {
			groups = append(groups, g)
		}
		libsOf[g] = append(libsOf[g], lib)
	}
	units := []struct{ unit, title string }{
		{"B/op", "B/op"}, {"allocs/op", "allocs/op"}, {"roundtrips/op", "round trips/op"},
		{"redis-cmds/op", "Redis commands/op"}, {"redis-µs/op", "Redis CPU µs/op"},
		{"loads/op", "loads/op"}, {"hit-ratio", "L1 hit ratio"},
	}
	for _, g := range groups {
		as := accs(r, g)
		var us []int
		for i, u := range units {
			for _, l := range libsOf[g] {
				if r.get(g + "/lib=" + l).has(u.unit) {
					us = append(us, i)
					break
				}
			}
		}
		fmt.Fprintf(b, "##### %s\n\n| %s | %s |", g, t("library"), t("time/op"))
		for _, a := range as {
			fmt.Fprintf(b, " ÷ %s |", a)
		}
		for _, i := range us {
			fmt.Fprintf(b, " %s |", t(units[i].title))
		}
		fmt.Fprintf(b, "\n|---|---:|%s\n", strings.Repeat("---:|", len(as)+len(us)))
		for _, l := range libsOf[g] {
			name := g + "/lib=" + l
			label := l
			if floors[l] {
				label += t(" (floor)")
			}
			fmt.Fprintf(b, "| %s | %s |", label, timeCell(r, name))
			for _, a := range as {
				if a == l {
					fmt.Fprint(b, " 1 |")
					continue
				}
				q := r.pairedRatio(name, g+"/lib="+a)
				if q.ok {
					fmt.Fprintf(b, " %.2f× |", q.median)
				} else {
					fmt.Fprint(b, " — |")
				}
			}
			for _, i := range us {
				fmt.Fprintf(b, " %s |", metricCell(r, name, units[i].unit))
			}
			fmt.Fprintln(b)
		}
		fmt.Fprintln(b)
	}
}

// --- targets ---

type verdict struct {
	target, measured string
	lib              string // the accelerator contender, where there is one
	met              bool
	known            bool // measured at all
}

func writeTargets(b *strings.Builder, r *run, t tr) {
	fmt.Fprintf(b, "| %s | %s | %s |\n|---|---|---|\n", t("target"), t("measured"), t("met"))
	for _, v := range targets(r, t) {
		mark := t("**no**")
		switch {
		case !v.known:
			mark = t("not measured")
		case v.met:
			mark = t("yes")
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", v.target, v.measured, mark)
	}
}

// vsBest checks "accelerator ÷ best peer ≤ limit" for each backend of group.
func vsBest(r *run, group, what string, limit float64, t tr) []verdict {
	var out []verdict
	best, ok := r.bestPeer(group)
	for _, a := range accs(r, group) {
		v := verdict{target: fmt.Sprintf(t("%s, %s: ≤ %.1f× the best peer's time"), t(what), a, limit), lib: a}
		if ok {
			q := r.pairedRatio(group+"/lib="+a, group+"/lib="+best)
			if q.ok {
				v.known, v.met = true, q.median <= limit
				v.measured = fmt.Sprintf("%s %s", ratioCell(q), best)
			}
		}
		out = append(out, v)
	}
	return out
}

func targets(r *run, t tr) []verdict {
	var vs []verdict
	vs = append(vs, vsBest(r, "MissLoad/tier=both/size=100B", "miss + load + write-back", 0.9, t)...)
	vs = append(vs, vsBest(r, "Batch/keys=all-missing/size=100B", "MGet 100, all missing", 0.9, t)...)
	for _, v := range vsBest(r, "Stampede/tier=both/size=100B", "stampede, 1,000 readers", 0.9, t) {
		v.target += t(", ≤ 2 round trips")
		if rt, ok := r.get("Stampede/tier=both/size=100B/lib=" + v.lib).median("roundtrips/op"); ok {
			v.measured += fmt.Sprintf(t("; %s round trips"), num(rt))
			v.met = v.met && rt <= 2
		}
		vs = append(vs, v)
	}
	for _, a := range accs(r, "Batch/keys=all-in-L2/size=100B") {
		g := "Batch/keys=all-in-L2/size=100B"
		f, ok := r.floorFor(g, a)
		v := verdict{target: fmt.Sprintf(t("%s, %s: ≤ 1.2× raw MGET + decode"), t("MGet 100, all in L2"), a)}
		if ok {
			q := r.pairedRatio(g+"/lib="+a, g+"/lib="+f)
			v.known, v.met, v.measured = q.ok, q.ok && q.median <= 1.2, ratioCell(q)+" "+f
		}
		vs = append(vs, v)
	}
	// The L1 hit, in instructions (callgrind) and allocations.
	{
		v := verdict{target: t("L1 hit: ≤ 1.3× raw otter in instructions, 0 allocations")}
		a, ok1 := r.gateFig("L1Hit/size=100B/lib=accelerator", "instructions/op")
		o, ok2 := r.gateFig("L1Hit/size=100B/lib=otter", "instructions/op")
		al, ok3 := r.gateFig("L1Hit/size=100B/lib=accelerator", "allocs/op")
		if ok1 && ok2 && ok3 && o > 0 {
			v.known, v.met = true, a/o <= 1.3 && al == 0
			v.measured = fmt.Sprintf(t("%.2f× (%s vs %s instructions), %s allocations"), a/o, num(a), num(o), num(al))
		}
		vs = append(vs, v)
	}
	{
		v := verdict{target: t("L2 hit: ≤ 3,000 instructions and ≤ 2 allocations over the raw GET + decode")}
		a, ok1 := r.gateFig("L2HitMem/size=100B/lib=accelerator", "instructions/op")
		m, ok2 := r.gateFig("L2HitMem/size=100B/lib=map", "instructions/op")
		aa, ok3 := r.gateFig("L2HitMem/size=100B/lib=accelerator", "allocs/op")
		ma, ok4 := r.gateFig("L2HitMem/size=100B/lib=map", "allocs/op")
		if ok1 && ok2 && ok3 && ok4 && m > 0 {
			v.known = true
			v.met = a-m <= 3000 && aa-ma <= 2
			v.measured = fmt.Sprintf(t("in-memory L2: +%s instructions (%s vs %s), +%s allocations (%s vs %s)"),
				num(a-m), num(a), num(m), num(aa-ma), num(aa), num(ma))
			for _, c := range []string{"rueidis", "goredis"} {
				x, ok1 := r.gateFig("L2Hit/size=100B/lib=accelerator-"+c, "allocs/op")
				y, ok2 := r.gateFig("L2Hit/size=100B/lib="+c, "allocs/op")
				if ok1 && ok2 {
					v.met = v.met && x-y <= 2
					v.measured += fmt.Sprintf(t("; %s: +%s allocations (%s vs %s)"), c, num(x-y), num(x), num(y))
				}
			}
		}
		vs = append(vs, v)
	}
	{
		g := "L2HitConcurrent/goroutines=64/size=100B"
		best, ok := r.bestPeer(g)
		for _, a := range accs(r, g) {
			v := verdict{target: fmt.Sprintf(t("L2 hit, 64 goroutines, %s: throughput ≥ 1.5× the best peer's"), a)}
			if ok {
				q := r.pairedRatio(g+"/lib="+best, g+"/lib="+a) // time of the peer over ours: throughput ratio
				if q.ok {
					v.known, v.met = true, q.median >= 1.5
					v.measured = fmt.Sprintf(t("%.2f× (%.2f–%.2f) %s"), q.median, q.lo, q.hi, best)
				}
			}
			vs = append(vs, v)
		}
	}
	{
		v := verdict{target: t("an idle process with one open cache: under 1 ms of CPU a second")}
		if idle := r.meta["idle"]; idle != "" {
			v.known = true
			v.measured = idle
			v.met = r.meta["idle-ok"] == "yes"
		}
		vs = append(vs, v)
	}
	return vs
}
