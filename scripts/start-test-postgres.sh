#!/usr/bin/env bash
# Starts a throw-away PostgreSQL 15 for the tests on 127.0.0.1 and prints its URL, e.g.
#   export LIENTHONG_TEST_POSTGRES_URL=$(scripts/start-test-postgres.sh)
# Idempotent: when the server of this data directory already runs, it only prints the URL.
# Installs postgresql-15 with apt-get when it is missing (CI machines start bare).
# Settings: LIENTHONG_PG_DIR (default /tmp/lienthong-test-pg), LIENTHONG_PG_PORT (default 5433).
# Stop it with: pg_ctl -D "$LIENTHONG_PG_DIR" stop (as the postgres user when run as root).
set -euo pipefail

dir=${LIENTHONG_PG_DIR:-/tmp/lienthong-test-pg}
port=${LIENTHONG_PG_PORT:-5433}
user=lienthong
url="postgres://${user}@127.0.0.1:${port}/postgres"

bindir=""
for candidate in "$(command -v pg_config >/dev/null 2>&1 && pg_config --bindir || true)" \
    /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
  if [ -n "$candidate" ] && [ -x "$candidate/initdb" ]; then bindir=$candidate; break; fi
done
if [ -z "$bindir" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql-15 >&2
  bindir=/usr/lib/postgresql/15/bin
fi

# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -f "$dir/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
  echo "$url"
  exit 0
fi

if [ ! -f "$dir/PG_VERSION" ]; then
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  chmod 700 "$dir"
  as_owner "$bindir/initdb" -D "$dir" -A trust -U "$user" >"$dir.initdb.log" 2>&1 \
    || { cat "$dir.initdb.log" >&2; exit 1; }
fi

# fsync stays on: the crash tests rely on it. Enough connections for parallel test databases.
as_owner "$bindir/pg_ctl" -D "$dir" -w -t 60 -l "$dir/server.log" \
  -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200" start >&2 \
  || { tail -n 30 "$dir/server.log" >&2; exit 1; }
echo "$url"
