// Command benchreport runs the benchmark suite in interleaved rounds and turns a run
// into the tables of docs/performance.md and the README. scripts/bench.sh drives it.
//
// Usage:
//
//	benchreport rounds -bin BIN -dir DIR [-rounds 16] [-benchtime 100ms] [-bench RE] [-sizes 100B]
//	benchreport tables [-lang en|zh] DIR     every generated section, for reading
//	benchreport docs DIR FILE...              rewrite the generated sections of FILEs
//	benchreport gate DIR                      the gate's figures of the run, as a table
//
// A run directory holds raw.txt (go test -bench output of every round, in the
// format benchstat reads, each round after a "# round N" line), rounds.log (one
// line per process), gate.json (the deterministic figures, written by the
// benchmarks module's TestDeterministicGate) and meta.txt ("key: value" lines that
// scripts/bench.sh writes: date, commit, command, machine, load, idle CPU).
//
// Time figures are medians over the rounds, with the 95% confidence interval of the
// median (the distribution-free interval of order statistics that benchstat
// prints). Ratios between two contenders are taken round by round, each round's
// processes having run side by side, and summarised the same way.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "rounds":
		err = roundsCmd(args)
	case "tables":
		fs := flag.NewFlagSet("tables", flag.ExitOnError)
		lang := fs.String("lang", "en", "language of the headings: en or zh")
		_ = fs.Parse(args)
		if fs.NArg() != 1 {
			usage()
		}
		var r *run
		if r, err = loadRun(fs.Arg(0)); err == nil {
			for _, s := range sectionNames {
				fmt.Printf("<!-- %s -->\n\n%s\n", s, section(r, s, *lang))
			}
		}
	case "docs":
		if len(args) < 2 {
			usage()
		}
		err = docsCmd(args[0], args[1:])
	case "gate":
		if len(args) != 1 {
			usage()
		}
		var r *run
		if r, err = loadRun(args[0]); err == nil {
			fmt.Print(section(r, "figures", "en"))
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  benchreport rounds -bin BIN -dir DIR [-rounds 16] [-benchtime 100ms] [-bench RE] [-sizes 100B]
  benchreport tables [-lang en|zh] DIR
  benchreport docs DIR FILE...
  benchreport gate DIR`)
	os.Exit(2)
}

var errUsage = errors.New("usage")

// now is the clock of the rounds' progress lines (a variable for tests).
var now = time.Now
