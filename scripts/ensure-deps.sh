#!/usr/bin/env bash
# Runs before `npm start` and `npm test`: installs the locked dependencies (which include the Node 24
# runtime the scripts run on, from the registry's `node` package) when they are missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "baton: installing dependencies (npm ci)..." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
