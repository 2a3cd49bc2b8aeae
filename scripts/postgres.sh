#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite and benchmarks, on loopback only.
#   scripts/postgres.sh start   initdb (once) and start; prints the DATABASE_URL
#   scripts/postgres.sh stop    stop it
# PostgreSQL refuses to run as root, so under root the server runs as the `postgres` user.
set -euo pipefail
PGPORT=${CORTEX_PG_PORT:-55432}
PGDATA=${CORTEX_PG_DIR:-/tmp/cortex-pg-$PGPORT}
BIN=/usr/lib/postgresql/15/bin
[ -x "$BIN/pg_ctl" ] || BIN=$(dirname "$(command -v pg_ctl)")

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      mkdir -p "$PGDATA"
      [ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
      as_owner "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if ! as_owner "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
      as_owner "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDATA -c max_connections=200" start >/dev/null
    fi
    "$BIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'cortex'" postgres \
      | grep -q 1 || "$BIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres cortex
    echo "postgres://postgres@127.0.0.1:$PGPORT/cortex"
    ;;
  stop)
    as_owner "$BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
