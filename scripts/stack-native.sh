#!/usr/bin/env bash
# The local stack without Docker: Redis and PostgreSQL from the system's (Debian or
# Ubuntu) packages, on the ports of deploy/docker-compose.yml, with the schema and seed
# of deploy/postgres applied. See docs/local-stack.md.
#
#   scripts/stack-native.sh start    install what is missing, start what is down,
#                                    create database "test", apply schema and seed
#   scripts/stack-native.sh status   report; exit 0 only if Redis, PostgreSQL and the
#                                    seeded users table are all there
#   scripts/stack-native.sh stop     stop what this script started, nothing else
#
# start is idempotent: a Redis or PostgreSQL already answering on the port is used as
# it is. Installing packages and starting PostgreSQL need root (directly or through
# sudo).
#
# Environment:
#   ACCELERATOR_STACK_REDIS_PORT  Redis port (default 6379)
#   ACCELERATOR_STACK_PG_PORT     PostgreSQL port (default 5432)
#   ACCELERATOR_STACK_DIR         state: the Redis pid file and log, and markers of what
#                                 this script installed, created or started (default
#                                 $XDG_STATE_HOME/accelerator-stack or
#                                 ~/.local/state/accelerator-stack)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
redis_port=${ACCELERATOR_STACK_REDIS_PORT:-6379}
pg_port=${ACCELERATOR_STACK_PG_PORT:-5432}
state=${ACCELERATOR_STACK_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/accelerator-stack}
db="test"
pg_url="postgres://postgres@127.0.0.1:$pg_port/$db?sslmode=disable"
pg_admin_url="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
# psql: no NOTICEs such as "relation users already exists, skipping".
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

say() { printf 'stack-native: %s\n' "$*"; }
die() { printf 'stack-native: %s\n' "$*" >&2; exit 1; }

# as_root runs a command as root: directly, or through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (run this script as root, or install sudo)"
  fi
}

