"""Cluster benchmark: ingest and paying webhooks on the embedded process and on the cluster with 1 and 2 api processes.

In one run, each row under the same ``wrk -t1 -cN`` load for ``--seconds``:

- the embedded single process (``reflex run --env prod --backend-only``, SQLite), as bench/ingest.py starts it;
- the cluster of scripts/cluster.sh on bench ports of its own (PostgreSQL, Redis, nginx; the api roles only, no web
  and no jobs) through nginx, first with one api process (``CLUSTER_ROLES=api1``, nginx's upstream that one), then
  with two (``api1 api2``);

and per configuration: the ceiling ``GET /api/v1/health`` (the api stack and one ``SELECT 1``), single-event
``POST /api/v1/events``, 100-event batches (a browser's batch: one visitor), and ``checkout.session.completed``
webhooks each paying its own order. Each row is printed beside the ceiling of its configuration as a ratio. After
each row the database is checked: every acknowledged event stored, none twice; every acknowledged webhook stored once
with the outcome it answered and its order paid once (bench/webhooks.py's checks).

The machine has 2 cores, so each cluster configuration runs under two pinnings (``taskset``):

- ``servers on core 1``: every server process (api, nginx, PostgreSQL, Redis) on core 1, wrk on core 0. Two api
  processes then share one core: this shows their overhead, not scaling;
- ``api a core each``: api1 on core 0 and api2 on core 1 (with one api: on core 1), nginx, PostgreSQL, Redis and wrk
  free to run on both. This is the scaling the machine can show: the other servers and the load generator take
  their share of the same 2 cores.

Scaling efficiency = rate with 2 api / (2 × rate with 1 api); the goal is a speedup of 1.5 for single-event ingest.
Each row also says where the CPU went (api, PostgreSQL, nginx, Redis, wrk, and ``other``: the rest of the machine's
busy time, e.g. other people's jobs), from /proc, as the profile of what the 2 cores are spent on.

Usage: ``.venv/bin/python bench/cluster.py [--seconds 4] [--connections 32]``. Needs ``wrk`` and ``taskset``, and
what scripts/cluster.sh installs (postgresql, redis-server, nginx). Writes a JSON result to bench/results/ and
prints Markdown tables. Everything it starts is stopped at the end (the cluster with scripts/cluster.sh stop, its
PostgreSQL data directory dropped).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import webhooks as wh  # noqa: E402
from bench.ingest import LUA_EVENTS, ORIGIN, UA  # noqa: E402
from tests.utils.server import PYTHON, SECRET_KEY, free_port, server_env, start_server  # noqa: E402
from tests.utils.stripe_fakes import StripeRecorder  # noqa: E402

PORTS = {"PORT": 8290, "WEB_PORT": 8291, "API1_PORT": 8292, "API2_PORT": 8293, "JOBS_OPS_PORT": 8294,
         "REDIS_PORT": 6392, "PG_PORT": 55435}  # fmt: skip
PG_DB = "paidsignal_bench"
PG_DIR = f"/tmp/paidsignal-bench-cluster-postgres-{PORTS['PG_PORT']}"
PG_URL = f"postgresql+psycopg://paidsignal:paidsignal@127.0.0.1:{PORTS['PG_PORT']}/{PG_DB}"
GOAL_SPEEDUP = 1.5
CLK_TCK = os.sysconf("SC_CLK_TCK")
BOTH = {0, 1}


def load() -> str:
    """The load averages over 1, 5 and 15 minutes."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- processes, pinning and where the CPU goes ----------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds so far) of every process."""
    return {pid: (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK) for pid, fields in wh.proc_stats()}


def tree(root: int, processes: dict[int, tuple[int, float]] | None = None) -> list[int]:
    """``root`` and all its descendants."""
    processes = processes if processes is not None else _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in processes:
            found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def pin(root: int, cpus: set[int]) -> None:
    """Every thread of ``root``'s process tree on ``cpus`` (children forked later inherit it)."""
    for pid in tree(root):
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), cpus)


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores) so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK  # minus idle and iowait


