#!/usr/bin/env bash
# Rerun the service, API and job tests on PostgreSQL (Debian's package, a private cluster started and
# dropped here) and on libSQL (sqlite+libsql, a local file).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
TESTS=(tests/services tests/api tests/jobs)

if ! command -v pg_createcluster >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
PG_VERSION=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
CLUSTER=paidsignal_test
PG_PORT=${PG_PORT:-55432}

cleanup() {
  pg_dropcluster --stop "$PG_VERSION" "$CLUSTER" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
pg_createcluster "$PG_VERSION" "$CLUSTER" -p "$PG_PORT" >/dev/null
pg_ctlcluster "$PG_VERSION" "$CLUSTER" start
su postgres -c "psql -q -p $PG_PORT -c \"CREATE ROLE paidsignal LOGIN PASSWORD 'paidsignal'\""
su postgres -c "psql -q -p $PG_PORT -c \"CREATE DATABASE paidsignal_test OWNER paidsignal\""

echo "== PostgreSQL $PG_VERSION =="
TEST_DATABASE_URL="postgresql+psycopg://paidsignal:paidsignal@127.0.0.1:$PG_PORT/paidsignal_test" \
  $PY -m pytest "${TESTS[@]}" -p no:cacheprovider

echo "== libSQL (sqlite+libsql) =="
LIBSQL_DIR=$(mktemp -d)
TEST_DATABASE_URL="sqlite+libsql:///$LIBSQL_DIR/test.db" $PY -m pytest "${TESTS[@]}" -p no:cacheprovider
rm -rf "$LIBSQL_DIR"
