"""API usage counting overhead, in process (no network, no database), in one run:

- ``api_usage.count()`` alone: one thread, and 4 threads counting into the same slots at once;
- the ``CountApiUsage`` middleware per request: the API app (``build_api()``) driven straight through ASGI on an async
  no-op route that marks its request as authenticated, with and without the middleware, rounds interleaved so
  machine noise hits both alike; the difference is what counting adds to each API request;
- ``flush_api_usage``: writing 1,000 pending slots to a SQLite file (one upsert per row, one transaction).

Usage: ``.venv/bin/python bench/usage.py [--requests 20000] [--rounds 7]``. Prints a Markdown table. The end-to-end
figures (``POST /api/v1/events`` under wrk) come from ``bench/ingest.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Made in main() once the arguments are read: --help must not leave an empty folder behind.
_DATA = Path(tempfile.gettempdir()) / f"paidsignal-bench-usage-{os.getpid()}-{os.urandom(4).hex()}"
os.environ.update(
    {
        "PAIDSIGNAL_ENV": "development",
        "DATA_DIR": str(_DATA),
        "DATABASE_URL": f"sqlite:///{_DATA / 'bench.db'}",
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "JOBS_ENABLED": "false",
        "REFLEX_TELEMETRY_ENABLED": "false",
    }
)
sys.path.insert(0, str(ROOT))

# At module level: FastAPI resolves the route's annotations (strings here) from the module's globals.
from fastapi import Request  # noqa: E402
from fastapi.responses import Response  # noqa: E402

NOOP = "/api/v1/bench/noop/{thing_id}"


def _app(*, counting: bool) -> Any:
    from app.api.factory import build_api
    from app.api.middleware import CountApiUsage

    api = build_api()

    @api.get(NOOP)
    async def noop(thing_id: str, request: Request) -> Response:
        request.state.usage_key = (1, 1)  # as api/deps.py does once a key checked out
        return Response(b"{}", media_type="application/json")

    # Our route must match before the catch-all "/api/{path:path}": move it first.
    api.router.routes.insert(0, api.router.routes.pop())
    if not counting:
        api.user_middleware = [m for m in api.user_middleware if m.cls is not CountApiUsage]
    api.middleware_stack = None
    return api


async def _drive(app: Any, n: int) -> float:
    """Seconds for ``n`` GET requests straight through ASGI."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    start = time.perf_counter()
    for i in range(n):
        path = f"/api/v1/bench/noop/t{i % 50}"
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        await app(scope, receive, send)
    return time.perf_counter() - start


def bench_count(n: int) -> dict[str, float]:
    from app.services.usage import ApiUsageCounter

    counter = ApiUsageCounter()
    start = time.perf_counter()
    for i in range(n):
        counter.count(1 + i % 20, i % 3, "POST /api/v1/events", 200, 1)
    single = (time.perf_counter() - start) / n

    threads, per_thread = 4, n // 4
    counter = ApiUsageCounter()

    def work() -> None:
        for i in range(per_thread):
            counter.count(1 + i % 20, i % 3, "POST /api/v1/events", 200, 1)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    contended = (time.perf_counter() - start) / (threads * per_thread)
    assert sum(c[0] for c in counter.pending().values()) == threads * per_thread
    return {"single_us": single * 1e6, "four_threads_us": contended * 1e6}


def bench_middleware(n: int, rounds: int) -> dict[str, float]:
    from app import runtime

    with_mw, without_mw = _app(counting=True), _app(counting=False)
    asyncio.run(_drive(with_mw, 500))  # warm-up
    asyncio.run(_drive(without_mw, 500))
    runtime.current().api_usage.discard()
    timings: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(rounds):
        for name, app in (("without", without_mw), ("with", with_mw)):
            timings[name].append(asyncio.run(_drive(app, n)) / n * 1e6)
    counted = sum(c[0] for c in runtime.current().api_usage.pending().values())
    assert counted == n * rounds, counted  # every request through the middleware was counted once
    runtime.current().api_usage.discard()
    with_us, without_us = statistics.median(timings["with"]), statistics.median(timings["without"])
    return {"with_us": with_us, "without_us": without_us, "overhead_us": with_us - without_us}


def bench_flush(slots: int) -> dict[str, float]:
    from datetime import UTC, datetime

    from sqlmodel import Session

    from app import runtime
    from app.cli import migrate
    from app.db import get_engine
    from app.models import Account
    from app.services.usage import flush_api_usage

    migrate()
    engine = get_engine()
    with Session(engine) as session:
        accounts = [
            Account(public_id=f"acc_bench{n}", slug=f"bench-{n}", name=f"Bench {n}", created_at=datetime.now(UTC))
            for n in range(20)
        ]
        session.add_all(accounts)
        session.commit()
        ids = [a.id for a in accounts]
    timings = []
    for _ in range(3):
        for i in range(slots):
            runtime.current().api_usage.count(ids[i % 20] or 0, i // 20, f"GET /api/v1/route{i % 7}", 200)
        with Session(engine) as session:
            start = time.perf_counter()
            written = flush_api_usage(session)
            timings.append(time.perf_counter() - start)
        assert written == slots, written
    return {"slots": slots, "flush_ms": statistics.median(timings) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    _DATA.mkdir(mode=0o700, exist_ok=True)
    count = bench_count(200_000)
    middleware = bench_middleware(args.requests, args.rounds)
    flush = bench_flush(1_000)
    print(f"\nin process, Python {sys.version.split()[0]}, {os.cpu_count()} cores; median of {args.rounds} rounds\n")
    print("| what | per call |")
    print("| --- | ---: |")
    print(f"| `api_usage.count()`, 1 thread | {count['single_us']:.2f} µs |")
    print(f"| `api_usage.count()`, 4 threads at once | {count['four_threads_us']:.2f} µs |")
    print(f"| API request through ASGI, no counting | {middleware['without_us']:.1f} µs |")
    print(f"| API request through ASGI, counted | {middleware['with_us']:.1f} µs |")
    print(f"| **middleware + count overhead per request** | **{middleware['overhead_us']:.1f} µs** |")
    print(f"| `flush_api_usage`, {flush['slots']:,} slots (SQLite, one transaction) | {flush['flush_ms']:.1f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
