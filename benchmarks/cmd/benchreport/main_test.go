package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const raw = `goos: linux
goarch: amd64
pkg: github.com/accelerator-go/accelerator/benchmarks
cpu: Test CPU
# round 1
BenchmarkL1Hit/size=100B/lib=accelerator-2   	1000	  60.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkL1Hit/size=100B/lib=sturdyc-2      	1000	 120.0 ns/op	 56 B/op	  2 allocs/op
BenchmarkL1Hit/size=100B/lib=otter-2         	1000	  50.0 ns/op	  0 B/op	  0 allocs/op
# round 2
BenchmarkL1Hit/size=100B/lib=otter-2         	1000	 100.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkL1Hit/size=100B/lib=accelerator-2   	1000	 120.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkL1Hit/size=100B/lib=sturdyc-2      	1000	 240.0 ns/op	 56 B/op	  2 allocs/op
# round 3
BenchmarkL1Hit/size=100B/lib=sturdyc-2      	1000	 125.0 ns/op	 56 B/op	  2 allocs/op
BenchmarkL1Hit/size=100B/lib=otter-2         	1000	  52.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkL1Hit/size=100B/lib=accelerator-2   	1000	  62.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkL2Hit/size=100B/lib=accelerator-rueidis-2	100	30000 ns/op	1.000 roundtrips/op	800 B/op	13 allocs/op
PASS
`

func loadRaw(t *testing.T, s string) *run {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "raw.txt"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := loadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseKeepsRoundsAndStripsProcs(t *testing.T) {
	r := loadRaw(t, raw)
	if r.cpu != "Test CPU" {
		t.Errorf("cpu = %q", r.cpu)
	}
	if ns, ok := r.ns("L1Hit/size=100B/lib=accelerator"); !ok || ns != 62 {
		t.Errorf("median = %v, %v; want 62", ns, ok)
	}
	if got := r.get("L1Hit/size=100B/lib=otter").byRound("ns/op")[2]; got != 100 {
		t.Errorf("otter's round 2 = %v, want 100", got)
	}
}

// TestPairedRatioCancelsASlowRound: round 2 ran everything twice as slow; the
// ratios taken round by round do not move.
func TestPairedRatioCancelsASlowRound(t *testing.T) {
	r := loadRaw(t, raw)
	q := r.pairedRatio("L1Hit/size=100B/lib=accelerator", "L1Hit/size=100B/lib=sturdyc")
	if !q.ok || q.n != 3 || q.median < 0.49 || q.median > 0.51 || q.hi > 0.51 {
		t.Errorf("ratio = %+v, want 0.5 with every round near it", q)
	}
	if best, _ := r.bestPeer("L1Hit/size=100B"); best != "sturdyc" {
		t.Errorf("best peer = %s", best)
	}
}

func TestMedianCIIsBenchstats(t *testing.T) {
	v := make([]float64, 16)
	for i := range v {
		v[i] = float64(i + 1)
	}
	lo, hi, ok := medianCI(v)
	if !ok || lo != 4 || hi != 13 {
		t.Errorf("16 samples: CI = [%v, %v], want the 4th and 13th", lo, hi)
	}
	if _, _, ok := medianCI(v[:5]); ok {
		t.Error("5 samples: want no interval")
	}
	if lo, hi, _ := medianCI(v[:6]); lo != 1 || hi != 6 {
		t.Errorf("6 samples: CI = [%v, %v], want the extremes", lo, hi)
	}
}

func TestRewriteReplacesOnlyTheSections(t *testing.T) {
	doc := "intro, quoting `<!-- bench:NAME -->`\n<!-- bench:a -->\nold\n<!-- /bench:a -->\nmiddle\n<!-- bench:b -->\n<!-- /bench:b -->\nend\n"
	out, n, err := rewrite(doc, func(name string) (string, bool) { return "new " + name + "\n", true })
	if err != nil || n != 2 {
		t.Fatalf("rewrite: %d sections, %v", n, err)
	}
	want := "intro, quoting `<!-- bench:NAME -->`\n<!-- bench:a -->\n\nnew a\n\n<!-- /bench:a -->\nmiddle\n<!-- bench:b -->\n\nnew b\n\n<!-- /bench:b -->\nend\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	again, _, _ := rewrite(out, func(name string) (string, bool) { return "new " + name + "\n", true })
	if again != out {
		t.Error("a second rewrite changed the page")
	}
	if _, _, err := rewrite("<!-- bench:a -->\n", func(string) (string, bool) { return "", true }); err == nil {
		t.Error("an unclosed section: want an error")
	}
}

func TestBenchPatternSelectsOneBenchmark(t *testing.T) {
	got := benchPattern("L2Hit/size=100B/lib=accelerator-rueidis")
	if got != `^BenchmarkL2Hit$/^size=100B$/^lib=accelerator-rueidis$` {
		t.Errorf("pattern = %s", got)
	}
}

func TestTablesInBothLanguagesHaveOneShape(t *testing.T) {
	r := loadRaw(t, raw)
	for _, s := range sectionNames {
		en, zh := section(r, s, "en"), section(r, s, "zh")
		if strings.Count(en, "\n") != strings.Count(zh, "\n") || strings.Count(en, "|") != strings.Count(zh, "|") {
			t.Errorf("section %s: the languages differ in shape:\n%s\n%s", s, en, zh)
		}
	}
}
