package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// roundsCmd runs every selected benchmark of the suite once per round, each in a
// process of its own, the contenders of a workload one after the other (A B C, then
// B C A in the next round, ...), so that what the machine does meanwhile (other
// jobs, thermal state, a warm or cold cache) falls on every contender alike.
func roundsCmd(args []string) error {
	fs := flag.NewFlagSet("rounds", flag.ExitOnError)
	bin := fs.String("bin", "", "the benchmarks' test binary (go test -c)")
	dir := fs.String("dir", "", "run directory: raw.txt and rounds.log go there")
	rounds := fs.Int("rounds", 16, "rounds")
	benchtime := fs.String("benchtime", "100ms", "-test.benchtime of each process")
	bench := fs.String("bench", ".", "regular expression the full benchmark names must match")
	sizes := fs.String("sizes", "100B", "value sizes, comma-separated (100B,10KB), or all")
	_ = fs.Parse(args)
	if *bin == "" || *dir == "" || *rounds < 1 {
		return fmt.Errorf("rounds needs -bin and -dir: %w", errUsage)
	}
	re, err := regexp.Compile(*bench)
	if err != nil {
		return err
	}
	names, err := listBenchmarks(*bin)
	if err != nil {
		return err
	}
	var keep []string
	for _, n := range names {
		if re.MatchString(n) && (*sizes == "all" || sizeWanted(n, *sizes)) {
			keep = append(keep, n)
		}
	}
	if len(keep) == 0 {
		return fmt.Errorf("no benchmark matches %q with sizes %s", *bench, *sizes)
	}
	groups, order := groupByWorkload(keep)

	raw, err := os.Create(filepath.Join(*dir, "raw.txt"))
	if err != nil {
		return err
	}
	defer raw.Close()
	logf, err := os.Create(filepath.Join(*dir, "rounds.log"))
	if err != nil {
		return err
	}
	defer logf.Close()

	start := now()
	header := false
	failures := 0
	for round := 1; round <= *rounds; round++ {
		fmt.Fprintf(raw, "# round %d\n", round)
		for gi, g := range order {
			libs := groups[g]
			// Rotate the order of the contenders each round, and start each round's
			// rotation at a different place for each workload.
			k := (round - 1 + gi) % len(libs)
			rotated := append(append([]string(nil), libs[k:]...), libs[:k]...)
			for pos, lib := range rotated {
				name := g + "/lib=" + lib
				t0 := now()
				out, err := runOne(*bin, name, *benchtime)
				status := "ok"
				if err != nil {
					status = "FAILED: " + strings.ReplaceAll(err.Error(), "\n", " ")
					failures++
					fmt.Fprintf(os.Stderr, "round %d: %s failed: %v\n%s\n", round, name, err, out)
				}
				fmt.Fprintf(logf, "round %d\tpos %d\t%s\t%.2fs\t%s\n", round, pos, name, now().Sub(t0).Seconds(), status)
				for _, line := range strings.Split(string(out), "\n") {
					switch {
					case strings.HasPrefix(line, "Benchmark"):
						if f := strings.Fields(line); len(f) >= 4 {
							fmt.Fprintln(raw, line)
						}
					case !header && (strings.HasPrefix(line, "goos:") || strings.HasPrefix(line, "goarch:") ||
						strings.HasPrefix(line, "pkg:") || strings.HasPrefix(line, "cpu:")):
						fmt.Fprintln(raw, line)
						if strings.HasPrefix(line, "cpu:") {
							header = true
						}
					}
				}
			}
		}
		elapsed := now().Sub(start)
		eta := elapsed / time.Duration(round) * time.Duration(*rounds-round)
		fmt.Printf("round %d/%d done: %d processes, %v elapsed, about %v to go\n",
			round, *rounds, len(keep), elapsed.Round(time.Second), eta.Round(time.Second))
	}
	if failures > 0 {
		return fmt.Errorf("%d processes failed: see %s", failures, filepath.Join(*dir, "rounds.log"))
	}
	return nil
}

func sizeWanted(name, sizes string) bool {
	s := part(name, "size")
	if s == "" {
		return true
	}
	for _, w := range strings.Split(sizes, ",") {
		if strings.TrimSpace(w) == s {
			return true
		}
	}
	return false
}

// listBenchmarks asks the test binary for the suite's benchmarks.
func listBenchmarks(bin string) ([]string, error) {
	cmd := exec.Command(bin, "-test.run=^TestListBenchmarks$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "ACCELERATOR_BENCH_LIST=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("listing the benchmarks: %v\n%s", err, out)
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "bench: "); ok {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("the test binary listed no benchmark:\n%s", out)
	}
	return names, nil
}

// groupByWorkload groups full names by workload (the name without "/lib=..."),
// in the order of first appearance.
func groupByWorkload(names []string) (map[string][]string, []string) {
	groups := map[string][]string{}
	var order []string
	for _, n := range names {
		g, lib := split(n)
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], lib)
	}
	return groups, order
}

// benchPattern returns the -test.bench pattern that selects exactly the benchmark
// of a full name.
func benchPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		if i == 0 {
			p = "Benchmark" + p
		}
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// runOne runs one benchmark in a process of its own.
func runOne(bin, name, benchtime string) ([]byte, error) {
	cmd := exec.Command(bin, "-test.run=^$", "-test.bench="+benchPattern(name), "-test.benchtime="+benchtime,
		"-test.count=1", "-test.benchmem", "-test.timeout=10m")
	out, err := cmd.CombinedOutput()
	if err == nil && !bytes.Contains(out, []byte("Benchmark")) {
		err = fmt.Errorf("no result")
	}
	return out, err
}
