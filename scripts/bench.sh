#!/usr/bin/env bash
# npm run bench: the benchmark on real Redis and PostgreSQL (throwaway, like the test suite's).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
# the services (unless SERVICES_DIR names others) and the run's TMPDIR under one directory, removed at exit,
# also when the run fails or is interrupted
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench-XXXXXX")
chmod 755 "$run_dir" # the postgres user reaches its data directory through it
mkdir "$run_dir/tmp"
export SERVICES_DIR=${SERVICES_DIR:-$run_dir/services} REDIS_PORT=${REDIS_PORT:-6392} PG_PORT=${PG_PORT:-5442}
trap 'bash scripts/services.sh stop >/dev/null 2>&1 || true; rm -rf "$run_dir"' EXIT
urls=$(bash scripts/services.sh start)
eval "$(sed 's/^/export TEST_/' <<<"$urls")"
TMPDIR=$run_dir/tmp node bench/run.ts
