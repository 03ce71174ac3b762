#!/usr/bin/env bash
# The whole test suite, as the README's second command (`npm test`) and CI (`.ci/run`) run it:
#   1. the runtime and static checks (typecheck, lint, format);
#   2. the Debian packages it runs against (scripts/system-deps.sh: Redis, PostgreSQL, the Glewlwyd IdP,
#      Chromium; installed when missing and running as root, else a failure naming the install command),
#      and throwaway Redis and PostgreSQL servers on loopback; nothing is ever skipped;
#   3. every vitest test (unit, adapter contract on all three backends, HTTP, multi-process, outage);
#   4. a closing `N passed, N failed` line.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "runtime: node $(node --version) ($(command -v node))"
case "$(node --version)" in v24.*) ;; *) echo "baton: tests must run on Node 24 (npm test puts it on PATH)" >&2; exit 1 ;; esac

npm run --silent check

bash scripts/system-deps.sh

# Everything the run creates is under one directory, removed at exit, also when the run fails or is
# interrupted: the throwaway services (unless SERVICES_DIR names others), the vitest report, and the tests'
# TMPDIR (os.tmpdir()), where every test file must remove what it made (server/test/temp.ts).
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-test-XXXXXX")
chmod 755 "$run_dir" # the postgres user reaches its data directory through it
mkdir "$run_dir/tmp"
export SERVICES_DIR=${SERVICES_DIR:-$run_dir/services}
cleanup() {
  bash scripts/services.sh stop >/dev/null 2>&1 || true
  rm -rf "$run_dir"
}
trap cleanup EXIT
urls=$(bash scripts/services.sh start)
eval "$(sed 's/^/export TEST_/' <<<"$urls")"
echo "services: redis and postgres up under $SERVICES_DIR"

report=$run_dir/vitest.json
status=0
TMPDIR=$run_dir/tmp vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# what the tests left behind (node's compile cache is a cache, not a leftover)
leftovers=$(find "$run_dir/tmp" -mindepth 1 -maxdepth 1 ! -name node-compile-cache -printf '%f\n')
if [ -n "$leftovers" ]; then
  echo "baton: the tests left temporary files behind (remove them where they are made, also on failure):" >&2
  (cd "$run_dir/tmp" && du -sh $leftovers) >&2
  status=1
fi
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  if (skipped) { console.error("baton: skipped tests are not allowed"); process.exit(1); }
  if (r.numTotalTests === 0) { console.error("baton: no test ran"); process.exit(1); }
' "$report" || status=1
exit $status
