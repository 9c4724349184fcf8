"""Stripe webhook benchmark: signed events verified and recorded per second, production backend on 127.0.0.1.

One run, same wrk load (``-t1 -cN``) for every HTTP row:

- (a) no-op ceiling: Reflex's ``GET /ping`` (and, for reference, ``GET /api/v1/health``: the API stack + ``SELECT 1``);
- (b) ``POST /api/v1/stripe/webhook/{account}`` with ``customer.created`` events (a type we ignore): verify the
  signature, record the event id, nothing else;
- (c) ``checkout.session.completed`` (paid) for orders created beforehand, each order once: verify, record, pay;
- (d) the bodies of (b) and (c) delivered again (fresh signatures, as Stripe's retries): the dedup path; (d1) (b)'s
  1.6 KB bodies alone and (d2) (c)'s 4.9 KB ones alone (what a body's size costs).

After each webhook phase the bench waits until the work it deferred to the server's jobs is done (``update_rollups``:
the dirty days and customers the paying webhooks marked) and counts that CPU, above the server's idle rate, to the
phase: printed as "with deferred" beside the request path's figure, and kept out of the next phase.

Every body in (b) and (c) carries its own event id (a repeat would only measure (d)). Bodies are built with
``tests.utils.stripe_fakes`` (Stripe's example objects), signed up front, written to a file, and sent by wrk with a
Lua script that walks through them and writes each answer (status, event id, outcome) to a file. After each phase
the database is checked: every acknowledged event stored exactly once, with the outcome it answered; every order
of (c) whose event was acknowledged paid once; (d) adds no row and no payment.

Then, with the server stopped and the same database, the service itself (``receive_webhook`` in a loop, no HTTP; on
one thread, and on 32 threads like the server's threadpool) as a second line of evidence; a raw-SQL sketch of the
same effects (what SQLite and fsync cost without the ORM); and where the time goes (signature, JSON, a SQLite commit
with synchronous FULL and NORMAL, the threadpool hop, a cProfile by package).

Usage: ``.venv/bin/python bench/webhooks.py [--seconds 10] [--connections 32] [--server-cpus 0 --load-cpus 1]``.
Needs ``wrk`` (apt-get install wrk). ``DATABASE_URL`` (an empty database, e.g. a private PostgreSQL) runs it on that
database instead of a fresh SQLite file; the checks and the raw-SQL floor run on it too. ``--server-cpus`` and
``--load-cpus`` pin the server and wrk with ``taskset``. Writes a JSON result to bench/results/ and prints a Markdown
table.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import hmac
import json
import os
import pstats
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.utils.server import PYTHON, free_port, migrate, server_env, start_server  # noqa: E402
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event, stripe_object  # noqa: E402

STRIPE_KEY = "sk_test_51PaidSignalBenchKey0000000"
WEBHOOK_SECRET = "whsec_bench_paidsignal_0123456789abcdef"
TARGET = 1_000  # webhooks per second
AMOUNT = 4_900
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Walks through the prepared bodies (each once; BENCH_CYCLE=1 wraps around) and writes every answer to BENCH_ACKS.
# Bodies file: "<signature length> <body length>\n<signature><body>" repeated.
LUA_WEBHOOKS = r"""
local sigs, bodies, n, i = {}, {}, 0, 0
local cycle = os.getenv("BENCH_CYCLE") == "1"
local acks, written = nil, 0
exhausted = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json; charset=utf-8"
wrk.headers["User-Agent"] = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
init = function(args)
  local f = assert(io.open(os.getenv("BENCH_BODIES"), "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local nl = string.find(data, "\n", pos, true)
    local sl, bl = string.match(data, "^(%d+) (%d+)", pos)
    sl, bl = tonumber(sl), tonumber(bl)
    n = n + 1
    sigs[n] = string.sub(data, nl + 1, nl + sl)
    bodies[n] = string.sub(data, nl + sl + 1, nl + sl + bl)
    pos = nl + sl + bl + 1
  end
  assert(n > 0, "no bodies in " .. os.getenv("BENCH_BODIES") .. ": nothing to send")
  acks = assert(io.open(os.getenv("BENCH_ACKS"), "w"))
end
request = function()
  i = i + 1
  if i > n then
    if cycle then i = 1 else exhausted = 1; wrk.thread:stop(); i = n end
  end
  wrk.headers["Stripe-Signature"] = sigs[i]
  return wrk.format(nil, nil, nil, bodies[i])
end
response = function(status, headers, body)
  local id = string.match(body, '"event_id":"([^"]*)"') or "-"
  local outcome = string.match(body, '"outcome":"([^"]*)"') or string.match(body, '"code":"([^"]*)"') or "-"
  acks:write(status, "\t", id, "\t", outcome, "\n")
  written = written + 1
  if written % 1000 == 0 then acks:flush() end
end
"""

LUA_DONE = r"""
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local exhausted = 0
  for _, t in ipairs(threads) do exhausted = exhausted + (tonumber(t:get("exhausted")) or 0) end
  io.write(string.format("BENCH_JSON {\"requests\":%d,\"duration_us\":%d,\"non2xx\":%d," ..
    "\"socket_errors\":%d,\"p50_us\":%d,\"p99_us\":%d,\"exhausted\":%d}\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), exhausted))
end
"""


# --- load generation ------------------------------------------------------------------------------------------------


def proc_stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/<pid>/stat after the command name) of every live process: fields[1] is the parent
    pid, fields[2] the process group, fields[11] and fields[12] utime and stime in clock ticks."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            yield int(entry.name), (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process in the server's process group (reflex, granian and its worker)."""
    total = sum(int(fields[11]) + int(fields[12]) for _pid, fields in proc_stats() if int(fields[2]) == pgid)
    return total / CLK_TCK


def pin_group(pgid: int, cpus: str) -> None:
    """``taskset`` every thread of every process in the server's process group to ``cpus``."""
    for pid, fields in proc_stats():
        if int(fields[2]) == pgid:
            subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=False, capture_output=True)


LOAD_CPUS: list[str] = []  # ``taskset -c`` prefix for wrk (--load-cpus)


def run_wrk(
    url: str,
    script: str,
    seconds: int,
    connections: int,
    server_pgid: int | None,
    env: dict[str, str] | None = None,
    cpus: str | None = None,
) -> dict[str, Any]:
    """One wrk run (``-t1``); ``server_pgid``: the process group whose CPU is counted (None: not counted; the caller
    counts); ``cpus``: pin wrk to these cores (``taskset -c``)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script + LUA_DONE)
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = group_cpu_seconds(server_pgid) if server_pgid is not None else 0.0
    pin = ["taskset", "-c", cpus] if cpus else LOAD_CPUS  # this call's cores, else --load-cpus
    started = time.monotonic()
    try:
        out = subprocess.run(
            [*pin, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", handle.name, url],
            capture_output=True,
            text=True,
            env=os.environ | (env or {}),
            check=True,
        ).stdout
    finally:
        Path(handle.name).unlink()
    wall = time.monotonic() - started
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = group_cpu_seconds(server_pgid) - server_before if server_pgid is not None else 0.0
    match = re.search(r"BENCH_JSON (\{.*\})", out)
    if not match:
        raise RuntimeError(f"wrk gave no summary:\n{out}")
    data: dict[str, Any] = json.loads(match.group(1))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    client_cpu = (client_after.ru_utime - client_before.ru_utime) + (client_after.ru_stime - client_before.ru_stime)
    data["client_cpu_pct"] = 100 * client_cpu / wall
    data["server_cpu_pct"] = 100 * server_cpu / wall
    data["server_cpu_us_per_req"] = 1e6 * server_cpu / max(1, data["requests"])
    return data


def write_bodies(path: Path, bodies: list[bytes], secret: str) -> None:
    """Sign every body now (fresh ``t=``) and write them in the Lua script's format."""
    with path.open("wb") as out:
        for body in bodies:
            signature = sign(body, secret).encode()
            out.write(f"{len(signature)} {len(body)}\n".encode() + signature + body)


def read_acks(path: Path) -> list[tuple[int, str, str]]:
    rows = []
    for line in path.read_text().splitlines():
        status, event_id, outcome = line.split("\t")
        rows.append((int(status), event_id, outcome))
    return rows


# --- bodies and database set-up ----------------------------------------------------------------------------------


def customer_events(prefix: str, count: int) -> list[bytes]:
    template = stripe_object("customer")
    return [
        stripe_event("customer.created", {**template, "id": f"cus_{prefix}{i}"}, event_id=f"evt_{prefix}{i:07d}")
        for i in range(count)
    ]


def checkout_events(prefix: str, orders: list[str]) -> list[bytes]:
    template = stripe_object(
        "checkout.session",
        mode="payment",
        status="complete",
        payment_status="paid",
        amount_subtotal=AMOUNT,
        amount_total=AMOUNT,
        currency="eur",
        subscription=None,
        invoice=None,
        metadata={},
    )
    return [
        stripe_event(
            "checkout.session.completed",
            {
                **template,
                "id": f"cs_test_{prefix}{i}",
                "client_reference_id": order,
                "payment_intent": f"pi_{prefix}{i}",
                "customer": f"cus_{prefix}{i}",
            },
            event_id=f"evt_{prefix}{i:07d}",
        )
        for i, order in enumerate(orders)
    ]


def insert_orders(account_id: int, prefix: str, count: int) -> list[str]:
    """``count`` created one-off orders of AMOUNT EUR, in one transaction (setup speed; checkout would need Stripe)."""
    from sqlalchemy import insert

    from app.db import session_scope
    from app.models import Order
    from app.models.base import utcnow

    now = utcnow()
    ids = [f"ord_{prefix}{i:07d}" for i in range(count)]
    rows = [
        {
            "public_id": public_id,
            "account_id": account_id,
            "request_key": f"bench-{public_id}",
            "mode": "payment",
            "status": "created",
            "status_changed_at": now,
            "currency": "EUR",
            "amount_expected": AMOUNT,
            "amount_paid": 0,
            "amount_refunded": 0,
            "items": [{"price": "price_bench", "product": "prod_bench", "quantity": 1, "unit_amount": AMOUNT}],
            "event_id": f"e-{public_id}",
            "attribution": {},
            "success_url": "https://shop.example.com/thanks",
            "cancel_url": "https://shop.example.com/cart",
            "disputed": False,
            "created_at": now,
        }
        for public_id in ids
    ]
    with session_scope() as session:
        session.execute(insert(Order.__table__), rows)
    return ids


def connect_account() -> tuple[int, str]:
    """Connect Stripe (the key is checked against the recorder) for the account the CLI created."""
    from sqlmodel import select

    from app.db import session_scope
    from app.models import Account, Membership, Role
    from app.services.permissions import Actor
    from app.services.stripe_connection import connect_stripe

    with session_scope() as session:
        account = session.exec(select(Account).where(Account.slug == "bench-shop")).one()
        owner = session.exec(select(Membership).where(Membership.account_id == account.id)).one()
        assert account.id is not None
        actor = Actor(user_id=owner.user_id, account_id=account.id, role=Role.OWNER)
        connect_stripe(session=session, actor=actor, secret_key=STRIPE_KEY, webhook_secret=WEBHOOK_SECRET)
        return account.id, account.public_id


# --- checks against the database ----------------------------------------------------------------------------------


class CheckDB:
    """The checks' SQL (``?`` placeholders) on any database the app runs on, each statement in a transaction of its
    own (a fresh snapshot on PostgreSQL); sums come back as ints whatever the driver's type."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> CheckRows:
        from sqlalchemy import text

        numbers = iter(range(len(params)))
        statement = text(re.sub(r"\?", lambda _m: f":p{next(numbers)}", sql))
        with self.engine.connect() as connection:
            rows = connection.execute(statement, {f"p{i}": v for i, v in enumerate(params)}).fetchall()
        return CheckRows([tuple(int(v) if isinstance(v, Decimal) else v for v in row) for row in rows])

    def close(self) -> None:
        self.engine.dispose()


class CheckRows:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...]:
        return self.rows[0]


def stored_events(db: CheckDB, prefix: str) -> dict[str, tuple[int, int, str]]:
    """event id -> (rows, deliveries, outcome) for every stored event id starting with ``evt_{prefix}``."""
    rows = db.execute(
        "SELECT stripe_event_id, COUNT(*), SUM(deliveries), MIN(outcome) FROM stripe_event "
        "WHERE stripe_event_id LIKE ? GROUP BY stripe_event_id",
        (f"evt_{prefix}%",),
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def check_phase(db: CheckDB, prefix: str, acks: list[tuple[int, str, str]], expected: str) -> dict[str, Any]:
    """Every acknowledged event stored once, delivered once, with the outcome it answered."""
    ok = [(event_id, outcome) for status, event_id, outcome in acks if status == 200]
    stored = stored_events(db, prefix)
    acked_ids = {event_id for event_id, _ in ok}
    return {
        "acknowledged": len(ok),
        "acknowledged_distinct": len(acked_ids),
        "wrong_outcome": sum(outcome != expected for _, outcome in ok),
        "missing": sum(event_id not in stored for event_id in acked_ids),
        "stored_more_than_once": sum(1 for n, deliveries, _ in stored.values() if n != 1 or deliveries != 1),
        "stored_outcome_mismatch": sum(1 for e in acked_ids if e in stored and stored[e][2] != expected),
        "stored_not_acknowledged": len(set(stored) - acked_ids),  # sent as wrk's time ran out, answer not read
        "non200": sum(status != 200 for status, _, _ in acks),
    }


def wait_until_idle(db: CheckDB, quiet_s: float = 2.0, limit_s: float = 120.0) -> None:
    """Until the stored events have not changed for ``quiet_s``: the server answers deliveries wrk sent before it
    stopped (up to one per connection, and those queued for a webhook thread) after wrk has returned."""
    last: tuple[int, int] | None = None
    changed = started = time.monotonic()
    while time.monotonic() - started < limit_s:
        now = db.execute("SELECT COUNT(*), COALESCE(SUM(deliveries), 0) FROM stripe_event").fetchone()
        if now != last:
            last, changed = now, time.monotonic()
        elif time.monotonic() - changed >= quiet_s:
            return
        time.sleep(0.2)


def deferred_queue(db: CheckDB) -> dict[str, int]:
    """What the server's jobs still have to do for the deliveries so far: dirty days (``update_rollups``: the
    dashboard rollups) and dirty customers (its second half: the lifetime-value rows)."""
    return {
        "dirty_days": db.execute("SELECT COUNT(*) FROM rollup_dirty").fetchone()[0],
        "dirty_customers": db.execute("SELECT COUNT(*) FROM rollup_customer_dirty").fetchone()[0],
    }


def idle_cpu_rate(pgid: int, seconds: float = 3.0) -> float:
    """The server's CPU seconds per second while nothing is sent and nothing is queued (scheduler ticks, usage
    flushes): subtracted from the wait for a phase's deferred work."""
    before, started = group_cpu_seconds(pgid), time.monotonic()
    time.sleep(seconds)
    return (group_cpu_seconds(pgid) - before) / (time.monotonic() - started)


def settle(db: CheckDB, pgid: int, idle_rate: float, limit_s: float = 180.0) -> dict[str, Any]:
    """Until the deferred work the phase caused is done: no dirty day or customer left, then the server's CPU back
    at its idle rate (the job's last pass and commit). ``update_rollups`` runs every ``ROLLUP_SECONDS`` (30 s by
    default), so this can wait that long. Returns the queue when the load stopped, the wait and the server's CPU
    during it (total, and above the idle rate: the phase's deferred work)."""
    queued = deferred_queue(db)
    before, started = group_cpu_seconds(pgid), time.monotonic()
    while any(deferred_queue(db).values()) and time.monotonic() - started < limit_s:
        time.sleep(0.2)
    for _ in range(40):  # the job's last pass after its marks are gone: CPU back near idle for 0.5 s
        window_start, window_cpu = time.monotonic(), group_cpu_seconds(pgid)
        time.sleep(0.5)
        used = group_cpu_seconds(pgid) - window_cpu
        if used <= idle_rate * (time.monotonic() - window_start) + 0.02:
            break
    wall = time.monotonic() - started
    cpu = group_cpu_seconds(pgid) - before
    return {
        "queued_at_end": queued,
        "left": deferred_queue(db),
        "wait_s": wall,
        "cpu_s": cpu,
        "deferred_cpu_s": max(0.0, cpu - idle_rate * wall),
    }


def rollup_runs(db: CheckDB, since: datetime) -> list[str]:
    """``update_rollups`` runs started since ``since`` (UTC): when, how long, what they did."""
    rows = db.execute(
        "SELECT started_at, finished_at, detail FROM job_run WHERE job_name = 'update_rollups' AND started_at >= ? "
        "ORDER BY started_at",
        (f"{since:%Y-%m-%d %H:%M:%S}",),
    ).fetchall()
    out = []
    for started, finished, detail in rows:
        start = datetime.fromisoformat(str(started))
        took = (datetime.fromisoformat(str(finished)) - start).total_seconds() if finished else float("nan")
        out.append(f"{start:%H:%M:%S} {took:.1f} s: {detail or '-'}")
    return out


class PhaseFailed(RuntimeError):
    """A phase whose answers or stored rows are wrong: the phases after it would measure its leftovers."""


def stop_if_failed(name: str, check: dict[str, Any]) -> None:
    problems = {k: v for k, v in check.items() if k not in _INFORMATIONAL and isinstance(v, int) and v}
    if problems or not check.get("acknowledged"):
        found = ", ".join(f"{k} {v:,}" for k, v in problems.items()) or "no delivery acknowledged"
        raise PhaseFailed(f"{name} failed ({found}; answers other than 200: {check.get('errors', 'none')})")


def errors_seen(acks: list[tuple[int, str, str]]) -> str:
    """Non-200 answers by status and error code, e.g. ``500 -: 5``."""
    kinds = Counter(f"{status} {outcome}" for status, _, outcome in acks if status != 200)
    return ", ".join(f"{kind}: {n}" for kind, n in kinds.most_common()) or "none"


def check_orders(db: CheckDB, prefix: str, order_of_event: dict[str, str], acked_ids: set[str]) -> dict[str, int]:
    """Orders whose event was acknowledged: paid, amount_paid = AMOUNT, exactly one payment."""
    targeted = {order_of_event[e] for e in acked_ids if e in order_of_event}
    rows = db.execute(
        "SELECT o.public_id, o.status, o.amount_paid, "
        "(SELECT COUNT(*) FROM payment p WHERE p.order_id = o.id) FROM shop_order o WHERE o.public_id LIKE ?",
        (f"ord_{prefix}%",),
    ).fetchall()
    state = {r[0]: (r[1], r[2], r[3]) for r in rows}
    return {
        "orders_targeted": len(targeted),
        "orders_paid": sum(1 for o in targeted if state[o][0] == "paid"),
        "orders_missing": sum(1 for o in targeted if state[o][0] != "paid" or state[o][1] != AMOUNT),
        "orders_payment_count_wrong": sum(1 for o in targeted if state[o][2] != 1),
        "orders_paid_total": sum(1 for s in state.values() if s[0] == "paid"),
        "payments_total": sum(s[2] for s in state.values()),
    }


# --- in-process evidence ------------------------------------------------------------------------------------------


COUNTED_CALLS = 50  # of each in-process row, for the statement count only (not timed)


def inprocess_loop(account_public_id: str, bodies: list[bytes], threads: int = 1) -> dict[str, Any]:
    """``receive_webhook`` with one ``session_scope`` per call as the endpoint does (signed up front), on this
    thread or on ``threads`` threads (like the server's threadpool, without HTTP)."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import event

    from app.db import get_engine, session_scope
    from app.services.stripe_webhooks import receive_webhook

    signed = [(body, sign(body, WEBHOOK_SECRET)) for body in bodies]
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    def one(item: tuple[bytes, str]) -> tuple[str, float]:
        started = time.perf_counter()
        with session_scope() as session:
            result = receive_webhook(
                session=session, account_public_id=account_public_id, payload=item[0], signature=item[1]
            )
        return result.outcome, time.perf_counter() - started

    # Statements are counted on the first calls, apart: with a cursor-execute listener the webhook's statements leave
    # the driver's cursor for SQLAlchemy's own execution (app/db.py ``execute``), which the timed calls must not.
    counted, signed = signed[:COUNTED_CALLS], signed[COUNTED_CALLS:]
    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        for item in counted:
            one(item)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    started = time.perf_counter()
    cpu_started = time.process_time()
    try:
        if threads == 1:
            done = [one(item) for item in signed]
        else:
            with ThreadPoolExecutor(threads) as pool:
                done = list(pool.map(one, signed))
    finally:
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    latencies = sorted(latency for _, latency in done)
    return {
        "calls": len(signed),
        "threads": threads,
        "per_s": len(signed) / wall,
        "us_per_call": 1e6 * wall / len(signed),
        "cpu_pct": 100 * cpu / wall,
        "cpu_us_per_call": 1e6 * cpu / len(signed),
        "p50_ms": 1e3 * latencies[len(latencies) // 2],
        "p99_ms": 1e3 * latencies[int(len(latencies) * 0.99)],
        "sql_per_call": statements[0] / max(1, len(counted)),
        "outcomes": dict(Counter(outcome for outcome, _ in done)),
    }


class RawDB:
    """The driver itself, no SQLAlchemy: stdlib sqlite3 (the app's pragmas) or psycopg, ``?`` placeholders."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        if self.sqlite:
            self.connection: Any = sqlite3.connect(parsed.database or "", isolation_level=None)
            for pragma in ("journal_mode=WAL", "busy_timeout=5000", "foreign_keys=ON", "synchronous=FULL"):
                self.connection.execute(f"PRAGMA {pragma}")
        else:
            import psycopg

            conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self.connection = psycopg.connect(conninfo, autocommit=True)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if sql == "BEGIN IMMEDIATE" and not self.sqlite:
            sql = "BEGIN"
        return self.connection.execute(sql if self.sqlite else sql.replace("?", "%s"), params)

    def close(self) -> None:
        self.connection.close()


def raw_sql_floor(database_url: str, account_id: int, bodies: list[bytes]) -> dict[str, Any]:
    """A sketch of the same work with few plain statements (bench only, not the app's full rules): verify with the
    app's ``verify_webhook``, then in one ``BEGIN IMMEDIATE`` … ``COMMIT`` (synchronous=FULL, as the app): claim the
    event id with ``INSERT … ON CONFLICT DO UPDATE deliveries+1 RETURNING``, and for a paid Checkout Session read
    the order, insert the payment, mark the order paid, link the event. Tells what the engine and fsync cost.
    One delivery per transaction, like the app before group commit: the floor of that design."""
    from app.integrations.stripe import verify_webhook

    db = RawDB(database_url)
    signed = [(body, sign(body, WEBHOOK_SECRET)) for body in bodies]
    outcomes: Counter[str] = Counter()
    started = time.perf_counter()
    for body, signature in signed:
        event = verify_webhook(body, signature, WEBHOOK_SECRET)
        obj = event["data"]["object"]
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        stamp = (now, now)
        db.execute("BEGIN IMMEDIATE")
        (event_row, deliveries) = db.execute(
            "INSERT INTO stripe_event (account_id, stripe_event_id, type, api_version, stripe_created, object_id, "
            "outcome, message, deliveries, received_at, last_delivery_at) VALUES (?, ?, ?, ?, ?, ?, 'ignored', '', "
            "1, ?, ?) ON CONFLICT (account_id, stripe_event_id) DO UPDATE SET "
            "deliveries = stripe_event.deliveries + 1, last_delivery_at = excluded.last_delivery_at "
            "RETURNING id, deliveries",
            (account_id, event["id"], event["type"], event.get("api_version"), event["created"], obj.get("id"), *stamp),
        ).fetchone()
        if deliveries > 1:
            outcomes["duplicate"] += 1
        elif event["type"] == "checkout.session.completed":
            pi = obj["payment_intent"]
            order_id, amount = db.execute(
                "SELECT id, amount_paid FROM shop_order WHERE account_id = ? AND public_id = ?",
                (account_id, obj["client_reference_id"]),
            ).fetchone()
            db.execute(
                "INSERT INTO payment (account_id, order_id, stripe_key, kind, payment_intent_id, amount, "
                "amount_refunded, currency, paid_at) VALUES (?, ?, ?, 'one_off', ?, ?, 0, ?, ?) "
                "ON CONFLICT (account_id, stripe_key) DO NOTHING",
                (account_id, order_id, pi, pi, obj["amount_total"], obj["currency"].upper(), now),
            )
            db.execute(
                "UPDATE shop_order SET status = 'paid', status_changed_at = ?, paid_at = ?, amount_paid = ?, "
                "checkout_session_id = ?, payment_intent_id = ? WHERE id = ?",
                (now, now, amount + obj["amount_total"], obj["id"], obj["payment_intent"], order_id),
            )
            db.execute(
                "UPDATE stripe_event SET outcome = 'applied', order_id = ?, message = 'Paid.' WHERE id = ?",
                (order_id, event_row),
            )
            outcomes["applied"] += 1
        else:
            outcomes["ignored"] += 1
        db.execute("COMMIT")
    wall = time.perf_counter() - started
    db.close()
    return {"calls": len(signed), "per_s": len(signed) / wall, "us_per_call": 1e6 * wall / len(signed)} | {
        "outcomes": dict(outcomes)
    }


def per_call_us(fn: Callable[[], Any], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return 1e6 * (time.perf_counter() - started) / repeat


def sqlite_commit_us(directory: Path, synchronous: str, repeat: int = 400) -> float:
    """One-row INSERT + COMMIT on a WAL database in the same filesystem, with the given ``synchronous``."""
    path = directory / f"fsync-{synchronous}.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")

    def one() -> None:
        db.execute("BEGIN")
        db.execute("INSERT INTO t (v) VALUES ('x')")
        db.execute("COMMIT")

    try:
        return per_call_us(one, repeat)
    finally:
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def threadpool_hop_us(repeat: int = 5_000) -> float:
    """One ``await run_in_threadpool(noop)`` (what the endpoint does around the service), sequentially."""
    from fastapi.concurrency import run_in_threadpool

    async def hops() -> float:
        started = time.perf_counter()
        for _ in range(repeat):
            await run_in_threadpool(lambda: None)
        return 1e6 * (time.perf_counter() - started) / repeat

    return asyncio.run(hops())


PROFILE_BUCKETS = (
    ("sqlite3 C calls (execute, commit incl. fsync)", lambda f, n: f == "~" and "sqlite3" in n),
    ("psycopg (PostgreSQL driver, incl. waiting for the server)", lambda f, n: "/psycopg" in f),
    ("SQLAlchemy + SQLModel (Python)", lambda f, n: "/sqlalchemy/" in f or "/sqlmodel/" in f),
    ("pydantic", lambda f, n: "/pydantic" in f),
    ("stripe verify (stripe-python, hmac, hashlib)", lambda f, n: "/stripe/" in f or "hmac" in f or "_hashlib" in n),
    ("json", lambda f, n: "/json/" in f or "_json" in n),
    ("app/ code", lambda f, n: "/app/" in f),
)


def apply_loop(account_id: int, bodies: list[bytes]) -> None:
    """What the route's thread and the webhook writer do for each delivery, all on this thread (cProfile sees one
    thread): verify, then claim and apply in a transaction of its own (a group of one)."""
    from app.db import session_scope
    from app.integrations.stripe import verify_webhook
    from app.services.stripe_event_shapes import check_event
    from app.services.stripe_webhooks import apply_event

    for body in bodies:
        event = check_event(verify_webhook(body, sign(body, WEBHOOK_SECRET), WEBHOOK_SECRET))
        with session_scope() as session:
            apply_event(session=session, account_id=account_id, event=event)


def profile_buckets(account_id: int, bodies: list[bytes]) -> tuple[dict[str, float], list[str]]:
    """cProfile ``apply_loop``; own time grouped by package (profiling inflates Python-heavy parts)."""
    profiler = cProfile.Profile()
    profiler.enable()
    apply_loop(account_id, bodies)
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    buckets: dict[str, float] = dict.fromkeys([name for name, _ in PROFILE_BUCKETS] + ["other"], 0.0)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        for bucket, match in PROFILE_BUCKETS:
            if match(filename, name):
                buckets[bucket] += tottime
                break
        else:
            buckets["other"] += tottime
    shares = {k: 100 * v / total for k, v in buckets.items()}
    top = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:8]
    lines = [
        f"{1e6 * v[2] / len(bodies):7.1f} µs/call  {Path(k[0]).name}:{k[1]} {k[2]}"
        for k, v in top  # own time per webhook
    ]
    return shares, lines


# --- main -----------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--inprocess-events", type=int, default=1_000)
    parser.add_argument("--server-cpus", help="pin the server's processes to these CPUs (taskset -c list)")
    parser.add_argument("--load-cpus", help="pin wrk to these CPUs (taskset -c list)")
    args = parser.parse_args()
    if (args.server_cpus or args.load_cpus) and not shutil.which("taskset"):
        print("taskset is missing (util-linux): run without --server-cpus/--load-cpus", file=sys.stderr)
        return 2
    if args.load_cpus:
        LOAD_CPUS[:] = ["taskset", "-c", args.load_cpus]
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2

    run_started = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix="paidsignal-bench-webhooks-"))
    recorder = StripeRecorder(display_name="Bench shop").start()
    port = free_port()
    given_url = os.environ.get("DATABASE_URL")  # else a fresh SQLite file in data_dir
    database_url = given_url or f"sqlite:///{data_dir / 'paidsignal.db'}"
    env = server_env(port, data_dir, STRIPE_API_BASE=recorder.url, **({"DATABASE_URL": given_url} if given_url else {}))
    # This process works on the same database (setup, checks, the in-process rows): same settings as the server.
    os.environ.update(env)
    server = None
    try:
        migrate(env)
        subprocess.run(
            [
                PYTHON,
                "-m",
                "app.cli",
                "create-account",
                *("--name", "Bench shop", "--email", "bench@example.com"),
                *("--password", "bench-pass-123"),
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        account_id, account_public_id = connect_account()
        from app.db import reset_engine

        reset_engine()  # no pooled connection of ours while the server runs
        server = start_server(port, data_dir, env, backend_only=True, timeout=120)
        pgid = server.process.pid
        if args.server_cpus:
            pin_group(pgid, args.server_cpus)
        base = f"http://127.0.0.1:{port}"
        hook_url = f"{base}/api/v1/stripe/webhook/{account_public_id}"
        c, s = args.connections, args.seconds
        results: dict[str, dict[str, Any]] = {}
        checks: dict[str, dict[str, Any]] = {}

        run_wrk(f"{base}/ping", "", 2, c, pgid)  # warm-up
        results["(a) GET /ping (no-op)"] = ping = run_wrk(f"{base}/ping", "", s, c, pgid)
        # Reference: the cheapest API route that touches the database (sync route in the threadpool, SELECT 1).
        results["(a') GET /api/v1/health (sync, SELECT 1)"] = run_wrk(f"{base}/api/v1/health", "", s, c, pgid)
        # Distinct bodies per phase, from /ping's rate: webhook rows go straight to their endpoint and can outrun
        # /ping (Reflex's routing) when the machine is busy; a phase that runs out would send its last body again.
        count = int(ping["rps"] * s * 3) + 500
        run = f"{time.time_ns() % 10**9}"

        # Warm the webhook path (imports, caches, pool) with its own ids, not counted.
        warm = data_dir / "warm.bin"
        write_bodies(warm, customer_events(f"w{run}_", 3_000), WEBHOOK_SECRET)
        run_wrk(hook_url, LUA_WEBHOOKS, 2, c, pgid, {"BENCH_BODIES": str(warm), "BENCH_ACKS": str(warm) + ".acks"})
        warm_acks = read_acks(Path(str(warm) + ".acks"))
        warm_ok = sum(status == 200 for status, _, _ in warm_acks)
        warm_check = {"acknowledged": warm_ok, "non200": len(warm_acks) - warm_ok, "errors": errors_seen(warm_acks)}
        stop_if_failed("the warm-up", warm_check)

        db = CheckDB(database_url)
        wait_until_idle(db)
        settle(db, pgid, 0.0)
        idle_rate = idle_cpu_rate(pgid)
        http_load_started = datetime.now(UTC)
        deferred: dict[str, dict[str, Any]] = {}

        def measured_phase(name: str, env: dict[str, str]) -> dict[str, Any]:
            """One phase's wrk row, then (once the stored events are quiet) the wait for the deferred work it caused:
            its CPU above the idle rate is the phase's, added to the request path's in the "with deferred" figure;
            and the next phase starts with nothing left over."""
            row = run_wrk(hook_url, LUA_WEBHOOKS, s, c, pgid, env)
            cpu_end, wall_end = group_cpu_seconds(pgid), time.monotonic()
            queued = deferred_queue(db)
            wait_until_idle(db)
            tail = settle(db, pgid, idle_rate) | {"queued_at_end": queued}
            tail_wall = time.monotonic() - wall_end
            tail["deferred_cpu_s"] = max(0.0, group_cpu_seconds(pgid) - cpu_end - idle_rate * tail_wall)
            tail["wait_s"] = tail_wall
            deferred[name] = tail
            request_cpu = row["server_cpu_us_per_req"] * row["requests"] / 1e6
            row["server_cpu_us_per_req_with_deferred"] = (
                1e6 * (request_cpu + tail["deferred_cpu_s"]) / max(1, row["requests"])
            )
            return row

        phases = (
            ("(b) ignored type: verify + record", f"b{run}_", "ignored"),
            ("(c) checkout.session.completed: pay an order", f"c{run}_", "applied"),
        )
        sent: dict[str, list[bytes]] = {}
        order_of_event: dict[str, str] = {}
        for name, prefix, expected in phases:
            if expected == "applied":
                orders = insert_orders(account_id, prefix, count)
                reset_engine()
                bodies = checkout_events(prefix, orders)
                order_of_event = {f"evt_{prefix}{i:07d}": o for i, o in enumerate(orders)}
            else:
                bodies = customer_events(prefix, count)
            path = data_dir / f"{prefix}.bin"
            write_bodies(path, bodies, WEBHOOK_SECRET)
            acks_path = data_dir / f"{prefix}.acks"
            # After the load: deliveries wrk sent before it stopped may still be queued or committing, and the jobs
            # still have to do the deferred work these deliveries caused (see measured_phase).
            row = measured_phase(name, {"BENCH_BODIES": str(path), "BENCH_ACKS": str(acks_path)})
            acks = read_acks(acks_path)
            checks[name] = check_phase(db, prefix, acks, expected)
            checks[name]["wrk_requests"] = row["requests"]
            checks[name]["errors"] = errors_seen(acks)
            if expected == "applied":
                acked = {e for status, e, _ in acks if status == 200}
                checks[name] |= check_orders(db, prefix, order_of_event, acked)
            results[name] = row
            stop_if_failed(name, checks[name])
            by_id = {f"evt_{prefix}{i:07d}": body for i, body in enumerate(bodies)}
            sent[prefix] = [by_id[e] for status, e, _ in acks if status == 200]

        # (d) deliveries again of bodies already applied, re-signed now (Stripe signs each attempt), cycled; then the
        # same with (b)'s 1.6 KB bodies alone and (c)'s 4.9 KB ones alone (what the body's size costs a duplicate).
        b_sent, c_sent = sent.values()
        replays = (
            (
                "(d) duplicates of (b) and (c)",
                "dup",
                [body for pair in zip(b_sent, c_sent, strict=False) for body in pair],
            ),
            ("(d1) duplicates of (b) alone (1.6 KB bodies)", "dupb", b_sent),
            ("(d2) duplicates of (c) alone (4.9 KB bodies)", "dupc", c_sent),
        )
        for name, stem, replay in replays:
            before = db.execute("SELECT COUNT(*), SUM(deliveries) FROM stripe_event").fetchone()
            payments_before = db.execute("SELECT COUNT(*) FROM payment").fetchone()[0]
            path = data_dir / f"{stem}.bin"
            write_bodies(path, replay, WEBHOOK_SECRET)
            acks_path = data_dir / f"{stem}.acks"
            row = measured_phase(name, {"BENCH_BODIES": str(path), "BENCH_ACKS": str(acks_path), "BENCH_CYCLE": "1"})
            acks = read_acks(acks_path)
            after = db.execute("SELECT COUNT(*), SUM(deliveries) FROM stripe_event").fetchone()
            acked_dups = sum(1 for status, _, outcome in acks if status == 200)
            added_deliveries = after[1] - before[1]
            checks[name] = {
                "acknowledged": acked_dups,
                "wrong_outcome": sum(1 for status, _, o in acks if status == 200 and o != "duplicate"),
                "new_rows": after[0] - before[0],
                "deliveries_added": added_deliveries,
                "deliveries_not_counted": max(0, acked_dups - added_deliveries),
                "new_payments": db.execute("SELECT COUNT(*) FROM payment").fetchone()[0] - payments_before,
                "non200": sum(status != 200 for status, _, _ in acks),
                "errors": errors_seen(acks),
            }
            results[name] = row
            stop_if_failed(name, checks[name])
        rollup_log = rollup_runs(db, http_load_started)
        db.close()
    except PhaseFailed as failed:
        for row_name, row in results.items():
            print(f"{row_name}: {row['rps']:,.0f} req/s, p50 {row['p50_us'] / 1000:.1f} ms, non-2xx {row['non2xx']}")
        log = server.log.read_text(errors="replace") if server is not None else ""
        signs = {sign: log.count(sign) for sign in ("QueuePool limit", "Traceback", "skipped: maximum number")}
        print(
            f"\nSTOPPED: {failed}.\nThe later phases would replay what this one did not store, and count the "
            f"refusals as load. Server log: {', '.join(f'{n} x {sign!r}' for sign, n in signs.items())}. Data and "
            f"server log kept in {data_dir}; its tail:\n" + "\n".join(log.splitlines()[-30:]),
            file=sys.stderr,
        )
        return 1
    finally:
        if server is not None:
            server.stop()
        recorder.stop()
    http_seconds = time.monotonic() - run_started

    # --- in-process: the service alone, one thread, same database, server stopped ------------------------------------
    from sqlalchemy.engine import make_url

    from app.db import reset_engine
    from app.integrations.stripe import verify_webhook

    reset_engine()
    n = args.inprocess_events
    inproc: dict[str, dict[str, Any]] = {}
    inproc["ignored (customer.created)"] = inprocess_loop(account_public_id, customer_events(f"ib{run}_", n))
    inproc["ignored, 32 threads"] = inprocess_loop(account_public_id, customer_events(f"it{run}_", n), threads=32)
    orders = insert_orders(account_id, f"ic{run}_", n)
    inproc["checkout.session.completed"] = inprocess_loop(account_public_id, checkout_events(f"ic{run}_", orders))
    inproc["duplicate (checkout, again)"] = inprocess_loop(account_public_id, checkout_events(f"ic{run}_", orders))
    orders = insert_orders(account_id, f"ict{run}_", n)
    inproc["checkout.session.completed, 32 threads"] = inprocess_loop(
        account_public_id, checkout_events(f"ict{run}_", orders), threads=32
    )
    floor = {"ignored": raw_sql_floor(database_url, account_id, customer_events(f"fb{run}_", n))}
    orders = insert_orders(account_id, f"fc{run}_", n)
    floor["checkout.session.completed"] = raw_sql_floor(database_url, account_id, checkout_events(f"fc{run}_", orders))
    floor["duplicate"] = raw_sql_floor(database_url, account_id, checkout_events(f"fc{run}_", orders))
    sample = checkout_events(f"sig{run}_", ["ord_x"])[0]
    header = sign(sample, WEBHOOK_SECRET)
    pieces = {
        "verify_webhook (HMAC + tolerance + json.loads)": per_call_us(
            lambda: verify_webhook(sample, header, WEBHOOK_SECRET), 5_000
        ),
        "  of which json.loads of the 5 KB body": per_call_us(lambda: json.loads(sample), 5_000),
        "  of which bare HMAC-SHA256": per_call_us(
            lambda: hmac.new(WEBHOOK_SECRET.encode(), b"1." + sample, hashlib.sha256).hexdigest(), 5_000
        ),
        "threadpool hop (run_in_threadpool no-op)": threadpool_hop_us(),
    }
    if not given_url:
        pieces["SQLite 1-row commit, synchronous=FULL (app)"] = sqlite_commit_us(data_dir, "FULL")
        pieces["SQLite 1-row commit, synchronous=NORMAL"] = sqlite_commit_us(data_dir, "NORMAL")
    profile_orders = insert_orders(account_id, f"ip{run}_", 300)
    shares, top = profile_buckets(account_id, checkout_events(f"ip{run}_", profile_orders))

    ping = results["(a) GET /ping (no-op)"]
    b, c_row = results[phases[0][0]], results[phases[1][0]]
    met = min(b["rps"], c_row["rps"]) >= TARGET
    failures = sum(
        v for check in checks.values() for k, v in check.items() if k not in _INFORMATIONAL and isinstance(v, int)
    )
    exhausted = sum(int(r.get("exhausted", 0)) for r in results.values())
    # A phase that sent nothing (wrk's Lua init failing, say) is a failed run, not a clean one.
    idle = [name for name, row in results.items() if not row.get("requests")]
    failures += len(idle)
    if idle:
        print(f"phases that sent no request: {', '.join(idle)}")
    summary = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "server": "reflex run --env prod --backend-only (granian, 1 worker), "
        + (make_url(given_url).get_backend_name() if given_url else "SQLite WAL synchronous=FULL"),
        "pinned": {"server": args.server_cpus, "load": args.load_cpus},
        "load": f"wrk -t1 -c{args.connections}, {args.seconds} s per row",
        "results": results,
        "idle_cpu_pct": 100 * idle_rate,
        "deferred": deferred,
        "rollup_runs": rollup_log,
        "checks": checks,
        "inprocess": inproc,
        "raw_sql_floor": floor,
        "pieces_us": pieces,
        "profile_share_pct": shares,
        "profile_top_own_time": top,
        "target_met": met,
        "check_failures": failures,
        "http_part_seconds": http_seconds,
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"webhooks-{datetime.now(UTC):%Y%m%d-%H%M%S}.json").write_text(json.dumps(summary, indent=2))

    print(f"\n{summary['server']}; load {summary['load']}; machine cores: {summary['cores']}\n")
    print("| phase | req/s | p50 ms | p99 ms | vs /ping | server CPU | µs server CPU/req | wrk CPU | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, row in results.items():
        print(
            f"| {name} | {row['rps']:,.0f} | {row['p50_us'] / 1000:.1f} | {row['p99_us'] / 1000:.1f} | "
            f"{row['rps'] / ping['rps']:.0%} | {row['server_cpu_pct']:.0f} % | {row['server_cpu_us_per_req']:,.0f} | "
            f"{row['client_cpu_pct']:.0f} % | {row['non2xx']} |"
        )
    ping_cpu = ping["server_cpu_us_per_req"]
    print(
        f"\nServer CPU per request with the deferred work each webhook phase caused (the jobs' CPU, above the idle "
        f"{100 * idle_rate:.1f} %, until no dirty day or customer is left; the next phase starts with none):"
    )
    print(
        "| phase | queued when the load stopped | wait s | deferred CPU s | µs/req request path | µs/req with "
        "deferred | /ping's µs ÷ request path | /ping's µs ÷ with deferred |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, tail in deferred.items():
        row = results[name]
        queued = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in tail["queued_at_end"].items())
        print(
            f"| {name} | {queued} | {tail['wait_s']:.1f} | {tail['deferred_cpu_s']:.2f} | "
            f"{row['server_cpu_us_per_req']:,.0f} | {row['server_cpu_us_per_req_with_deferred']:,.0f} | "
            f"{ping_cpu / row['server_cpu_us_per_req']:.0%} | "
            f"{ping_cpu / row['server_cpu_us_per_req_with_deferred']:.0%} |"
        )
    print("update_rollups runs during the HTTP phases: " + ("; ".join(rollup_log) or "none"))
    print(f"\ntarget ≥ {TARGET:,}/s for (b) and (c): {'met' if met else 'not met'}")
    for name, check in checks.items():
        print(
            f"check {name}: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in check.items())
        )
    if exhausted:
        print(f"WARNING: {exhausted} phase(s) ran out of prepared bodies; their req/s is understated")
    print(
        "\nIn-process receive_webhook, no HTTP (same database, server stopped), one thread unless said (sequential "
        "calls are groups of one; 32 threads share the webhook writer's transactions):"
    )
    for name, row in inproc.items():
        print(
            f"  {name}: {row['per_s']:,.0f}/s ({row['us_per_call']:,.0f} µs/call, CPU {row['cpu_pct']:.0f} % = "
            f"{row['cpu_us_per_call']:,.0f} µs/call, "
            f"{row['sql_per_call']:.1f} SQL statements/call, p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms)"
        )
    print("Raw-SQL floor (bench sketch: verify_webhook + few plain statements, one commit per delivery):")
    for name, row in floor.items():
        print(f"  {name}: {row['per_s']:,.0f}/s ({row['us_per_call']:,.0f} µs/call) {row['outcomes']}")
    print("Pieces (µs per call):")
    for name, value in pieces.items():
        print(f"  {name}: {value:,.1f}")
    print("cProfile of checkout.session.completed (verify, then apply_event alone), own time by package:")
    for name, share in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {share:4.1f} %  {name}")
    print("  top own time:\n    " + "\n    ".join(top))
    print(f"\nchecks: {failures} failure(s); HTTP part took {http_seconds:.0f} s")
    if failures or exhausted:
        print(f"kept {data_dir} (server.log, *.acks) for inspection")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if failures == 0 and exhausted == 0 else 1


# Counts that describe the run rather than flag an error.
_INFORMATIONAL = {
    "acknowledged",
    "acknowledged_distinct",
    "stored_not_acknowledged",
    "wrk_requests",
    "orders_targeted",
    "orders_paid",
    "orders_paid_total",
    "payments_total",
    "deliveries_added",
}


if __name__ == "__main__":
    raise SystemExit(main())
