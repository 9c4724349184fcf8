#!/usr/bin/env bash
# A private PostgreSQL (Debian's package) on its own port and data directory, started and stopped by PID, for
# `make test-backends`, `make cluster` and the benches. Nothing of the system's clusters is used or touched.
#
#   scripts/pg.sh start   initdb when the directory is new, start, create the role and database; prints the URL
#   scripts/pg.sh stop    fast shutdown of the postmaster whose PID is in the data directory (waits until it is gone)
#   scripts/pg.sh drop    stop, then delete the data directory
#   scripts/pg.sh url     the SQLAlchemy URL of the database
#
# Environment: PG_PORT (55432), PG_DIR (/tmp/paidsignal-postgres-$PG_PORT), PG_DB (paidsignal), PG_FAST=1 turns
# fsync and synchronous commit off (test databases only: a power cut may lose committed rows).
set -euo pipefail

PG_PORT=${PG_PORT:-55432}
PG_DIR=${PG_DIR:-/tmp/paidsignal-postgres-$PG_PORT}
PG_DB=${PG_DB:-paidsignal}
PG_USER=paidsignal
PG_PASSWORD=paidsignal
DATA=$PG_DIR/data

url() {
  echo "postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
}

bin_dir() {
  local initdb
  initdb=$(ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z $initdb ]]; then
    echo "pg.sh: installing Debian's postgresql" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    initdb=$(ls -1 /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
  fi
  dirname "$initdb"
}

# PostgreSQL refuses to run as root: as root, its commands run as the postgres user.
as_owner() {
  if [[ $(id -u) == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

postmaster_pid() {
  [[ -f $DATA/postmaster.pid ]] || return 1
  local pid
  pid=$(head -n 1 "$DATA/postmaster.pid")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
  local bin
  bin=$(bin_dir)
  if pid=$(postmaster_pid); then
    echo "pg.sh: PostgreSQL already runs on port $PG_PORT (PID $pid)" >&2
  else
    mkdir -p "$PG_DIR"
    [[ $(id -u) == 0 ]] && chown postgres:postgres "$PG_DIR"
    if [[ ! -f $DATA/PG_VERSION ]]; then
      as_owner "$bin/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log"
    fi
    local options="-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=200"
    if [[ ${PG_FAST:-0} == 1 ]]; then
      options+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$PG_DIR/postgres.log" -o "$options" -w -t 60 start >/dev/null
    echo "pg.sh: PostgreSQL started on port $PG_PORT (PID $(postmaster_pid)), data in $DATA" >&2
  fi
  local psql=("$bin/psql" -q -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
  if [[ -z $(as_owner "${psql[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'") ]]; then
    as_owner "${psql[@]}" -c "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'"
  fi
  if [[ -z $(as_owner "${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") ]]; then
    as_owner "${psql[@]}" -c "CREATE DATABASE $PG_DB OWNER $PG_USER"
  fi
  url
}

stop() {
  local pid
  if ! pid=$(postmaster_pid); then
    echo "pg.sh: no PostgreSQL runs from $DATA" >&2
    return 0
  fi
  kill -INT "$pid"  # fast shutdown: open transactions are rolled back, the data is consistent
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { echo "pg.sh: PostgreSQL (PID $pid) stopped" >&2; return 0; }
    sleep 0.1
  done
  echo "pg.sh: PostgreSQL (PID $pid) did not stop in 30 s: immediate shutdown" >&2
  kill -QUIT "$pid" 2>/dev/null || true
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  drop) stop && rm -rf "$PG_DIR" ;;
  url) url ;;
  *) echo "usage: scripts/pg.sh start|stop|drop|url (PG_PORT, PG_DIR, PG_DB, PG_FAST)" >&2; exit 2 ;;
esac
