#!/usr/bin/env bash
# Rerun the service, API and job tests on PostgreSQL (a private server from scripts/pg.sh, dropped afterwards) and
# on libSQL (sqlite+libsql, a local file).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
TESTS=(tests/services tests/api tests/jobs)

export PG_PORT=${PG_PORT:-55432} PG_DIR=${PG_DIR:-/tmp/paidsignal-test-postgres-${PG_PORT:-55432}} PG_DB=paidsignal_test
export PG_FAST=1  # a test database: no fsync
trap 'bash scripts/pg.sh drop' EXIT
bash scripts/pg.sh drop
DATABASE=$(bash scripts/pg.sh start)

echo "== PostgreSQL =="
TEST_DATABASE_URL=$DATABASE $PY -m pytest "${TESTS[@]}" -p no:cacheprovider

echo "== libSQL (sqlite+libsql) =="
LIBSQL_DIR=$(mktemp -d)
TEST_DATABASE_URL="sqlite+libsql:///$LIBSQL_DIR/test.db" $PY -m pytest "${TESTS[@]}" -p no:cacheprovider
rm -rf "$LIBSQL_DIR"
