"""The process's runtime: one owner of the in-memory parts, started per role, fresh in a forked child and per test."""

from __future__ import annotations

import os

import pytest
from sqlmodel import Session

from app import runtime
from app.runtime import ProcessRole
from app.services import ingest
from app.services.errors import RateLimited
from app.services.ingest import IngestContext, Source
from app.services.ratelimit import hit
from app.settings import get_settings
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import make_owner

# Per-process work (this process's counters) and the jobs one process runs for the cluster.
FLUSHES = {"flush_key_usage", "flush_api_usage"}
SHARED_JOBS = {
    "purge_sessions",
    "evaluate_alerts",
    "derive_visits",
    "update_rollups",
    "send_conversions",
    "catch_up_stripe",
    "sync_ad_reports",
}


def test_the_runtime_is_one_per_process_until_reset(db: Session) -> None:
    first = runtime.current()
    assert runtime.current() is first
    first.api_usage.count(1, 2, "POST /api/v1/events", 200)
    hit("1/minute", "runtime-test", message="limit {limit}")
    with pytest.raises(RateLimited):
        hit("1/minute", "runtime-test", message="limit {limit}")

    runtime.reset_for_tests()

    fresh = runtime.current()
    assert fresh is not first
    assert fresh.api_usage.pending() == {}
    hit("1/minute", "runtime-test", message="limit {limit}")  # a fresh budget


def test_stop_drains_the_writer_and_a_second_start_is_refused(db: Session) -> None:
    account, _, _ = make_owner(db)
    db.commit()
    started = runtime.start(ProcessRole.CLI)
    try:
        assert started.job_runner is None  # a command runs nothing in the background
        with pytest.raises(RuntimeError, match="already runs as cli"):
            runtime.start(ProcessRole.WEB)
        ctx = IngestContext(account_id=account.id, source=Source.BROWSER, user_agent=DESKTOP_UA)
        _, rows = ingest.prepare([event()], ctx)
        future = ingest.submit(account.id, rows)
    finally:
        runtime.stop()
    assert future.done() and future.result() == (1, 0)
    assert started.role is None
    runtime.start(ProcessRole.CLI)  # stopped: it may start again
    runtime.stop()


@pytest.mark.parametrize(
    ("role", "jobs_enabled", "web_runs_jobs", "expected"),
    [
        (ProcessRole.CLI, True, True, set()),
        (ProcessRole.WEB, False, True, set()),
        (ProcessRole.API, False, True, set()),
        (ProcessRole.API, True, True, FLUSHES),
        (ProcessRole.WEB, True, True, FLUSHES | SHARED_JOBS),
        # a cluster's web process: its own counters only, the jobs process runs the rest
        (ProcessRole.WEB, True, False, FLUSHES),
        (ProcessRole.API, True, False, FLUSHES),
        (ProcessRole.JOBS, False, False, FLUSHES | SHARED_JOBS),
    ],
)
def test_each_role_runs_its_jobs(
    monkeypatch: pytest.MonkeyPatch, role: ProcessRole, jobs_enabled: bool, web_runs_jobs: bool, expected: set[str]
) -> None:
    monkeypatch.setenv("JOBS_ENABLED", "true" if jobs_enabled else "false")
    monkeypatch.setenv("WEB_RUNS_JOBS", "true" if web_runs_jobs else "false")
    get_settings.cache_clear()
    try:
        assert {spec.name for spec in runtime.jobs_for(role)} == expected
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_forked_worker_does_not_inherit_its_parents_counts(db: Session) -> None:
    runtime.current().api_usage.count(1, 2, "POST /api/v1/events", 200)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it would flush, then leave at once
        try:
            os.write(write, str(len(runtime.current().api_usage.pending())).encode())
        finally:
            os._exit(0)
    os.close(write)
    child_pending = os.read(read, 16).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child_pending == "0"
    assert len(runtime.current().api_usage.pending()) == 1  # the parent's own counts are kept
