#!/usr/bin/env bash
# Start a throw-away Glewlwyd 2.7 OpenID Connect IdP (Debian package `glewlwyd`, C, SQLite) on
# 127.0.0.1:$GLEWLWYD_PORT with a fresh database in $GLEWLWYD_DIR, then provision it (./provision.sh).
# Prints GLEWLWYD_ISSUER=http://127.0.0.1:PORT/api/oidc on success; the pid is in $GLEWLWYD_DIR/glewlwyd.pid.
#   GLEWLWYD_DIR=/tmp/idp RP_REDIRECT=http://127.0.0.1:4555/cb bash scripts/glewlwyd/glewlwyd-up.sh
#   stop: kill "$(cat /tmp/idp/glewlwyd.pid)"
# Settings (env): GLEWLWYD_DIR (required), GLEWLWYD_PORT (9011), RP_REDIRECT (required), RP_CLIENT_ID (baton),
# RP_CLIENT_SECRET (baton-idp-secret-0123456789), RP_BACKCHANNEL_LOGOUT_URI, and the upstream authorization server
# settings GLEWLWYD_ACCESS_TOKEN_SECONDS, GLEWLWYD_SCOPES, GLEWLWYD_REVOCATION, GLEWLWYD_RESOURCES,
# GLEWLWYD_REFRESH_TOKEN_ONE_USE, GLEWLWYD_ALLOW_NON_OIDC (provision.sh, README.md). Missing packages are installed
# when running as root; otherwise it fails with the exact install line.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${GLEWLWYD_DIR:?set GLEWLWYD_DIR to the state directory (created if missing)}
PORT=${GLEWLWYD_PORT:-9011}
: "${RP_REDIRECT:?set RP_REDIRECT to the relying party redirect URI}"
PKGS=(glewlwyd dbconfig-no-thanks jq sqlite3)
INSTALL_LINE="apt-get install -y --no-install-recommends ${PKGS[*]}"

pkgs_ok() {
  command -v glewlwyd >/dev/null 2>&1 && command -v jq >/dev/null 2>&1 && command -v sqlite3 >/dev/null 2>&1 || return 1
  # a glewlwyd left unpacked but not configured by an earlier failed install still runs; as root, repair it
  [ "$(id -u)" != 0 ] || [ "$(dpkg-query -W -f='${db:Status-Status}' glewlwyd 2>/dev/null)" = installed ]
}
install_pkgs() {
  pkgs_ok && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "the Glewlwyd test IdP needs Debian packages. Install them as root with:" >&2
    echo "  $INSTALL_LINE" >&2
    echo "(run 'apt-get update' first if that cannot find them)" >&2
    exit 2
  fi
  echo "installing ${PKGS[*]} from Debian packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  # Quirk: with the debconf default config_type=Personalized and dbconfig-no-thanks, the postinst takes its
  # PostgreSQL branch and fails (sed: can't read /etc/glewlwyd/glewlwyd-db.conf), leaving dpkg half-configured.
  # 'No configuration' makes it only copy the sample config. (dbconfig-no-thanks: otherwise apt satisfies
  # glewlwyd's dbconfig dependency with dbconfig-mysql and the MySQL client.)
  echo 'glewlwyd glewlwyd/config_type select No configuration' | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
  }
}

# a pid file from an earlier run: stop that glewlwyd (only if the pid is still a glewlwyd process)
stop_previous() {
  [ -f "$DIR/glewlwyd.pid" ] || return 0
  local pid
  pid=$(cat "$DIR/glewlwyd.pid")
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = glewlwyd ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  rm -f "$DIR/glewlwyd.pid"
}

install_pkgs
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
stop_previous
if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; then
  echo "port $PORT is already in use on 127.0.0.1; choose another GLEWLWYD_PORT" >&2
  exit 1
fi

rm -f "$DIR/glewlwyd.db"
# the packaged schema; it creates the admin user admin/password and the openid, g_admin, g_profile scopes
zcat /usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz | sqlite3 "$DIR/glewlwyd.db"
if [ ! -f "$DIR/idp-rsa.key" ]; then
  openssl genrsa -out "$DIR/idp-rsa.key" 2048 2>/dev/null
  openssl rsa -in "$DIR/idp-rsa.key" -pubout -out "$DIR/idp-rsa.pub" 2>/dev/null
fi
sed -e "s#@DB@#$DIR/glewlwyd.db#g" -e "s#@PORT@#$PORT#g" "$HERE/glewlwyd.conf.in" >"$DIR/glewlwyd.conf"

nohup glewlwyd --config-file="$DIR/glewlwyd.conf" >"$DIR/glewlwyd.log" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$DIR/glewlwyd.pid"
ready=0
for _ in $(seq 200); do
  kill -0 "$PID" 2>/dev/null || break
  if curl -s -o /dev/null "http://127.0.0.1:$PORT/api/auth/scheme/"; then ready=1; break; fi
  sleep 0.05
done
if [ "$ready" != 1 ]; then
  echo "glewlwyd did not start on 127.0.0.1:$PORT; its log ($DIR/glewlwyd.log):" >&2
  cat "$DIR/glewlwyd.log" >&2
  kill "$PID" 2>/dev/null || true
  rm -f "$DIR/glewlwyd.pid"
  exit 1
fi

GLEWLWYD_DIR=$DIR GLEWLWYD_PORT=$PORT "$HERE/provision.sh" >&2
echo "GLEWLWYD_ISSUER=http://127.0.0.1:$PORT/api/oidc"
