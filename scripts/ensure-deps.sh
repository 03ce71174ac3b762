#!/usr/bin/env bash
# Runs before `npm start` and `npm test`: installs the locked dependencies (which include the Node 24
# runtime the scripts run on, from the registry's `node` package) when they are missing or stale. Stale
# means the lock file's content changed since the last install (a stamp of its SHA-256 in node_modules), not
# its modification time, which every checkout or worktree changes.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.baton-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/node ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "baton: installing dependencies (npm ci)..." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" >"$stamp"
fi
