#!/usr/bin/env bash
# The cluster on one machine (`make cluster`, `make cluster-stop`): a private PostgreSQL (scripts/pg.sh), Redis and
# nginx on their own ports, the schema migrated once, then the processes of deploy/Procfile under honcho: web (Reflex,
# WEB_WORKERS backend workers), two api processes, one jobs process; nginx on PORT is the single public origin.
#
#   scripts/cluster.sh start   install what is missing, start everything, wait until every role is ready
#   scripts/cluster.sh stop    stop honcho (and so every role), nginx, Redis and PostgreSQL, each by its PID
#   scripts/cluster.sh status  the PIDs and ports
#   scripts/cluster.sh stop-roles  stop honcho only (PostgreSQL, Redis and nginx keep running; `start` starts the
#                              roles again and reloads nginx's configuration)
#
# CLUSTER_ROLES (default: every line of deploy/Procfile) names the roles to start, e.g. "api1 api2" without web and
# jobs (bench/cluster.py); with API2_PORT=API1_PORT and only api1, nginx's upstream is that one process.
#
# Everything lives in CLUSTER_DIR (.cluster): the environment file, logs, PID files, Redis' and nginx's files, the
# frontend build. Ports: PORT (3000, public), WEB_PORT (8100), API1_PORT (8101), API2_PORT (8102), JOBS_OPS_PORT
# (8103), REDIS_PORT (6390), PG_PORT (55433). Other variables of the caller's environment (META_GRAPH_BASE,
# SECRET_KEY, …) reach every role.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

export CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
export PORT=${PORT:-3000} WEB_PORT=${WEB_PORT:-8100} API1_PORT=${API1_PORT:-8101} API2_PORT=${API2_PORT:-8102}
export JOBS_OPS_PORT=${JOBS_OPS_PORT:-8103} REDIS_PORT=${REDIS_PORT:-6390} WEB_WORKERS=${WEB_WORKERS:-2}
export PG_PORT=${PG_PORT:-55433} PG_DIR=${PG_DIR:-/tmp/paidsignal-cluster-postgres-${PG_PORT:-55433}}
export PG_DB=${PG_DB:-paidsignal}
START_TIMEOUT=${CLUSTER_START_TIMEOUT:-900}
read -r -a ROLES <<<"${CLUSTER_ROLES:-}"

