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
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "https://shop.example.com"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

LUA_EVENTS = r"""
local batch = tonumber(os.getenv("BENCH_BATCH"))
local prefix = os.getenv("BENCH_PREFIX")
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["Origin"] = os.getenv("BENCH_ORIGIN")
wrk.headers["User-Agent"] = os.getenv("BENCH_UA")
request = function()
  local parts = {}
  for i = 1, batch do
    counter = counter + 1
    local v = counter % 5000
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


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

    data_dir = Path(tempfile.mkdtemp(prefix="paidsignal-bench-"))
    port = free_port()
    env = {
        "DATA_DIR": str(data_dir),
        "PUBLIC_URL": f"http://localhost:{port}",
        "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
        "INGEST_RATE_LIMIT": "1000000/second",
        "JOBS_ENABLED": "true",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_USE_SYSTEM_BUN": "1",
        "PATH": f"{ROOT / '.tools/node_modules/.bin'}:{os.environ['PATH']}",
    }
    clean_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "__REFLEX_SKIP_COMPILE"}}
    os.environ.clear()
    os.environ.update(clean_env | env)
    sys.path.insert(0, str(ROOT))
    from app.cli import main as cli

    cli(["migrate"])
    from app.db import session_scope
    from app.models import Role
    from app.services import accounts, keys
    from app.services.permissions import Actor

    with session_scope() as session:
        account, user = accounts.signup(
            session=session, account_name="Bench shop", email="bench@example.com", password="bench-password-123"
        )
        actor = Actor(user_id=user.id, account_id=account.id, role=Role.OWNER)  # type: ignore[arg-type]
        publishable = keys.create_key(session=session, actor=actor, kind="publishable", origins=[ORIGIN]).plaintext
        account_id = account.id

    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/reflex"),
            "run",
            "--env",
            "prod",
            "--backend-only",
            "--backend-port",
            str(port),
            "--backend-host",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, float]] = {}
    try:
        wait_http(f"{base}/api/v1/health")
        common = {"BENCH_ORIGIN": ORIGIN, "BENCH_UA": UA}
        run_wrk(f"{base}/ping", "", 2, args.connections, common)  # warm-up
        results["noop GET /ping"] = run_wrk(f"{base}/ping", "", args.seconds, args.connections, common)
        results["GET /api/v1/health"] = run_wrk(f"{base}/api/v1/health", "", args.seconds, args.connections, common)
        events_url = f"{base}/api/v1/events?key={publishable}"
        for batch in (1, 100):
            extra = common | {"BENCH_BATCH": str(batch), "BENCH_PREFIX": f"b{batch}-{time.time_ns()}"}
            row = run_wrk(events_url, LUA_EVENTS, args.seconds, args.connections, extra)
            row["events_per_s"] = row["rps"] * batch
            row["acknowledged_events"] = (row["requests"] - row["non2xx"]) * batch
            results[f"POST /api/v1/events x{batch}"] = row
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)

    from sqlalchemy import func
    from sqlmodel import select

    from app.models import Event

    with session_scope() as session:
        stored = session.exec(select(func.count()).select_from(Event).where(Event.account_id == account_id)).one()
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
