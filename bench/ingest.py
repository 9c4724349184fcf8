"""Ingest benchmark: the production backend on 127.0.0.1 under wrk (Debian's package), in one run:

- no-op ceiling: Reflex's ``GET /ping`` and our ``GET /api/v1/health`` (one ``SELECT 1``);
- ``POST /api/v1/events`` with one event per request, and with 100-event batches (browser path: publishable key,
  Origin, desktop user agent, text/plain);
- the batches' ceiling: the same rows inserted again through the bare driver, 100 per transaction (stdlib sqlite3
  with the app's pragmas on SQLite; bare psycopg ``executemany`` and ``COPY`` on PostgreSQL, the faster of the two);
- afterwards, every acknowledged event is counted in the database (must be all of them, once), and once derivation
  has caught up, every stored event is counted once in its visitor and its session.

The server runs on core 0 and wrk on core 1 (``taskset``; ``--no-pin`` to let them float). ``DATABASE_URL`` picks the
database (default: a fresh SQLite file); ``--profile DIR`` writes py-spy profiles of the server under load.

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
from typing import Any

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


def run_wrk(
    url: str, script: str, seconds: int, connections: int, env: dict[str, str], cpu: str | None
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script + LUA_DONE)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", handle.name, url]
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    try:
        out = subprocess.run(command, capture_output=True, text=True, env=os.environ | env, check=True).stdout
    finally:
        Path(handle.name).unlink()
    match = re.search(r"BENCH_JSON (\{.*\})", out)
    if not match:
        raise RuntimeError(f"wrk gave no summary:\n{out}")
    data: dict[str, float] = json.loads(match.group(1))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def server_pids(server: Any) -> list[int]:
    from tests.utils.server import _processes_of

    return _processes_of(server.process.pid, server.port)


def pin(pids: list[int], cpu: str) -> None:
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)], capture_output=True, check=False)


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return -1
    return int(fields[11]) + int(fields[12])


def busiest(before: dict[int, int]) -> int:
    """The server process that used the most CPU since ``before`` (granian's worker, not the supervisors, which
    used more at start-up)."""
    return max(before, key=lambda pid: cpu_ticks(pid) - before[pid])


# --- the ceiling of the 100-event rows: the same rows through the bare driver ------------------------------------


def driver_ceiling(engine: Any, rows: list[dict[str, Any]], data_dir: Path) -> dict[str, Any]:
    """Insert ``rows`` (the x100 rows the server stored) again, 100 per transaction, through the bare driver into an
    empty copy of the ``event`` table with its indexes: stdlib sqlite3 (WAL, synchronous=FULL, as the app connects)
    on SQLite; on PostgreSQL, the bare psycopg driver (``postgres_ceiling``)."""
    batches = [rows[i : i + 100] for i in range(0, len(rows), 100)]
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            ddl = [
                sql
                for (sql,) in connection.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'event' AND sql IS NOT NULL"
                )
            ]
        path = data_dir / "ceiling.db"
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=OFF")  # no account table here
        for sql in ddl:
            db.execute(sql)
        columns = [c for c in rows[0] if c != "id"]
        insert = f"INSERT INTO event ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        values = [[tuple(r[c] for c in columns) for r in batch] for batch in batches]
        started = time.perf_counter()
        for tuples in values:
            db.execute("BEGIN")
            db.executemany(insert, tuples)
            db.execute("COMMIT")
        elapsed = time.perf_counter() - started
        stored = db.execute("SELECT COUNT(*) FROM event").fetchone()[0]
        db.close()
        what = "stdlib sqlite3 executemany, 100 rows per commit"
    else:
        return postgres_ceiling(engine, rows, batches)
    if stored != len(rows):
        raise RuntimeError(f"the ceiling stored {stored} of {len(rows)} rows")
    return {"events_per_s": len(rows) / elapsed, "rows": len(rows), "what": what}


def postgres_ceiling(engine: Any, rows: list[dict[str, Any]], batches: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """PostgreSQL's own ceiling for the same rows: the bare driver (psycopg, no SQLAlchemy in the loop), 100 rows
    per commit into an empty copy of ``event`` with its indexes and defaults, once as ``executemany`` (psycopg 3
    pipelines it) and once as ``COPY``; the faster is the ceiling. The server's own fsync and synchronous_commit
    apply to both, as to the app."""
    from psycopg.types.json import Jsonb

    columns = [c for c in rows[0] if c != "id"]
    values = [
        [tuple(Jsonb(r[c]) if isinstance(r[c], (dict, list)) else r[c] for c in columns) for r in batch]
        for batch in batches
    ]
    names = ", ".join(columns)
    insert = f"INSERT INTO bench_ceiling_event ({names}) VALUES ({', '.join('%s' for _ in columns)})"
    raw = engine.raw_connection()
    try:
        db = raw.driver_connection  # the psycopg connection itself
        db.autocommit = False
        rates: dict[str, float] = {}
        for method in ("executemany", "COPY"):
            with db.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS bench_ceiling_event")
                cursor.execute("CREATE TABLE bench_ceiling_event (LIKE event INCLUDING ALL)")
            db.commit()
            started = time.perf_counter()
            for tuples in values:
                with db.cursor() as cursor:
                    if method == "COPY":
                        with cursor.copy(f"COPY bench_ceiling_event ({names}) FROM STDIN") as copy:
                            for record in tuples:
                                copy.write_row(record)
                    else:
                        cursor.executemany(insert, tuples)
                db.commit()
            elapsed = time.perf_counter() - started
            with db.cursor() as cursor:
                stored = cursor.execute("SELECT COUNT(*) FROM bench_ceiling_event").fetchone()[0]
                cursor.execute("DROP TABLE bench_ceiling_event")
            db.commit()
            if stored != len(rows):
                raise RuntimeError(f"the ceiling ({method}) stored {stored} of {len(rows)} rows")
            rates[method] = len(rows) / elapsed
    finally:
        raw.close()
    best = max(rates, key=lambda method: rates[method])
    detail = ", ".join(f"{method} {rate:,.0f}/s" for method, rate in rates.items())
    return {
        "events_per_s": rates[best],
        "rows": len(rows),
        "what": f"bare psycopg {best}, 100 rows per commit ({detail})",
        "by_method": rates,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and wrk to their own cores")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of the server (x1 and x100) here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2

    sys.path.insert(0, str(ROOT))
    from sqlalchemy import create_engine, text

    from tests.utils.server import free_port, server_env, start_server

    pinned = not args.no_pin and bool(shutil.which("taskset")) and (os.cpu_count() or 1) >= 2
    server_cpu, load_cpu = ("0", "1") if pinned else (None, None)
    data_dir = Path(tempfile.mkdtemp(prefix="paidsignal-bench-"))
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'paidsignal.db'}"
    port = free_port()
    env = server_env(port, data_dir, INGEST_RATE_LIMIT="1000000/second", DATABASE_URL=database_url)
    server = start_server(port, data_dir, env, backend_only=True, timeout=120)
    slug = f"bench-{time.time_ns()}"
    server.cli("create-account", "--name", slug, "--email", f"{slug}@example.com", "--password", "bench-pass-123")
    publishable = server.cli("create-key", "--account", slug, "--kind", "publishable", "--origin", ORIGIN).strip()
    if pinned:
        pin(server_pids(server), server_cpu or "0")
    base = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, float]] = {}
    prefixes: dict[str, str] = {}
    profiles: list[subprocess.Popen[bytes]] = []
    try:
        common = {"BENCH_ORIGIN": ORIGIN, "BENCH_UA": UA}
        ticks = {pid: cpu_ticks(pid) for pid in server_pids(server)}
        run_wrk(f"{base}/ping", "", 2, args.connections, common, load_cpu)  # warm-up
        worker = busiest(ticks)

        def measured(url: str, script: str, env: dict[str, str], *, derived: bool = False) -> dict[str, float]:
            """wrk's figures, plus the server worker's CPU time per request over the row (utime + stime): on a
            shared machine the throughput depends on what else runs on the core; the CPU cost per request does not
            (much), and its ratio is what the throughput ratio would be on a core of its own. Event rows count
            until derivation has caught up with them (its work is theirs), which also keeps it out of the next row.
            """
            before = cpu_ticks(worker)
            row = run_wrk(url, script, args.seconds, args.connections, env, load_cpu)
            if derived:
                row["derive_wait_s"] = wait_derived(database_url, slug)
                # What the server keeps up with, not only what it acknowledges: the row's events over its load plus
                # the time derivation needed after it to catch up with them.
                row["derived_seconds"] = row["duration_us"] / 1e6 + row["derive_wait_s"]
            row["cpu_ms_per_request"] = (cpu_ticks(worker) - before) * 1000 / os.sysconf("SC_CLK_TCK") / row["requests"]
            return row

        results["noop GET /ping"] = measured(f"{base}/ping", "", common)
        results["GET /api/v1/health"] = measured(f"{base}/api/v1/health", "", common)
        events_url = f"{base}/api/v1/events?key={publishable}"
        # x100: every event a different visitor and session (worst case for deriving sessions);
        # x100 one visitor: a browser's batch, one visitor and session per request.
        for name, batch, one_visitor in (("x1", 1, "0"), ("x100", 100, "0"), ("x100 one visitor", 100, "1")):
            prefixes[name] = f"b{len(prefixes)}-{time.time_ns()}"
            extra = common | {
                "BENCH_BATCH": str(batch),
                "BENCH_PREFIX": prefixes[name],
                "BENCH_ONE_VISITOR": one_visitor,
            }
            if args.profile and name in ("x1", "x100") and shutil.which("py-spy"):
                args.profile.mkdir(parents=True, exist_ok=True)
                out = args.profile / f"ingest-{name}.txt"
                profiles.append(
                    subprocess.Popen(
                        [
                            "py-spy",
                            "record",
                            "--pid",
                            str(worker),
                            "--duration",
                            str(args.seconds),
                            "--rate",
                            "200",
                            "--threads",
                            "--format",
                            "raw",
                            "--nonblocking",
                            "--output",
                            str(out),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=(args.profile / f"py-spy-{name}.log").open("wb"),
                    )
                )
            row = measured(events_url, LUA_EVENTS, extra, derived=True)
            row["events_per_s"] = row["rps"] * batch
            row["acknowledged_events"] = (row["requests"] - row["non2xx"]) * batch
            row["sustained_events_per_s"] = row["acknowledged_events"] / row["derived_seconds"]
            results[f"POST /api/v1/events {name}"] = row
        for profile in profiles:
            profile.wait(timeout=60)
        derive_wait = wait_derived(database_url, slug)
    finally:
        server.stop()

    engine = create_engine(database_url)
    with engine.connect() as connection:
        account_id = connection.execute(text("SELECT id FROM account WHERE slug = :s"), {"s": slug}).scalar_one()
        stored, distinct = connection.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM event WHERE account_id = :a"), {"a": account_id}
        ).one()
        # Every stored event counted once in its visitor and its session (derivation exact, nothing twice).
        visitor_events = connection.execute(
            text("SELECT COALESCE(SUM(event_count), 0) FROM visitor WHERE account_id = :a"), {"a": account_id}
        ).scalar_one()
        session_events = connection.execute(
            text("SELECT COALESCE(SUM(event_count), 0) FROM visit_session WHERE account_id = :a"), {"a": account_id}
        ).scalar_one()
        # Every bench event carries utm_campaign: each session has exactly one touch, and each visitor one first.
        sessions, touches, first_touches, visitors = connection.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM visit_session WHERE account_id = :a),"
                " (SELECT COUNT(*) FROM touch WHERE account_id = :a),"
                " (SELECT COUNT(*) FROM touch WHERE account_id = :a AND is_first),"
                " (SELECT COUNT(*) FROM visitor WHERE account_id = :a)"
            ),
            {"a": account_id},
        ).one()
        x100_rows = [
            dict(row)
            for row in connection.execute(
                text("SELECT * FROM event WHERE account_id = :a AND event_id LIKE :p ORDER BY id"),
                {"a": account_id, "p": prefixes["x100"] + "-%"},
            ).mappings()
        ]
    ceiling = driver_ceiling(engine, x100_rows, data_dir)
    engine.dispose()
    acknowledged = sum(int(r.get("acknowledged_events", 0)) for r in results.values())
    # wrk counts requests it sent whose answers arrived; requests cut at the end were never acknowledged.
    missing = max(0, acknowledged - int(stored))
    noop = results["noop GET /ping"]["rps"]
    single = results["POST /api/v1/events x1"]
    batches = results["POST /api/v1/events x100"]
    summary: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "database": engine.dialect.name,
        "server": "reflex run --env prod --backend-only (granian, 1 worker)" + (" pinned to core 0" if pinned else ""),
        "load": f"wrk -t1 -c{args.connections}"
        + (" pinned to core 1" if pinned else "")
        + f", {args.seconds} s per row",
        "results": results,
        "ceiling_x100": ceiling,
        "single_vs_noop": single["rps"] / noop,
        # What the ratio would be on a core of its own: the server's CPU per /ping over its CPU per event request.
        "single_vs_noop_cpu": results["noop GET /ping"]["cpu_ms_per_request"] / single["cpu_ms_per_request"],
        "x100_events_per_cpu_s": 100 / (batches["cpu_ms_per_request"] / 1000),
        "x100_vs_driver": batches["events_per_s"] / ceiling["events_per_s"],
        "acknowledged_events": acknowledged,
        "stored_events": int(stored),
        "duplicate_events": int(stored) - int(distinct),
        "missing_events": missing,
        "visitor_events": int(visitor_events),
        "session_events": int(session_events),
        "derive_wait_s": derive_wait,
        "x100_sustained_events_per_s": batches["sustained_events_per_s"],
        "x100_sustained_vs_driver": batches["sustained_events_per_s"] / ceiling["events_per_s"],
        "sessions": int(sessions),
        "touches": int(touches),
        "first_touches": int(first_touches),
        "visitors": int(visitors),
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"ingest-{datetime.now(UTC):%Y%m%d-%H%M%S}.json").write_text(json.dumps(summary, indent=2))

    print(f"\n{summary['database']}; {summary['server']}; load {summary['load']}; machine cores: {summary['cores']}\n")
    print(
        "| endpoint | requests/s | events/s acknowledged | derived after (s) | events/s until derived "
        "| server CPU ms/request | p50 ms | p99 ms | non-2xx |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, row in results.items():
        events = f"{row['events_per_s']:,.0f}" if "events_per_s" in row else "–"
        wait = f"{row['derive_wait_s']:.1f}" if "derive_wait_s" in row else "–"
        sustained = f"{row['sustained_events_per_s']:,.0f}" if "sustained_events_per_s" in row else "–"
        print(
            f"| {name} | {row['rps']:,.0f} | {events} | {wait} | {sustained} | {row['cpu_ms_per_request']:.2f} | "
            f"{row['p50_us'] / 1000:.1f} | {row['p99_us'] / 1000:.1f} | {row['non2xx']:.0f} |"
        )
    print(f"| ceiling: the x100 rows again, {ceiling['what']} | – | {ceiling['events_per_s']:,.0f} | | | | | | |")
    print(
        f"\nsingle-event throughput = {summary['single_vs_noop']:.0%} of GET /ping (goal 50 %); by server CPU per "
        f"request {summary['single_vs_noop_cpu']:.0%}"
    )
    print(
        f"100-event batches = {summary['x100_vs_driver']:.0%} of the bare driver's batched inserts (goal 50 %); "
        f"{summary['x100_events_per_cpu_s']:,.0f} events per second of server CPU; until derived "
        f"{summary['x100_sustained_vs_driver']:.0%} ({summary['x100_sustained_events_per_s']:,.0f} events/s)"
    )
    print(
        f"acknowledged events {acknowledged:,}, stored {int(stored):,}, missing {missing}, "
        f"stored twice {summary['duplicate_events']}; derived into visitors {int(visitor_events):,} and sessions "
        f"{int(session_events):,} (caught up {derive_wait:.1f} s after the load); {int(visitors):,} visitors, "
        f"{int(sessions):,} sessions, {int(touches):,} touches ({int(first_touches):,} first)"
    )
    exact = (
        missing == 0
        and summary["duplicate_events"] == 0
        and visitor_events == stored == session_events
        and touches == sessions
        and first_touches == visitors
    )
    if not exact:
        print("CORRECTNESS CHECK FAILED", file=sys.stderr)
    shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if exact else 1


def wait_derived(database_url: str, slug: str, timeout: float = 120) -> float:
    """Seconds until every stored event of the account is derived (visitors and sessions count them all)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    started = time.monotonic()
    try:
        while True:
            with engine.connect() as connection:
                account_id = connection.execute(text("SELECT id FROM account WHERE slug = :s"), {"s": slug}).scalar()
                stored = connection.execute(
                    text("SELECT COUNT(*) FROM event WHERE account_id = :a"), {"a": account_id}
                ).scalar_one()
                derived = connection.execute(
                    text("SELECT COALESCE(SUM(event_count), 0) FROM visit_session WHERE account_id = :a"),
                    {"a": account_id},
                ).scalar_one()
            if derived >= stored or time.monotonic() - started > timeout:
                return time.monotonic() - started
            time.sleep(0.2)
    finally:
        engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