def cpu_by_component(roots: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    """component -> {pid: CPU seconds so far} over the process trees of its roots."""
    processes = _processes()
    return {name: {p: processes[p][1] for r in pids for p in tree(r, processes)} for name, pids in roots.items()}


def cpu_spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds per component between two snapshots: a process that exited meanwhile (a PostgreSQL backend whose
    connection closed) drops out, so it cannot make the difference negative; one that started counts in full."""
    return {
        name: sum(max(0.0, cpu - before.get(name, {}).get(pid, 0.0)) for pid, cpu in pids.items())
        for name, pids in after.items()
    }


WRITER_METRICS = ("paidsignal_ingest_group_requests_count", "paidsignal_ingest_group_requests_sum",
                  "paidsignal_ingest_commit_seconds_count", "paidsignal_ingest_commit_seconds_sum")  # fmt: skip


def writer_totals(ports: list[int]) -> dict[str, float]:
    """The ingest writers' group and commit counters, summed over the api processes (their Prometheus metrics)."""
    import urllib.request

    totals = dict.fromkeys(WRITER_METRICS, 0.0)
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_ops/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                name, _, value = line.partition(" ")
                if name in totals:
                    totals[name] += float(value)
    return totals


# --- databases --------------------------------------------------------------------------------------------------------


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Db(Protocol):
    def execute(self, sql: str, params: Any = ...) -> Cursor: ...


class Postgres:
    """bench/webhooks.py's checks are written for sqlite3 (``?`` placeholders): the same queries on PostgreSQL."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)

    def execute(self, sql: str, params: Any = ()) -> Cursor:
        return self.connection.execute(sql.replace("?", "%s"), params)

    def close(self) -> None:
        self.connection.close()


def use_database(env: dict[str, str]) -> None:
    """This process's app.db on the database of ``env`` (setting up accounts and orders)."""
    from app.db import reset_engine
    from app.settings import get_settings

    os.environ.update(env)
    if "DATABASE_URL" not in env:
        os.environ.pop("DATABASE_URL", None)
    get_settings.cache_clear()
    reset_engine()


def wait_stable(read: Callable[[], Any], quiet_s: float = 1.0, limit_s: float = 60.0) -> None:
    last, changed, started = None, time.monotonic(), time.monotonic()
    while time.monotonic() - started < limit_s:
        now = read()
        if now != last:
            last, changed = now, time.monotonic()
        elif time.monotonic() - changed >= quiet_s:
            return
        time.sleep(0.2)


# --- one configuration ------------------------------------------------------------------------------------------------


@dataclass
class Target:
    """Where the load goes and what to pin and count."""

    name: str
    base: str
    db: Db
    account_id: int
    account_public_id: str
    publishable: str
    roots: Callable[[], dict[str, list[int]]]  # component -> root PIDs
    pin_servers: Callable[[], None]
    wrk_cpus: str | None
    ops_ports: list[int] = field(default_factory=list)  # api processes' /_ops/metrics (the cluster only)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


def measure(
    target: Target, row_name: str, url: str, script: str, args: argparse.Namespace, env: dict[str, str]
) -> dict[str, Any]:
    target.pin_servers()  # PostgreSQL backends and nginx workers forked since the last row
    roots = target.roots()
    writer_before = writer_totals(target.ops_ports)
    before, busy_before = cpu_by_component(roots), machine_busy()
    row = wh.run_wrk(url, script, args.seconds, args.connections, None, env, cpus=target.wrk_cpus)
    after, busy = cpu_by_component(roots), machine_busy() - busy_before
    writer = {k: v - writer_before[k] for k, v in writer_totals(target.ops_ports).items()}
    if groups := writer["paidsignal_ingest_group_requests_count"]:
        # How many requests each of the ingest writers' transactions carried, and what one cost.
        row["writer"] = {
            "groups": groups,
            "requests_per_group": writer["paidsignal_ingest_group_requests_sum"] / groups,
            "commit_ms": 1e3
            * writer["paidsignal_ingest_commit_seconds_sum"]
            / max(1.0, writer["paidsignal_ingest_commit_seconds_count"]),
        }
    wall = row["duration_us"] / 1e6
    spent = cpu_spent(before, after)
    spent["wrk"] = row["client_cpu_pct"] / 100 * wall
    spent["other"] = max(0.0, busy - sum(spent.values()))
    row["cpu_pct"] = {name: 100 * seconds / wall for name, seconds in spent.items()}  # 200 % = both cores
    row["cpu_us_per_req"] = {name: 1e6 * seconds / max(1, row["requests"]) for name, seconds in spent.items()}
    # What one core of server processes serves: independent of how much of the machine others took meanwhile.
    servers = sum(seconds for name, seconds in spent.items() if name not in ("wrk", "other"))
    row["rps_per_server_core"] = row["requests"] / servers if servers else 0.0
    row["load"] = load()
    target.rows[row_name] = row
    return row


def run_target(target: Target, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """The four rows of one configuration, each checked against the database."""
    common = {"BENCH_ORIGIN": ORIGIN, "BENCH_UA": UA}
    target.pin_servers()
    wh.run_wrk(f"{target.base}/api/v1/health", "", 1, args.connections, None, common, cpus=target.wrk_cpus)  # warm
    ceiling = measure(target, "ceiling: GET /api/v1/health", f"{target.base}/api/v1/health", "", args, common)
    checks: dict[str, dict[str, Any]] = {}
    events_url = f"{target.base}/api/v1/events?key={target.publishable}"
    for name, batch in (("ingest x1", 1), ("ingest x100", 100)):
        prefix = f"{name[-4:].strip()}-{time.time_ns()}"
        extra = common | {"BENCH_BATCH": str(batch), "BENCH_PREFIX": prefix, "BENCH_ONE_VISITOR": "1"}
        row = measure(target, name, events_url, LUA_EVENTS, args, extra)
        row["events_per_s"] = row["rps"] * batch
        acked = (row["requests"] - row["non2xx"]) * batch

        def counts(p: str = prefix) -> tuple[int, int]:
            found = target.db.execute(
                "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM event WHERE account_id = ? AND event_id LIKE ?",
                (target.account_id, f"{p}-%"),
            ).fetchone()
            return int(found[0]), int(found[1])

        wait_stable(counts)  # answers wrk did not wait for may still be committing
        stored, distinct = counts()
        checks[name] = {
            "acknowledged": acked,
            "stored": stored,
            "missing": max(0, acked - stored),
            "stored_twice": stored - distinct,
            "non200": int(row["non2xx"]),
        }
    # Paying webhooks: one order each, as many as single-event ingest could have answered and more.
    name, prefix = "paying webhooks", f"c{time.time_ns() % 10**12}_"
    count = int(target.rows["ingest x1"]["rps"] * args.seconds * 1.5) + 500
    orders = wh.insert_orders(target.account_id, prefix, count)
    from app.db import reset_engine

    reset_engine()  # no pooled connection of ours while the servers write
    bodies, acks_path = tmp / f"{prefix}.bin", tmp / f"{prefix}.acks"
    wh.write_bodies(bodies, wh.checkout_events(prefix, orders), wh.WEBHOOK_SECRET)
    hook_url = f"{target.base}/api/v1/stripe/webhook/{target.account_public_id}"
    row = measure(
        target, name, hook_url, wh.LUA_WEBHOOKS, args, {"BENCH_BODIES": str(bodies), "BENCH_ACKS": str(acks_path)}
    )
    wh.wait_until_idle(target.db)
    acks = wh.read_acks(acks_path)
    check = wh.check_phase(target.db, prefix, acks, "applied")
    acked = {e for s, e, _ in acks if s == 200}
    order_of_event = {f"evt_{prefix}{i:07d}": o for i, o in enumerate(orders)}
    check |= wh.check_orders(target.db, prefix, order_of_event, acked)
    check["errors"] = wh.errors_seen(acks)
    checks[name] = check
    bodies.unlink()
    for row_name, row in target.rows.items():
        row["vs_ceiling"] = row["rps"] / ceiling["rps"]
        if row_name != "ceiling: GET /api/v1/health":
            row["check"] = checks[row_name]
    return {"rows": target.rows}


def failures_in(check: dict[str, Any]) -> int:
    informational = wh._INFORMATIONAL | {"stored"}
    return sum(v for k, v in check.items() if k not in informational and isinstance(v, int))


# --- the cluster --------------------------------------------------------------------------------------------------


def cluster_env(base_env: dict[str, str], directory: Path, roles: str, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in base_env.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL", "DATA_DIR", "PUBLIC_URL")
    }
    env.update({name: str(port) for name, port in PORTS.items()})
    env.update({"CLUSTER_DIR": str(directory), "PG_DB": PG_DB, "PG_DIR": PG_DIR, "CLUSTER_ROLES": roles})
    if roles == "api1":
        env["API2_PORT"] = env["API1_PORT"]  # nginx's upstream: the one api process (its two lines the same)
    env.update(extra)
    return env


def script(command: str, env: dict[str, str]) -> None:
    done = subprocess.run(["bash", "scripts/cluster.sh", command], cwd=ROOT, env=env, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/cluster.sh {command} exited with {done.returncode}")


def pid_file(path: Path) -> int:
    return int(path.read_text().split()[0])


def api_main(port: int) -> int:
    """The granian main process serving ``port`` (the parent of the worker that answers /_ops/live)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_ops/live", timeout=5) as response:
        worker = int(json.load(response)["pid"])
    return int(Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[-1].split()[1])


@contextlib.contextmanager
def cluster(env: dict[str, str]) -> Iterator[None]:
    try:
        script("start", env)
        yield
    finally:
        with contextlib.suppress(Exception):
            script("stop", env)


def cluster_targets(directory: Path, db: Db, account: tuple[int, str, str], apis: int) -> list[Target]:
    ports = [PORTS["API1_PORT"], PORTS["API2_PORT"]][:apis]
    mains = [api_main(port) for port in ports]
    others = {
        "postgres": [pid_file(Path(PG_DIR) / "data" / "postmaster.pid")],
        "nginx": [pid_file(directory / "nginx" / "nginx.pid")],
        "redis": [pid_file(directory / "redis.pid")],
    }
    honcho = pid_file(directory / "honcho.pid")

    def roots() -> dict[str, list[int]]:
        return {"api": mains} | others

    def servers_on_core_1() -> None:
        for pid in [honcho, *mains, *(p for pids in others.values() for p in pids)]:
            pin(pid, {1})

    def api_a_core_each() -> None:
        for pid in [honcho, *(p for pids in others.values() for p in pids)]:
            pin(pid, BOTH)
        for core, pid in zip([1] if apis == 1 else [0, 1], mains, strict=True):
            pin(pid, {core})

    label = f"{apis} api"
    return [
        Target(
            f"cluster, {label}, servers on core 1",
            f"http://127.0.0.1:{PORTS['PORT']}",
            db,
            *account,
            roots,
            servers_on_core_1,
            "0",
            ports,
        ),
        Target(
            f"cluster, {label}, api a core each",
            f"http://127.0.0.1:{PORTS['PORT']}",
            db,
            *account,
            roots,
            api_a_core_each,
            None,
            ports,
        ),
    ]


# --- main -------------------------------------------------------------------------------------------------------------


def setup_account(env: dict[str, str]) -> tuple[int, str, str]:
    """The bench shop on the database of ``env``: account, Stripe connected (the recorder), a publishable key."""
    cli_env = env | {"PAIDSIGNAL_ENV": "development", "PASSWORD_HASH_PROFILE": "fast"}

    def cli(*args: str) -> str:
        return subprocess.run(
            [PYTHON, "-m", "app.cli", *args], cwd=ROOT, env=cli_env, check=True, capture_output=True, text=True
        ).stdout

    cli("create-account", "--name", "Bench shop", "--email", "bench@example.com", "--password", "bench-pass-123")
    key = cli("create-key", "--account", "bench-shop", "--kind", "publishable", "--origin", ORIGIN).strip()
    use_database(env)
    account_id, account_public_id = wh.connect_account()
    from app.db import reset_engine

    reset_engine()
    return account_id, account_public_id, key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            print(f"{tool} is missing (apt-get install -y wrk util-linux)", file=sys.stderr)
            return 2
    if os.cpu_count() != 2:
        print(f"note: the pinnings assume 2 cores (cores 0 and 1); this machine has {os.cpu_count()}", file=sys.stderr)

    started = time.monotonic()
    load_start = load()
    base_env = dict(os.environ)
    tmp = Path(tempfile.mkdtemp(prefix="paidsignal-bench-cluster-"))
    recorder = StripeRecorder(display_name="Bench shop").start()
    common = {
        "STRIPE_API_BASE": recorder.url,
        "INGEST_RATE_LIMIT": "1000000/second",
        "SECRET_KEY": SECRET_KEY,
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
    }
    results: dict[str, dict[str, Any]] = {}
    try:
        # The embedded single process, SQLite, pinned to core 1; wrk on core 0.
        port = free_port()
        data = tmp / "embedded"
        data.mkdir()
        env = server_env(port, data, **common)
        from tests.utils.server import migrate

        migrate(env)
        account = setup_account(env)
        server = start_server(port, data, env, backend_only=True, timeout=120)
        try:
            db = sqlite3.connect(data / "paidsignal.db", isolation_level=None)
            target = Target(
                "embedded, 1 process on core 1",
                f"http://127.0.0.1:{port}",
                db,
                *account,
                lambda: {"server": [server.process.pid]},
                lambda: pin(server.process.pid, {1}),
                "0",
            )
            results[target.name] = run_target(target, args, tmp)
            db.close()
        finally:
            server.stop()

        # The cluster: first one api process, then two; the same PostgreSQL, Redis and nginx (reloaded).
        directory = tmp / "cluster"
        env1 = cluster_env(base_env, directory, "api1", common)
        with cluster(env1):
            pg = Postgres(PG_URL)
            account = setup_account(env1 | {"DATABASE_URL": PG_URL, "DATA_DIR": str(directory / "data")})
            for apis, roles in ((1, "api1"), (2, "api1 api2")):
                if apis == 2:
                    script("stop-roles", env1)
                    script("start", cluster_env(base_env, directory, roles, common))
                for target in cluster_targets(directory, pg, account, apis):
                    results[target.name] = run_target(target, args, tmp)
            pg.close()
        subprocess.run(["bash", "scripts/pg.sh", "drop"], cwd=ROOT, env=env1, check=False, capture_output=True)
    finally:
        recorder.stop()
    load_end = load()
    report(results, args, load_start, load_end, time.monotonic() - started)
    failures = sum(failures_in(row["check"]) for r in results.values() for row in r["rows"].values() if "check" in row)
    exhausted = sum(int(row.get("exhausted", 0)) for r in results.values() for row in r["rows"].values())
    if failures or exhausted:
        print(f"checks: {failures} failure(s), {exhausted} row(s) ran out of bodies; kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if failures == 0 and exhausted == 0 else 1


def report(
    results: dict[str, dict[str, Any]], args: argparse.Namespace, load_start: str, load_end: str, took: float
) -> None:
    print(
        f"\nwrk -t1 -c{args.connections}, {args.seconds} s per row; {os.cpu_count()} cores; "
        f"load average (1, 5, 15 min) at start {load_start}, at end {load_end}; the run took {took:.0f} s\n"
    )
    print(
        "| configuration | row | req/s | events/s | vs ceiling | p99 ms | req/s per server core "
        "| CPU % (200 = both cores) | load 1 min |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for config, result in results.items():
        for name, row in result["rows"].items():
            events = f"{row['events_per_s']:,.0f}" if "events_per_s" in row else "–"
            cpu = ", ".join(f"{k} {v:.0f}" for k, v in row["cpu_pct"].items() if v >= 0.5)
            print(
                f"| {config} | {name} | {row['rps']:,.0f} | {events} | {row['vs_ceiling']:.0%} | "
                f"{row['p99_us'] / 1000:.0f} | {row['rps_per_server_core']:,.0f} | {cpu} | {row['load'].split()[0]} |"
            )
    print("\nScaling, 2 api processes vs 1 (speedup; efficiency = speedup / 2):")
    scaling = {}
    for pinning in ("servers on core 1", "api a core each"):
        one, two = results.get(f"cluster, 1 api, {pinning}"), results.get(f"cluster, 2 api, {pinning}")
        if not (one and two):
            continue
        for name in two["rows"]:
            speedup = two["rows"][name]["rps"] / one["rows"][name]["rps"]
            scaling[f"{pinning}: {name}"] = speedup
            goal = ""
            if name == "ingest x1" and pinning == "api a core each":
                goal = f" (goal ≥ {GOAL_SPEEDUP}×: {'met' if speedup >= GOAL_SPEEDUP else 'not met'})"
            api_cost = (one["rows"][name]["cpu_us_per_req"]["api"], two["rows"][name]["cpu_us_per_req"]["api"])
            print(
                f"  {pinning}, {name}: {speedup:.2f}×, efficiency {speedup / 2:.0%}{goal}; api CPU per request "
                f"{api_cost[0]:,.0f} µs with 1, {api_cost[1]:,.0f} µs with 2"
            )
    print("\nCPU µs per request by component (where the cores go):")
    for config, result in results.items():
        for name, row in result["rows"].items():
            if name.startswith("ingest") or name == "paying webhooks":
                cpu = ", ".join(f"{k} {v:,.0f}" for k, v in row["cpu_us_per_req"].items() if v >= 1)
                writer = row.get("writer")
                if writer and name.startswith("ingest"):
                    cpu += (
                        f"; ingest writer: {writer['groups']:,.0f} transactions of {writer['requests_per_group']:.1f}"
                        f" requests, {writer['commit_ms']:.1f} ms each"
                    )
                print(f"  {config}, {name}: {cpu}")
    print("\nChecks (every acknowledged item, after the load):")
    for config, result in results.items():
        for name, row in result["rows"].items():
            if "check" in row:
                check = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in row["check"].items())
                print(f"  {config}, {name}: {check}")
    summary = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_start": load_start,
        "load_end": load_end,
        "seconds": args.seconds,
        "connections": args.connections,
        "results": results,
        "speedup": scaling,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"cluster-{datetime.now(UTC):%Y%m%d-%H%M%S}.json").write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    raise SystemExit(main())
