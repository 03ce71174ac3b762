#!/usr/bin/env bash
# Replace a user's groups at the running test IdP through the admin REST API (admin/password):
# GET /api/user/<username>, set .groups, PUT it back. The next token (or refresh) carries the new groups.
#   GLEWLWYD_PORT=9031 bash scripts/glewlwyd/set-groups.sh alice developers oncall
#   GLEWLWYD_PORT=9031 bash scripts/glewlwyd/set-groups.sh alice          # no groups at all
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 USER [GROUP...]" >&2; exit 2; }
USER_NAME=$1
shift
B=http://127.0.0.1:${GLEWLWYD_PORT:-9011}/api
JAR=$(mktemp)
trap 'rm -f "$JAR"' EXIT
curl -sS -f -c "$JAR" -H 'Content-Type: application/json' \
  -d '{"username":"admin","password":"password"}' "$B/auth/" >/dev/null
U=$(jq -rn --arg u "$USER_NAME" '$u|@uri')
# the GET answer carries read-only fields (source, last_login...) that the PUT ignores; the password is not in it
curl -sS -f -b "$JAR" "$B/user/$U" | jq '.groups = $ARGS.positional' --args "$@" |
  curl -sS -f -b "$JAR" -H 'Content-Type: application/json' -X PUT --data-binary @- "$B/user/$U" >/dev/null
echo "$USER_NAME groups: $*"