apt_updated=
# install installs Debian packages, running apt-get update once first.
install() {
  say "installing $*"
  if [ -z "$apt_updated" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# wait_for runs a command until it succeeds, for up to 30 s.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 300); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  die "$what did not come up within 30 s"
}

# --- Redis -------------------------------------------------------------------

redis_pidfile="$state/redis-$redis_port.pid"

redis_up() {
  [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ]
}

# redis_ours prints the pid of the redis-server this script started, if it runs.
redis_ours() {
  [ -f "$redis_pidfile" ] || return 1
  local pid
  pid=$(cat "$redis_pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

start_redis() {
  command -v redis-server >/dev/null 2>&1 || install redis-server
  command -v redis-cli >/dev/null 2>&1 || install redis-tools
  if redis_up; then
    say "redis: up on 127.0.0.1:$redis_port"
    return
  fi
  mkdir -p "$state"
  redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes \
    --pidfile "$redis_pidfile" --logfile "$state/redis-$redis_port.log" --dir "$state" \
    --save "" --appendonly no
  wait_for "redis-server on port $redis_port" redis_up
  say "redis: started on 127.0.0.1:$redis_port (pid $(cat "$redis_pidfile"), log $state/redis-$redis_port.log)"
}

stop_redis() {
  local pid
  if ! pid=$(redis_ours); then
    say "redis: not started by this script; left alone"
    return
  fi
  kill "$pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$redis_pidfile"
  say "redis: stopped (pid $pid)"
}

status_redis() {
  if ! command -v redis-cli >/dev/null 2>&1 || ! redis_up; then
    say "redis:    down on 127.0.0.1:$redis_port"
    return 1
  fi
  local version owner="not started by this script"
  version=$(redis-cli -h 127.0.0.1 -p "$redis_port" info server | tr -d '\r' | sed -n 's/^redis_version://p')
  redis_ours >/dev/null && owner="started by this script"
  say "redis:    up on 127.0.0.1:$redis_port (redis $version, $owner)"
}

# --- PostgreSQL --------------------------------------------------------------

pg_installed() {
  command -v pg_lsclusters >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 &&
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# pg_cluster prints "version name" of the cluster configured on pg_port.
pg_cluster() {
  pg_lsclusters --no-header 2>/dev/null | awk -v port="$pg_port" '$3 == port { print $1, $2; exit }'
}

pg_up() {
  pg_isready -q -h 127.0.0.1 -p "$pg_port"
}

# pg_ctl runs pg_ctlcluster as root; without systemd it must not redirect to systemctl.
pg_ctl() {
  local redirect=--skip-systemctl-redirect
  [ -d /run/systemd/system ] && redirect=
  as_root pg_ctlcluster $redirect "$@"
}

# ensure_cluster makes sure a cluster is configured on pg_port and prints it; a new
# one is marked as owned by this script.
ensure_cluster() {
  local cluster version name
  cluster=$(pg_cluster)
  if [ -n "$cluster" ]; then
    echo "$cluster"
    return
  fi
  version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)
  name=main
  [ -d "/etc/postgresql/$version/main" ] && name=accelerator
  say "postgres: creating cluster $version/$name on port $pg_port" >&2
  as_root pg_createcluster "$version" "$name" --port "$pg_port" >/dev/null
  mkdir -p "$state"
  touch "$state/pg-owned-$version-$name"
  echo "$version $name"
}

# allow_local_postgres lets user postgres in from this machine without a password, as
# the compose file's POSTGRES_HOST_AUTH_METHOD=trust does, in a cluster this script
# installed or created. Other clusters are never changed.
allow_local_postgres() {
  local version=$1 name=$2 hba
  if [ ! -f "$state/pg-owned-$version-$name" ]; then
    die "postgres: cannot connect to $pg_url without a password, and cluster $version/$name was not set up by this script, so it is left alone. Allow it in /etc/postgresql/$version/$name/pg_hba.conf (host all postgres 127.0.0.1/32 trust) and reload, or set ACCELERATOR_POSTGRES_URL with a password for the examples and tests."
  fi
  hba=/etc/postgresql/$version/$name/pg_hba.conf
  say "postgres: trusting user postgres from 127.0.0.1 and ::1 in $hba"
  as_root sed -i '1i # accelerator local stack (scripts/stack-native.sh): passwordless access from this machine only\nhost    all    postgres    127.0.0.1/32    trust\nhost    all    postgres    ::1/128         trust' "$hba"
  pg_ctl "$version" "$name" reload
}

pg_can_connect() {
  psql "$pg_admin_url" -XAtqc 'SELECT 1' >/dev/null 2>&1
}

start_postgres() {
  local fresh="" cluster version name
  if ! pg_installed; then
    install postgresql
    fresh=1
  fi
  cluster=$(ensure_cluster)
  read -r version name <<<"$cluster"
  if [ -n "$fresh" ]; then
    mkdir -p "$state"
    touch "$state/pg-owned-$version-$name"
  fi
  if pg_up; then
    say "postgres: up on 127.0.0.1:$pg_port (cluster $version/$name)"
  else
    pg_ctl "$version" "$name" start
    wait_for "PostgreSQL on port $pg_port" pg_up
    mkdir -p "$state"
    touch "$state/pg-started-$version-$name"
    say "postgres: started cluster $version/$name on 127.0.0.1:$pg_port"
  fi
  pg_can_connect || allow_local_postgres "$version" "$name"
  wait_for "a connection to $pg_admin_url" pg_can_connect

  if [ "$(psql "$pg_admin_url" -XAtqc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    psql "$pg_admin_url" -Xqc "CREATE DATABASE $db" >/dev/null
    say "postgres: created database $db"
  fi
  for f in "$root"/deploy/postgres/[0-9][0-9]-*.sql; do
    psql "$pg_url" -Xq -v ON_ERROR_STOP=1 -f "$f" >/dev/null
  done
  say "postgres: applied deploy/postgres/[0-9][0-9]-*.sql to $pg_url ($(pg_users) users)"
}

pg_users() {
  psql "$pg_url" -XAtqc 'SELECT count(*) FROM users' 2>/dev/null
}

stop_postgres() {
  local cluster version name
  cluster=$(pg_cluster)
  if [ -z "$cluster" ]; then
    say "postgres: no cluster on port $pg_port"
    return
  fi
  read -r version name <<<"$cluster"
  if [ ! -f "$state/pg-started-$version-$name" ]; then
    say "postgres: cluster $version/$name not started by this script; left alone"
    return
  fi
  pg_up && pg_ctl "$version" "$name" stop
  rm -f "$state/pg-started-$version-$name"
  say "postgres: stopped cluster $version/$name"
}

status_postgres() {
  if ! command -v pg_isready >/dev/null 2>&1 || ! pg_up; then
    say "postgres: down on 127.0.0.1:$pg_port"
    return 1
  fi
  local cluster owner="not started by this script"
  cluster=$(pg_cluster)
  [ -n "$cluster" ] && [ -f "$state/pg-started-${cluster/ /-}" ] && owner="started by this script"
  cluster=${cluster:-unknown}
  say "postgres: up on 127.0.0.1:$pg_port (cluster ${cluster/ //}, $owner)"
  local n
  n=$(pg_users) || n=
  if [ -z "$n" ] || [ "$n" -lt 1 ]; then
    say "schema:   table users missing or not seeded in $pg_url (run: $0 start)"
    return 1
  fi
  say "schema:   table users in $pg_url, $n rows"
}

case "${1:-status}" in
start)
  start_redis
  start_postgres
  ;;
stop)
  stop_redis
  stop_postgres
  ;;
status)
  ok=0
  status_redis || ok=1
  status_postgres || ok=1
  exit $ok
  ;;
*)
  echo "usage: $0 start|status|stop" >&2
  exit 2
  ;;
esac
