package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const raw = `goos: linux
goarch: amd64
pkg: github.com/accelerator-go/accelerator/benchmarks
cpu: Test CPU
BenchmarkL1Hit/size=100B/lib=accelerator-2   	1000	  60.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkL1Hit/size=100B/lib=accelerator-2   	1000	  62.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkL1Hit/size=100B/lib=accelerator-2   	1000	  90.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkL1Hit/size=100B/lib=jetcache-2      	1000	 600.0 ns/op	200 B/op	  7 allocs/op
BenchmarkL1Hit/size=100B/lib=otter-2         	1000	  50.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkL2Hit/size=100B/lib=accelerator-rueidis-2	100	30000 ns/op	1.000 roundtrips/op	800 B/op	13 allocs/op
BenchmarkL2Hit/size=100B/lib=accelerator-goredis-2	100	31000 ns/op	1.000 roundtrips/op	900 B/op	20 allocs/op
BenchmarkL2Hit/size=100B/lib=jetcache-2      	100	29000 ns/op	1.000 roundtrips/op	500 B/op	14 allocs/op
BenchmarkL2Hit/size=100B/lib=rueidis-2       	100	28000 ns/op	1.000 roundtrips/op	250 B/op	7 allocs/op
BenchmarkL2Hit/size=100B/lib=goredis-2       	100	27000 ns/op	1.000 roundtrips/op	450 B/op	13 allocs/op
BenchmarkStampede/tier=both/size=100B/lib=accelerator-rueidis-2	10	2000000 ns/op	1.000 loads/op	2.000 roundtrips/op
BenchmarkStampede/tier=both/size=100B/lib=accelerator-rueidis-2	10	2100000 ns/op	1.000 loads/op	2.000 roundtrips/op
PASS
`

func parse(t *testing.T, s string) *run {
	t.Helper()
	r := &run{results: map[string]*result{}}
	if err := r.parse(strings.NewReader(s)); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseStripsProcsAndTakesMedians(t *testing.T) {
	r := parse(t, raw)
	if r.cpu != "Test CPU" {
		t.Errorf("cpu = %q", r.cpu)
	}
	ns, ok := r.ns("L1Hit/size=100B/lib=accelerator")
	if !ok || ns != 62 {
		t.Errorf("median = %v, %v; want 62", ns, ok)
	}
	if got := len(r.order); got != 9 {
		t.Errorf("%d benchmarks, want 9: %v", got, r.order)
	}
}

func TestFloorOf(t *testing.T) {
	for name, want := range map[string]string{
		"L1Hit/size=10KB/lib=accelerator":                          "L1Hit/size=10KB/lib=otter",
		"MissLoad/tier=local/size=100B/lib=accelerator":            "L1Hit/size=100B/lib=otter",
		"L2Hit/size=100B/lib=accelerator-goredis":                  "L2Hit/size=100B/lib=goredis",
		"L2HitParallel/procs=2/size=10KB/lib=accelerator-rueidis":  "L2HitParallel/procs=2/size=10KB/lib=rueidis",
		"Batch/keys=half/size=100B/lib=accelerator-rueidis":        "Batch/keys=all-in-L2/size=100B/lib=rueidis",
		"Zipf/tier=both/procs=2/size=100B/lib=accelerator-goredis": "L2Hit/size=100B/lib=goredis",
	} {
		if got := floorOf(name); got != want {
			t.Errorf("floorOf(%s) = %s, want %s", name, got, want)
		}
	}
}

func TestTablesShowRatiosAgainstAccelerator(t *testing.T) {
	var out bytes.Buffer
	if err := writeTables(&out, parse(t, raw)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| jetcache | 600 ns | 9.68× |", "| otter (floor) | 50.0 ns | 0.81× |", "vs accelerator-goredis"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tables lack %q:\n%s", want, out.String())
		}
	}
}

// TestCheckFailsOnRegression pins the gate: a ratio to the floor that grew by more
// than the threshold fails, the same run against its own baseline passes.
func TestCheckFailsOnRegression(t *testing.T) {
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "raw.txt")
	basePath := filepath.Join(dir, "baseline.json")
	if err := os.WriteFile(rawPath, []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := export([]string{"-o", basePath, rawPath}); err != nil {
		t.Fatal(err)
	}
	var b Baseline
	data, _ := os.ReadFile(basePath)
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	if e := b.Benchmarks["L1Hit/size=100B/lib=accelerator"]; e.Ratio != 1.24 || e.MinRatio != 1.2 {
		t.Errorf("L1Hit entry = %+v, want ratio 1.24, min ratio 1.2", e)
	}
	if e := b.Benchmarks["Stampede/tier=both/size=100B/lib=accelerator-rueidis"]; e.Ratio != 0 || e.Metrics["loads/op"] != 1 {
		t.Errorf("stampede entry = %+v, want no time ratio and loads/op 1", e)
	}
	if err := check([]string{"-baseline", basePath, rawPath}); err != nil {
		t.Fatalf("check against its own baseline: %v", err)
	}
	slower := strings.ReplaceAll(raw, "  60.0 ns/op", "  80.0 ns/op")
	slower = strings.ReplaceAll(slower, "  62.0 ns/op", "  82.0 ns/op")
	if err := os.WriteFile(rawPath, []byte(slower), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := check([]string{"-baseline", basePath, rawPath}); !errors.Is(err, errRegression) {
		t.Fatalf("check of a 32%% slower L1 hit = %v, want a regression", err)
	}
	if err := check([]string{"-baseline", basePath, "-threshold", "40", rawPath}); err != nil {
		t.Fatalf("check with a 40%% threshold = %v, want none", err)
	}
}