pid_of() {  # the PID in a PID file, if that process is alive
  local file=$1 pid
  [[ -f $file ]] || return 1
  pid=$(head -n 1 "$file" | tr -dc 0-9)
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

install_missing() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  if ((${#missing[@]})); then
    echo "cluster: installing ${missing[*]} (Debian)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  [[ -x .venv/bin/honcho ]] || { echo "cluster: honcho is missing: run make setup" >&2; exit 1; }
}

write_env() {
  mkdir -p "$CLUSTER_DIR/data" "$CLUSTER_DIR/logs"
  [[ -f $CLUSTER_DIR/secret_key ]] || head -c 48 /dev/urandom | base64 | tr -d '/+=\n' >"$CLUSTER_DIR/secret_key"
  local database_url
  database_url=$(bash scripts/pg.sh url)
  # Read by honcho (-e) for every role and by the migration below; values the caller set win.
  cat >"$CLUSTER_DIR/env" <<ENV
PORT=$PORT
WEB_PORT=$WEB_PORT
API1_PORT=$API1_PORT
API2_PORT=$API2_PORT
JOBS_OPS_PORT=$JOBS_OPS_PORT
WEB_WORKERS=$WEB_WORKERS
WEB_METRICS_DIR=$CLUSTER_DIR/metrics-web
PUBLIC_URL=${PUBLIC_URL:-http://localhost:$PORT}
DATABASE_URL=${DATABASE_URL:-$database_url}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}
DATA_DIR=${DATA_DIR:-$CLUSTER_DIR/data}
SECRET_KEY=${SECRET_KEY:-$(cat "$CLUSTER_DIR/secret_key")}
LOG_FORMAT=${LOG_FORMAT:-json}
METRICS_ENABLED=${METRICS_ENABLED:-true}
JOBS_ENABLED=true
REFLEX_WEB_WORKDIR=$CLUSTER_DIR/web/.web
REFLEX_STATES_WORKDIR=$CLUSTER_DIR/web/states
REFLEX_USE_SYSTEM_BUN=1
REFLEX_TELEMETRY_ENABLED=false
LITELLM_LOCAL_MODEL_COST_MAP=True
LITELLM_OFFLINE_MODE=true
PYTHONUNBUFFERED=1
PATH=$ROOT/.tools/node_modules/.bin:$ROOT/.venv/bin:$PATH
ENV
}

start_redis() {
  if pid=$(pid_of "$CLUSTER_DIR/redis.pid"); then
    echo "cluster: Redis already runs (PID $pid)" >&2
    return
  fi
  mkdir -p "$CLUSTER_DIR/redis"
  # Tab state and rate-limit counters only: nothing to persist across restarts of this local cluster.
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --pidfile "$CLUSTER_DIR/redis.pid" \
    --dir "$CLUSTER_DIR/redis" --logfile "$CLUSTER_DIR/logs/redis.log" --save "" --appendonly no
  for _ in $(seq 1 50); do
    pid_of "$CLUSTER_DIR/redis.pid" >/dev/null && return
    sleep 0.1
  done
  echo "cluster: Redis did not start; see $CLUSTER_DIR/logs/redis.log" >&2
  exit 1
}

start_nginx() {
  local dir=$CLUSTER_DIR/nginx
  mkdir -p "$dir/tmp"
  sed -e "s|@LISTEN@|127.0.0.1:$PORT|" -e "s|@SERVER_NAME@|localhost|" -e "s|@WEB_PORT@|$WEB_PORT|" \
    -e "s|@API1_PORT@|$API1_PORT|" -e "s|@API2_PORT@|$API2_PORT|" deploy/nginx/paidsignal.conf >"$dir/site.conf"
  cat >"$dir/nginx.conf" <<CONF
# Written by scripts/cluster.sh: a private nginx (own prefix, PID file and logs) around deploy/nginx/paidsignal.conf.
worker_processes 1;
pid $dir/nginx.pid;
error_log $CLUSTER_DIR/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log $CLUSTER_DIR/logs/nginx-access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $dir/site.conf;
}
CONF
  if pid=$(pid_of "$dir/nginx.pid"); then
    kill -HUP "$pid"  # already running: reload the configuration
    return
  fi
  /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -t -q
  /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf"
}

start_roles() {
  if pid=$(pid_of "$CLUSTER_DIR/honcho.pid"); then
    echo "cluster: the roles already run (honcho PID $pid)" >&2
    return
  fi
  rm -rf "$CLUSTER_DIR/metrics-web" && mkdir -p "$CLUSTER_DIR/metrics-web" "$CLUSTER_DIR/web"
  if [[ ! -d $CLUSTER_DIR/web/.web && -d $ROOT/.web/node_modules ]]; then
    cp -a "$ROOT/.web" "$CLUSTER_DIR/web/.web"  # start from the checkout's build: only what changed is rebuilt
  fi
  setsid .venv/bin/honcho -f deploy/Procfile -e "$CLUSTER_DIR/env" -d "$ROOT" start "${ROLES[@]}" \
    >>"$CLUSTER_DIR/logs/roles.log" 2>&1 </dev/null &
  echo $! >"$CLUSTER_DIR/honcho.pid"
}

http_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" 2>/dev/null || true
}

has_role() {  # every role when CLUSTER_ROLES is empty
  ((${#ROLES[@]} == 0)) || [[ " ${ROLES[*]} " == *" $1 "* ]]
}

wait_ready() {
  local deadline=$((SECONDS + START_TIMEOUT)) urls=()
  has_role web && urls+=("http://127.0.0.1:$WEB_PORT/_ops/ready")
  has_role api1 && urls+=("http://127.0.0.1:$API1_PORT/_ops/ready")
  has_role api2 && urls+=("http://127.0.0.1:$API2_PORT/_ops/ready")
  has_role jobs && urls+=("http://127.0.0.1:$JOBS_OPS_PORT/_ops/ready")
  urls+=("http://127.0.0.1:$PORT/api/v1/health")
  has_role web && urls+=("http://127.0.0.1:$PORT/")
  for url in "${urls[@]}"; do
    until [[ $(http_status "$url") == 200 ]]; do
      if ! pid_of "$CLUSTER_DIR/honcho.pid" >/dev/null; then
        echo "cluster: the roles stopped; last lines of $CLUSTER_DIR/logs/roles.log:" >&2
        tail -n 40 "$CLUSTER_DIR/logs/roles.log" >&2
        exit 1
      fi
      if ((SECONDS > deadline)); then
        echo "cluster: $url did not answer 200 within $START_TIMEOUT s; see $CLUSTER_DIR/logs/roles.log" >&2
        exit 1
      fi
      sleep 1
    done
  done
}

start() {
  install_missing
  export PG_FAST=${PG_FAST:-0}
  bash scripts/pg.sh start >/dev/null
  write_env
  start_redis
  echo "cluster: migrating the database (once, before the roles start)" >&2
  (set -a && source "$CLUSTER_DIR/env" && set +a && .venv/bin/python -m app.cli migrate >/dev/null)
  start_nginx
  start_roles
  if has_role web; then
    echo "cluster: waiting for every role (the first start builds the frontend: a few minutes)" >&2
  else
    echo "cluster: waiting for every role" >&2
  fi
  wait_ready
  if ((${#ROLES[@]})); then
    echo "cluster: ready on http://localhost:$PORT (roles: ${ROLES[*]}); logs in $CLUSTER_DIR/logs" >&2
  else
    echo "cluster: ready on http://localhost:$PORT (web :$WEB_PORT with $WEB_WORKERS workers, api :$API1_PORT and" \
      ":$API2_PORT, jobs /_ops/ on :$JOBS_OPS_PORT); logs in $CLUSTER_DIR/logs; stop with make cluster-stop" >&2
  fi
}

stop_pid_file() {  # SIGTERM, then wait for the process to exit (SIGKILL after the grace period)
  local file=$1 name=$2 grace=${3:-30} pid
  if ! pid=$(pid_of "$file"); then
    rm -f "$file"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 10))); do
    kill -0 "$pid" 2>/dev/null || { echo "cluster: $name (PID $pid) stopped" >&2; rm -f "$file"; return; }
    sleep 0.1
  done
  echo "cluster: $name (PID $pid) still runs after $grace s: SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
}

stop() {
  # honcho passes SIGTERM to each role's process group and waits for them (the api roles drain their event writer).
  stop_pid_file "$CLUSTER_DIR/honcho.pid" honcho 40
  stop_pid_file "$CLUSTER_DIR/nginx/nginx.pid" nginx
  stop_pid_file "$CLUSTER_DIR/redis.pid" Redis
  bash scripts/pg.sh stop
}

status() {
  local name file
  for name in honcho:honcho.pid nginx:nginx/nginx.pid redis:redis.pid; do
    file=$CLUSTER_DIR/${name#*:}
    echo "${name%%:*}: $(pid_of "$file" || echo 'not running')"
  done
  echo "postgresql: $(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null || echo 'not running') (port $PG_PORT)"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  stop-roles) stop_pid_file "$CLUSTER_DIR/honcho.pid" honcho 40 ;;
  status) status ;;
  *) echo "usage: scripts/cluster.sh start|stop|stop-roles|status" >&2; exit 2 ;;
esac
