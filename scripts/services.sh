#!/usr/bin/env bash
# Throwaway Redis + PostgreSQL on loopback, no systemd, from Debian's packages (adapted from the team's
# tested recipe). Prints REDIS_URL= and DATABASE_URL= lines.
#   bash scripts/services.sh start | stop | status
# Missing packages are installed when running as root; otherwise it fails with the exact install line.
# Settings (env): SERVICES_DIR, REDIS_PORT, PG_PORT, PG_USER, PG_PASS, PG_DB.
set -euo pipefail
STATE=${SERVICES_DIR:-${TMPDIR:-/tmp}/baton-test-services}
REDIS_PORT=${REDIS_PORT:-6390}; REDIS_PASS=${REDIS_PASS:-baton-redis-pass}
PG_PORT=${PG_PORT:-5440}; PG_USER=${PG_USER:-baton}; PG_PASS=${PG_PASS:-baton-pass}; PG_DB=${PG_DB:-baton}
export REDISCLI_AUTH=$REDIS_PASS
INSTALL_LINE="apt-get update && apt-get install -y --no-install-recommends redis-server postgresql"

install_pkgs() {
  local need=()
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
  ((${#need[@]})) || return 0
  if [ "$(id -u)" != 0 ]; then
    echo "baton tests need ${need[*]} (real servers, never skipped). Install them as root with:" >&2
    echo "  $INSTALL_LINE" >&2
    exit 2
  fi
  echo "installing ${need[*]} from Debian packages..." >&2
  # keep the package from creating and starting its default cluster on 5432
  mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/baton-tests.conf
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
pgbin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
pg_up() { as_pg "$(pgbin)/pg_ctl" -D "$STATE/pg/data" status >/dev/null 2>&1; }
psql_su() { as_pg psql -h "$STATE/pg" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

start_redis() {
  redis_up && return 0
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' --appendonly no \
    --dir "$STATE" --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log" --requirepass "$REDIS_PASS"
  for _ in $(seq 100); do redis_up && return 0; sleep 0.1; done
  cat "$STATE/redis.log" >&2; exit 1
}
start_pg() {
  if [ "$(id -u)" = 0 ]; then install -d -o postgres -g postgres "$STATE/pg"; else mkdir -p "$STATE/pg"; fi
  if [ ! -s "$STATE/pg/data/PG_VERSION" ]; then
    as_pg "$(pgbin)/initdb" -D "$STATE/pg/data" -U postgres -N -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$STATE/pg/initdb.log"
  fi
  if ! pg_up; then
    as_pg "$(pgbin)/pg_ctl" -D "$STATE/pg/data" -l "$STATE/pg/postgres.log" -w -t 60 \
      -o "-p $PG_PORT -k $STATE/pg -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
  fi
  psql_su -c "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'" | grep -q 1 ||
    psql_su -c "CREATE ROLE \"$PG_USER\" LOGIN CREATEDB PASSWORD '$PG_PASS'"
  # the tests drop their databases WITH (FORCE), which must signal every backend still in them; an autovacuum
  # worker has no role of the test user, so without this the drop fails now and then
  psql_su -c "SELECT pg_has_role('$PG_USER', 'pg_signal_backend', 'member')" | grep -q t ||
    psql_su -c "GRANT pg_signal_backend TO \"$PG_USER\""
  psql_su -c "SELECT 1 FROM pg_database WHERE datname='$PG_DB'" | grep -q 1 ||
    psql_su -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\""
}

start() {
  install_pkgs
  mkdir -p "$STATE"; chmod 755 "$STATE"
  case "${1:-all}" in redis) start_redis ;; postgres) start_pg ;; *) start_redis; start_pg ;; esac
  echo "REDIS_URL=redis://:$REDIS_PASS@127.0.0.1:$REDIS_PORT"
  echo "DATABASE_URL=postgresql://$PG_USER:$PG_PASS@127.0.0.1:$PG_PORT/$PG_DB"
}
stop_redis() { if redis_up; then redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
  for _ in $(seq 50); do redis_up || return 0; sleep 0.1; done; }
stop_pg() { if [ -s "$STATE/pg/data/PG_VERSION" ] && pg_up; then as_pg "$(pgbin)/pg_ctl" -D "$STATE/pg/data" -m fast -w stop >/dev/null; fi; }
stop() { case "${1:-all}" in redis) stop_redis ;; postgres) stop_pg ;; *) stop_redis; stop_pg ;; esac; }
status() { redis_up && echo "redis: up" || echo "redis: down"; pg_up && echo "postgres: up" || echo "postgres: down"; }
cmd=${1:-start}; shift || true
"$cmd" "$@"
