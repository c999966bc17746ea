#!/usr/bin/env bash
# Runs the benchmark suite of the benchmarks/ module: accelerator side by side with
# jetcache-go, eko/gocache, go-redis/cache, sturdyc and the raw floors, against a
# private redis-server on a free loopback port. Needs only Go and redis-server.
#
#   scripts/bench.sh [run]      run the suite, keep the raw results, print the tables
#   scripts/bench.sh baseline   run (or --from FILE) and write benchmarks/baseline.json
#   scripts/bench.sh check      run (or --from FILE) and compare with the baseline:
#                               exit 1 when a tracked accelerator benchmark regressed
#   scripts/bench.sh table      print the tables of a raw file (--from FILE)
#
# Options:
#   --local-only       only the workloads that need no Redis (no redis-server needed)
#   --count N          samples per benchmark (default 5)
#   --benchtime D      time per sample, as go test -benchtime (default 200ms)
#   --bench REGEX      benchmarks to run, as go test -bench (default .)
#   --smoke            every benchmark once (-benchtime=1x -count=1): checks that the
#                      suite runs; its timings mean nothing
#   --threshold PCT    check: allowed growth of a ratio, in percent (default 15)
#   --baseline FILE    baseline file (default benchmarks/baseline.json)
#   --from FILE        use an existing raw result file instead of running the suite
#   --out DIR          where results go (default bench-results/, git-ignored)
#   --cpuprofile FILE  write a CPU profile of the run (use with --bench)
#
# Results go to DIR/<timestamp>/: raw.txt (go test output, benchstat's format),
# tables.md, headline.md, targets.md, and benchstat.txt when benchstat is on PATH.
# DIR/latest points to the last run. docs/performance.md explains the workloads and
# how to read a regression.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

cmd=run
case "${1:-}" in
run | baseline | check | table) cmd=$1; shift ;;
esac

count=5 benchtime=200ms bench=. threshold=15 local_only=0 smoke=0
baseline=$root/benchmarks/baseline.json from="" out=$root/bench-results cpuprofile=""
while [ $# -gt 0 ]; do
  case "$1" in
  --local-only) local_only=1 ;;
  --smoke) smoke=1 ;;
  --count) count=$2; shift ;;
  --benchtime) benchtime=$2; shift ;;
  --bench) bench=$2; shift ;;
  --threshold) threshold=$2; shift ;;
  --baseline) baseline=$(realpath -m "$2"); shift ;;
  --from) from=$(realpath "$2"); shift ;;
  --out) out=$(realpath -m "$2"); shift ;;
  --cpuprofile) cpuprofile=$(realpath -m "$2"); shift ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$smoke" = 1 ]; then
  count=1 benchtime=1x
fi

# The benchmarks module is run on its own go.mod (its replace directives point at
# this checkout), so that the other modules of the workspace cannot break it.
export GOWORK=off
report() { (cd "$root/benchmarks" && go run ./cmd/benchreport "$@"); }

redis_pid=""
redis_dir=""
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  if [ -n "$redis_dir" ]; then rm -rf "$redis_dir"; fi
}
trap cleanup EXIT INT TERM

# redis_ping reports whether a Redis answers PING on 127.0.0.1:$1.
redis_ping() {
  local reply=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 1 reply <&3 || true
  exec 3<&- 3>&-
  [ "${reply%$'\r'}" = "+PONG" ]
}

# port_in_use reports whether anything listens on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_redis starts a private redis-server on a free loopback port, with no
# persistence and LRU eviction past 1 GB (the miss workloads write fresh keys), and
# exports its address to the suite.
start_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "bench.sh: redis-server not found: install it (apt-get install redis-server) or pass --local-only" >&2
    exit 2
  fi
  redis_dir=$(mktemp -d)
  local attempt port
  for attempt in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    port_in_use "$port" && continue
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$redis_dir" --maxmemory 1gb --maxmemory-policy allkeys-lru \
      --logfile "$redis_dir/redis.log" &
    redis_pid=$!
    for _ in $(seq 1 100); do
      if redis_ping "$port"; then
        export ACCELERATOR_BENCH_REDIS_ADDR="127.0.0.1:$port"
        echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on $ACCELERATOR_BENCH_REDIS_ADDR (pid $redis_pid)"
        return
      fi
      kill -0 "$redis_pid" 2>/dev/null || break # lost the port to another process
      sleep 0.05
    done
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
  done
  echo "bench.sh: could not start redis-server:" >&2
  cat "$redis_dir/redis.log" >&2 || true
  exit 2
}

# warn_if_busy warns when the machine already runs more than it has CPUs: every
# figure is then noisier, and a regression check less trustworthy.
warn_if_busy() {
  local load cpus
  load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null) || return 0
  cpus=$(nproc 2>/dev/null || echo 1)
  if awk -v l="$load" -v c="$cpus" 'BEGIN { exit !(l > c) }'; then
    echo "bench.sh: warning: load average $load on $cpus CPUs: other processes will skew the timings" >&2
  fi
}

# run_suite runs the benchmarks into $raw.
run_suite() {
  warn_if_busy
  if [ "$local_only" = 1 ]; then
    export ACCELERATOR_BENCH_LOCAL_ONLY=1
  else
    start_redis
  fi
  local args=(-run '^$' -bench "$bench" -benchtime "$benchtime" -count "$count" -timeout 60m)
  if [ -n "$cpuprofile" ]; then args+=(-cpuprofile "$cpuprofile"); fi
  echo "go test ${args[*]} ($(go version | cut -d' ' -f3))"
  if ! (cd "$root/benchmarks" && go test "${args[@]}" .) | tee "$raw"; then
    echo "bench.sh: the suite failed; raw output in $raw" >&2
    exit 1
  fi
}

if [ -n "$from" ]; then
  raw=$from
  dir=$(dirname "$raw")
elif [ "$cmd" = table ]; then
  echo "bench.sh: table needs --from FILE" >&2
  exit 2
else
  dir=$out/$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$dir"
  ln -sfn "$dir" "$out/latest"
  raw=$dir/raw.txt
  run_suite
  report table "$raw" >"$dir/tables.md"
  report headline "$raw" >"$dir/headline.md"
  report targets "$raw" >"$dir/targets.md"
  if command -v benchstat >/dev/null 2>&1; then
    benchstat -col /lib "$raw" >"$dir/benchstat.txt" 2>&1 || true
  fi
fi

case "$cmd" in
run | table)
  echo
  report table "$raw"
  echo "## Headline"
  echo
  report headline "$raw"
  echo
  echo "## Targets"
  echo
  report targets "$raw"
  if [ -z "$from" ]; then
    echo
    echo "raw results and tables: $dir"
    if [ ! -f "$dir/benchstat.txt" ]; then
      echo "(for a side-by-side with confidence intervals: go install golang.org/x/perf/cmd/benchstat@latest, then benchstat -col /lib $raw)"
    fi
  fi
  if [ "$smoke" = 1 ]; then echo "smoke run: every benchmark ran once; the timings mean nothing"; fi
  ;;
baseline)
  note="commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(go version | cut -d' ' -f3), $(nproc) CPUs, load average at the end $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
  report export -o "$baseline" -note "$note" "$raw"
  ;;
check)
  if [ ! -f "$baseline" ]; then
    echo "bench.sh: no baseline at $baseline: run scripts/bench.sh baseline first" >&2
    exit 2
  fi
  report check -baseline "$baseline" -threshold "$threshold" "$raw"
  ;;
esac
