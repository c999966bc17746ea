#!/usr/bin/env bash
# Measures accelerator side by side with jetcache-go, eko/gocache, go-redis/cache,
# sturdyc and the raw floors (the benchmarks/ module), in a way that noise cannot
# fake: the times come from interleaved rounds, one process per contender per round,
# and are reported (medians with their confidence interval, ratios taken round by
# round), never gated; the gate checks the deterministic figures: allocations and
# Redis round trips per operation (exact) and instructions per operation counted by
# callgrind (within 3%). Needs Go and redis-server; valgrind for the instructions.
#
#   scripts/bench.sh [run]     the full run: gate figures, instructions, idle CPU, then
#                              the interleaved rounds; prints the tables
#   scripts/bench.sh docs      the same run, then rewrites the generated sections of
#                              docs/performance.md, its Chinese page, README.md and
#                              README.zh-CN.md, and benchmarks/baseline.json, all from
#                              that one run (--from DIR: from an earlier run instead)
#   scripts/bench.sh gate      the deterministic figures against benchmarks/baseline.json:
#                              exit 1 on a regression (check is the same command)
#   scripts/bench.sh baseline  measure the deterministic figures, write the baseline
#   scripts/bench.sh tables    print the tables of a run (--from DIR, default the latest)
#   scripts/bench.sh profile NAME   CPU profile of one benchmark (a full name, such as
#                              L2Hit/size=100B/lib=accelerator-rueidis): pprof -top
#
# Options (run, docs):
#   --rounds N         interleaved rounds (default 16)
#   --benchtime D      -test.benchtime of each process (default 200ms)
#   --bench REGEX      only the benchmarks whose full name matches (default: all)
#   --sizes LIST       value sizes: 100B (default), 10KB, 100B,10KB or all
#   --smoke            one round of one iteration each: checks that the suite runs
#   --out DIR          where runs go (default bench-results/, git-ignored)
#   --from DIR         docs, tables: use an earlier run instead of running
#   --no-instructions  do not count instructions (no valgrind)
#
# A run goes to DIR/<timestamp>/ (DIR/latest points to it): raw.txt (every round, the
# format benchstat reads), rounds.log (one line per process), gate.json (the
# deterministic figures), meta.txt, tables.md, and benchstat.txt.
# docs/performance.md explains the workloads and how to read the gate.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
invocation="./scripts/bench.sh $*"

cmd=run
case "${1:-}" in
run | docs | gate | check | baseline | tables | profile) cmd=$1; shift ;;
esac
[ "$cmd" = check ] && cmd=gate
profile_name=""
if [ "$cmd" = profile ]; then
  profile_name=${1:?"bench.sh profile NAME"}
  shift
fi

rounds=16 benchtime=200ms bench=. sizes=100B smoke=0 instructions=1
out=$root/bench-results from=""
while [ $# -gt 0 ]; do
  case "$1" in
  --rounds) rounds=$2; shift ;;
  --benchtime) benchtime=$2; shift ;;
  --bench) bench=$2; shift ;;
  --sizes) sizes=$2; shift ;;
  --smoke) smoke=1 ;;
  --out) out=$(realpath -m "$2"); shift ;;
  --from) from=$(realpath "$2"); shift ;;
  --no-instructions) instructions=0 ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$smoke" = 1 ]; then
  rounds=1 benchtime=1x
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
    echo "bench.sh: redis-server not found: install it (apt-get install redis-server)" >&2
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
        echo "redis-server $(redis_version) on $ACCELERATOR_BENCH_REDIS_ADDR (pid $redis_pid)"
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

redis_version() { redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'; }

loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }

# build_binary compiles the benchmarks' tests once, without -race, into $1.
build_binary() {
  (cd "$root/benchmarks" && GOFLAGS= go test -c -o "$1" .)
}

# gate_test runs TestDeterministicGate in the test binary $1 with the extra
# environment given after it.
gate_test() {
  local bin=$1
  shift
  (cd "$root/benchmarks" && env "$@" "$bin" -test.run '^TestDeterministicGate$' -test.v -test.count=1 -test.timeout 10m) |
    grep -v -e '^=== ' -e '^    --- PASS' -e '^        --- PASS' -e '^            --- PASS' -e '^                --- PASS' || return "${PIPESTATUS[0]}"
}

instr_env() {
  if [ "$instructions" = 1 ]; then
    if ! command -v valgrind >/dev/null 2>&1; then
      echo "bench.sh: valgrind not found: install it (apt-get install valgrind) or pass --no-instructions" >&2
      exit 2
    fi
    echo ACCELERATOR_GATE_INSTRUCTIONS=require
  else
    echo ACCELERATOR_GATE_INSTRUCTIONS=skip
  fi
}

commit_id() {
  local c
  c=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git status --porcelain --untracked-files=no -- . ':!docs' ':!README.md' ':!README.zh-CN.md' ':!benchmarks/baseline.json' 2>/dev/null)" ]; then
    c="$c + uncommitted changes"
  fi
  echo "$c"
}

