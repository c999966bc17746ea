#!/usr/bin/env bash
# Runs the whole test suite over every Go module of the repository: a gofmt check,
# go vet, and go test -race. Integration tests start their own redis-server processes;
# set ACCELERATOR_REQUIRE_INTEGRATION=1 to make a missing redis-server a failure
# instead of a skip (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."

modules=$(git ls-files '*go.mod' 2>/dev/null | xargs -r -n1 dirname | sort -u)
[ -n "$modules" ] || modules=$(find . -name go.mod -not -path './.git/*' -exec dirname {} \; | sort)

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi

status=0
for m in $modules; do
  echo "== $m"
  (cd "$m" && go vet ./... && go test -race -count=1 -timeout 10m "$@" ./...) || status=1
done
exit $status
