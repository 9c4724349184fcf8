#!/usr/bin/env bash
# Keep one command running, as systemd's Restart=always does: it is started again a second after it exits (a crash,
# kill -9), until this script gets SIGTERM or SIGINT; then the command gets SIGTERM and is waited for.
set -u
stopping=0
child=
on_stop() {
  stopping=1
  [[ -n $child ]] && kill -TERM "$child" 2>/dev/null
}
trap on_stop TERM INT
while :; do
  "$@" &
  child=$!
  wait "$child"
  rc=$?
  while kill -0 "$child" 2>/dev/null; do  # wait was interrupted by the signal: wait for the command itself
    wait "$child"
    rc=$?
  done
  ((stopping)) && exit 0
  echo "respawn: $1 exited with $rc; starting it again in 1 s" >&2
  sleep 1
  ((stopping)) && exit 0
done
