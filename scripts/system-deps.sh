#!/usr/bin/env bash
# The Debian packages the test suite runs against (real servers, never mocked, never skipped):
#   redis-server, postgresql     the stores (scripts/services.sh starts them)
#   glewlwyd (+ jq, sqlite3)     a real upstream OpenID Connect IdP (scripts/glewlwyd/)
#   chromium                     the browser test of the sign-in pages (driven by playwright-core)
# Installs what is missing when running as root; otherwise fails with the exact command to run.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
if ! command -v glewlwyd >/dev/null 2>&1 || [ "$(dpkg-query -W -f='${db:Status-Status}' glewlwyd 2>/dev/null)" != installed ]; then
  need+=(glewlwyd dbconfig-no-thanks)
fi
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
((${#need[@]})) || exit 0

line="apt-get update && apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "baton: the test suite needs these Debian packages: ${need[*]}. Install them as root with:" >&2
  echo "  echo 'glewlwyd glewlwyd/config_type select No configuration' | debconf-set-selections" >&2
  echo "  $line" >&2
  exit 2
fi
echo "baton: installing ${need[*]} from Debian packages..." >&2
export DEBIAN_FRONTEND=noninteractive
# keep postgresql from creating and starting its default cluster on 5432
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/baton-tests.conf
# glewlwyd's postinst fails with the default config_type (see scripts/glewlwyd/README.md)
echo 'glewlwyd glewlwyd/config_type select No configuration' | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