# full_run measures everything into a new run directory, $dir.
full_run() {
  dir=$out/$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$dir"
  ln -sfn "$dir" "$out/latest"
  local started load_start bin commit
  started=$(date +%s)
  load_start=$(loadavg)
  commit=$(commit_id) # what the binary is built from
  bin=$dir/benchmarks.test
  echo "== building the benchmarks' test binary"
  build_binary "$bin"

  echo "== deterministic figures (allocations, round trips$([ "$instructions" = 1 ] && echo ", instructions under callgrind"))"
  gate_test "$bin" ACCELERATOR_GATE_UPDATE=1 ACCELERATOR_GATE_BASELINE="$dir/gate.json" "$(instr_env)"

  echo "== idle CPU of a process with one open cache (idle_test.go)"
  local idle_out idle_ok=yes idle
  idle_out=$(GOWORK= go test -run '^TestIdleCacheSpendsNoCPU$' -count=1 -v . 2>&1) || idle_ok=no
  idle=$(grep -o 'CPU while idle: .*' <<<"$idle_out" | head -1 | sed 's/CPU while idle: //')
  echo "${idle:-no figure}"

  start_redis
  echo "== $rounds interleaved rounds, -test.benchtime $benchtime per process (load average $(loadavg))"
  (cd "$root/benchmarks" && go build -o "$dir/benchreport" ./cmd/benchreport)
  "$dir/benchreport" rounds -bin "$bin" -dir "$dir" -rounds "$rounds" -benchtime "$benchtime" -bench "$bench" -sizes "$sizes"

  local wall procs
  wall=$(($(date +%s) - started))
  procs=$(grep -c . "$dir/rounds.log" || true)
  {
    echo "date: $(date -u +%Y-%m-%d)"
    echo "commit: $commit"
    echo "command: $invocation"
    echo "machine: $(nproc) vCPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/^Mem:/ {print $2}') GB, $(uname -s) $(uname -m)"
    echo "machine-short: $(nproc) vCPUs $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "go: $(go version | cut -d' ' -f3)"
    echo "redis: redis-server $(redis_version), loopback, same machine"
    echo "rounds: $rounds rounds of $((procs / rounds)) processes ($procs in all), -test.benchtime $benchtime each, the contenders of each workload rotated every round"
    echo "rounds-n: $rounds"
    echo "wall: $((wall / 60)) min $((wall % 60)) s"
    echo "load: $load_start → $(loadavg)"
    if [ -n "$idle" ]; then echo "idle: $idle"; fi
    echo "idle-ok: $idle_ok"
  } >"$dir/meta.txt"
  "$dir/benchreport" tables "$dir" >"$dir/tables.md"
  if command -v benchstat >/dev/null 2>&1 || [ -x "$HOME/go/bin/benchstat" ]; then
    local bs
    bs=$(command -v benchstat || echo "$HOME/go/bin/benchstat")
    "$bs" -col /lib "$dir/raw.txt" >"$dir/benchstat.txt" 2>&1 || true
  fi
  echo "== done in $((wall / 60)) min $((wall % 60)) s: $dir"
}

latest_or_from() {
  if [ -n "$from" ]; then
    dir=$from
  elif [ -e "$out/latest" ]; then
    dir=$(realpath "$out/latest")
  else
    echo "bench.sh: no run yet: pass --from DIR or run ./scripts/bench.sh first" >&2
    exit 2
  fi
}

case "$cmd" in
run)
  full_run
  cat "$dir/tables.md"
  if [ "$smoke" = 1 ]; then echo "smoke run: one round of one iteration each; the figures mean nothing"; fi
  ;;
tables)
  latest_or_from
  report tables "$dir"
  ;;
docs)
  if [ -n "$from" ]; then dir=$from; else full_run; fi
  report docs "$dir" "$root/docs/performance.md" "$root/docs/zh/performance.zh-CN.md" "$root/README.md" "$root/README.zh-CN.md"
  cp "$dir/gate.json" "$root/benchmarks/baseline.json"
  echo "benchmarks/baseline.json: the gate's figures of $dir"
  echo "Now read the new tables against the prose of docs/performance.md (the findings, the targets' reasons) and README.md, and fix what the run no longer supports."
  ;;
gate)
  tmp=$(mktemp -d)
  trap 'cleanup; rm -rf "$tmp"' EXIT
  build_binary "$tmp/benchmarks.test"
  if gate_test "$tmp/benchmarks.test" "$(instr_env)"; then
    echo "gate: no regression"
  else
    echo "gate: FAILED: a deterministic figure moved (see above); docs/performance.md#the-gate says what to do" >&2
    exit 1
  fi
  ;;
baseline)
  tmp=$(mktemp -d)
  trap 'cleanup; rm -rf "$tmp"' EXIT
  build_binary "$tmp/benchmarks.test"
  gate_test "$tmp/benchmarks.test" ACCELERATOR_GATE_UPDATE=1 "$(instr_env)"
  echo "wrote benchmarks/baseline.json"
  ;;
profile)
  tmp=$(mktemp -d)
  trap 'cleanup; rm -rf "$tmp"' EXIT
  build_binary "$tmp/benchmarks.test"
  case "$profile_name" in L1Hit/* | L2HitMem/* | MissLoad/tier=local/* | Stampede/tier=local/* | Zipf/tier=local/* | Instr/*) ;; *) start_redis ;; esac
  pattern=""
  IFS=/ read -ra parts <<<"$profile_name"
  for i in "${!parts[@]}"; do
    esc=$(printf '%s' "${parts[$i]}" | sed 's/[].[^$*+?(){}|\\]/\\&/g')
    if [ "$i" = 0 ]; then esc="Benchmark$esc"; fi
    pattern+="${pattern:+/}^$esc\$"
  done
  (cd "$root/benchmarks" && "$tmp/benchmarks.test" -test.run '^$' -test.bench "$pattern" -test.benchtime 2s -test.benchmem -test.cpuprofile "$tmp/cpu.prof")
  go tool pprof -top -nodecount 30 "$tmp/benchmarks.test" "$tmp/cpu.prof" 2>/dev/null | head -40
  ;;
esac
