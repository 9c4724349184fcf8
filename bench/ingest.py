"""Ingest benchmark: the production backend on 127.0.0.1 under wrk (Debian's package), in one run:

- no-op ceiling: Reflex's ``GET /ping`` and our ``GET /api/v1/health`` (one ``SELECT 1``);
- ``POST /api/v1/events`` with one event per request, and with 100-event batches (browser path: publishable key,
  Origin, desktop user agent, text/plain);
- afterwards, every acknowledged event is counted in the database (must be all of them, once).

Usage: ``.venv/bin/python bench/ingest.py [--seconds 10] [--connections 32]``. Needs ``wrk`` (apt-get install wrk).
Writes a JSON result to bench/results/ and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "https://shop.example.com"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

LUA_EVENTS = r"""
local batch = tonumber(os.getenv("BENCH_BATCH"))
local prefix = os.getenv("BENCH_PREFIX")
local per_visitor = os.getenv("BENCH_ONE_VISITOR") == "1"
local counter = 0
local requests_sent = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["Origin"] = os.getenv("BENCH_ORIGIN")
wrk.headers["User-Agent"] = os.getenv("BENCH_UA")
request = function()
  local parts = {}
  requests_sent = requests_sent + 1
  for i = 1, batch do
    counter = counter + 1
    local v = counter % 5000
    if per_visitor then v = requests_sent % 5000 end
    parts[i] = string.format(
      '{"event_id":"%s-%d","type":"page_view","visitor_id":"v%d","session_id":"s%d",' ..
      '"url":"https://shop.example.com/p/%d","utm_campaign":"bench"}', prefix, counter, v, v, i)
  end
  return wrk.format(nil, nil, nil, '{"events":[' .. table.concat(parts, ",") .. ']}')
end
"""

LUA_DONE = r"""
done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("BENCH_JSON {\"requests\":%d,\"duration_us\":%d,\"non2xx\":%d," ..
    "\"socket_errors\":%d,\"p50_us\":%d,\"p99_us\":%d}\n",
    summary.requests, summary.duration, non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def run_wrk(url: str, script: str, seconds: int, connections: int, env: dict[str, str]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script + LUA_DONE)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", handle.name, url],
            capture_output=True,
            text=True,
            env=os.environ | env,
            check=True,
        ).stdout
    finally:
        Path(handle.name).unlink()
    match = re.search(r"BENCH_JSON (\{.*\})", out)
    if not match:
        raise RuntimeError(f"wrk gave no summary:\n{out}")
    data = json.loads(match.group(1))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2

    sys.path.insert(0, str(ROOT))
    from tests.utils.server import free_port, server_env, start_server

    data_dir = Path(tempfile.mkdtemp(prefix="paidsignal-bench-"))
    port = free_port()
    env = server_env(port, data_dir, INGEST_RATE_LIMIT="1000000/second")
    server = start_server(port, data_dir, env, backend_only=True, timeout=120)
    server.cli("create-account", "--name", "Bench shop", "--email", "bench@example.com", "--password", "bench-pass-123")
    publishable = server.cli(
        "create-key", "--account", "bench-shop", "--kind", "publishable", "--origin", ORIGIN
    ).strip()
    base = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, float]] = {}
    try:
        common = {"BENCH_ORIGIN": ORIGIN, "BENCH_UA": UA}
        run_wrk(f"{base}/ping", "", 2, args.connections, common)  # warm-up
        results["noop GET /ping"] = run_wrk(f"{base}/ping", "", args.seconds, args.connections, common)
        results["GET /api/v1/health"] = run_wrk(f"{base}/api/v1/health", "", args.seconds, args.connections, common)
        events_url = f"{base}/api/v1/events?key={publishable}"
        # x100: every event a different visitor and session (worst case for deriving sessions);
        # x100 one visitor: a browser's batch, one visitor and session per request.
        for name, batch, one_visitor in (("x1", 1, "0"), ("x100", 100, "0"), ("x100 one visitor", 100, "1")):
            extra = common | {
                "BENCH_BATCH": str(batch),
                "BENCH_PREFIX": f"b{name[-3:]}-{time.time_ns()}",
                "BENCH_ONE_VISITOR": one_visitor,
            }
            row = run_wrk(events_url, LUA_EVENTS, args.seconds, args.connections, extra)
            row["events_per_s"] = row["rps"] * batch
            row["acknowledged_events"] = (row["requests"] - row["non2xx"]) * batch
            results[f"POST /api/v1/events {name}"] = row
    finally:
        server.stop()

    with sqlite3.connect(data_dir / "paidsignal.db") as db:
        stored = db.execute("SELECT COUNT(*) FROM event").fetchone()[0]
    acknowledged = sum(int(r.get("acknowledged_events", 0)) for r in results.values())
    # wrk counts requests it sent whose answers arrived; requests cut at the end were never acknowledged.
    missing = max(0, acknowledged - int(stored))
    noop = results["noop GET /ping"]["rps"]
    single = results["POST /api/v1/events x1"]
    summary = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "server": "reflex run --env prod --backend-only (granian, 1 worker: 1 core)",
        "load": f"wrk -t1 -c{args.connections} (1 core), {args.seconds} s per row",
        "results": results,
        "single_vs_noop": single["rps"] / noop,
        "acknowledged_events": acknowledged,
        "stored_events": int(stored),
        "missing_events": missing,
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"ingest-{datetime.now(UTC):%Y%m%d-%H%M%S}.json").write_text(json.dumps(summary, indent=2))

    print(f"\n{summary['server']}; load {summary['load']}; machine cores: {summary['cores']}\n")
    print("| endpoint | requests/s | events/s | p50 ms | p99 ms | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, row in results.items():
        events = f"{row['events_per_s']:,.0f}" if "events_per_s" in row else "–"
        print(
            f"| {name} | {row['rps']:,.0f} | {events} | {row['p50_us'] / 1000:.1f} | "
            f"{row['p99_us'] / 1000:.1f} | {row['non2xx']:.0f} |"
        )
    print(f"\nsingle-event throughput = {summary['single_vs_noop']:.0%} of the no-op ceiling")
    print(f"acknowledged events {acknowledged:,}, stored {int(stored):,}, missing {missing}")
    shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if missing == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
