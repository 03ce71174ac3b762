#!/usr/bin/env bash
# npm run bench: the benchmark on real Redis and PostgreSQL (throwaway, like the test suite's).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
export SERVICES_DIR=${SERVICES_DIR:-$(mktemp -d /tmp/baton-bench-XXXXXX)} REDIS_PORT=${REDIS_PORT:-6392} PG_PORT=${PG_PORT:-5442}
trap 'bash scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
urls=$(bash scripts/services.sh start)
eval "$(sed 's/^/export TEST_/' <<<"$urls")"
node bench/run.ts
