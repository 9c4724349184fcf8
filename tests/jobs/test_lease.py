"""The job lease across real processes on one database: one run at a time, renewal, takeover after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlmodel import Session, select

from app.jobs.runner import JobSpec, run_job
from app.models import JobLease, JobRun
from app.services import jobs
from app.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


def _worker(name: str, holder: str, ttl: int, sleep: float, marker: Path) -> subprocess.Popen[str]:
    env = os.environ | {"DATABASE_URL": get_settings().resolved_database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.utils.lease_worker", name, holder, str(ttl), str(sleep), str(marker)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_lease_is_exclusive_and_reentrant_for_its_holder(db: Session) -> None:
    assert jobs.acquire_lease(session=db, name="j", holder="a", ttl_seconds=60)
    assert not jobs.acquire_lease(session=db, name="j", holder="b", ttl_seconds=60)
    assert jobs.acquire_lease(session=db, name="j", holder="a", ttl_seconds=60)
    assert jobs.renew_lease(session=db, name="j", holder="a", ttl_seconds=60)
    assert not jobs.renew_lease(session=db, name="j", holder="b", ttl_seconds=60)
    jobs.release_lease(session=db, name="j", holder="a")
    assert jobs.acquire_lease(session=db, name="j", holder="b", ttl_seconds=60)


def test_expired_lease_is_taken_over(db: Session) -> None:
    assert jobs.acquire_lease(session=db, name="j", holder="dead", ttl_seconds=0)
    assert jobs.acquire_lease(session=db, name="j", holder="alive", ttl_seconds=60)
    assert db.get(JobLease, "j").holder == "alive"  # type: ignore[union-attr]


def test_two_processes_run_a_job_once(db: Session, tmp_path: Path) -> None:
    first = _worker("nightly", "proc-1", 30, 1.5, tmp_path / "m1")
    second = _worker("nightly", "proc-2", 30, 1.5, tmp_path / "m2")
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in (first, second))
    assert outcomes == ["ok", "skipped"], outcomes
    runs = db.exec(select(JobRun).where(JobRun.job_name == "nightly")).all()
    assert len(runs) == 1 and runs[0].outcome == "ok" and runs[0].finished_at is not None


def test_a_long_run_renews_its_lease_and_a_killed_holder_is_replaced(db: Session, tmp_path: Path) -> None:
    ttl = 2
    holder = _worker("rollup", "victim", ttl, 60, tmp_path / "victim")
    try:
        _wait_for(tmp_path / "victim")
        # Past the first lease's expiry the holder is still renewing: others are refused.
        time.sleep(ttl + 1)
        assert run_job(JobSpec("rollup", lambda: "x", 60), holder="intruder", ttl_seconds=ttl) == "skipped"
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    # The dead holder stops renewing; once its lease expires another process takes over.
    deadline = time.monotonic() + ttl * 3
    outcome = "skipped"
    while outcome == "skipped" and time.monotonic() < deadline:
        time.sleep(0.25)
        outcome = run_job(JobSpec("rollup", lambda: "took over", 60), holder="successor", ttl_seconds=ttl)
    assert outcome == "ok"
    runs = db.exec(select(JobRun).where(JobRun.job_name == "rollup")).all()
    assert {(r.holder, r.outcome) for r in runs} == {("victim", "running"), ("successor", "ok")}


def test_failing_job_is_recorded_and_releases_the_lease(db: Session) -> None:
    def boom() -> str:
        raise RuntimeError("provider down")

    assert run_job(JobSpec("flaky", boom, 60), holder="h1", ttl_seconds=30) == "error"
    run = db.exec(select(JobRun).where(JobRun.job_name == "flaky")).one()
    assert run.outcome == "error" and "provider down" in run.detail
    assert run_job(JobSpec("flaky", lambda: "fine", 60), holder="h2", ttl_seconds=30) == "ok"
    assert [r.outcome for r in jobs.recent_runs(session=db, job_name="flaky")] == ["ok", "error"]
