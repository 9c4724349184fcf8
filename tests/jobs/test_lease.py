"""The job lease across real processes on one database: one run at a time, renewal, takeover after a crash, once
per interval slot; and what staff see of it (leases, runs, filters, pages, runs abandoned by a dead holder)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from app.jobs.runner import JobSpec, run_job
from app.models import JobLease, JobRun, Role
from app.models.base import utcnow
from app.services import jobs
from app.services.errors import PermissionDenied, ValidationFailed
from app.services.permissions import Actor
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


def _slot_worker(
    name: str,
    holder: str,
    markers: Path,
    *,
    every: int,
    ttl: int,
    slots: int,
    period: float,
    phase: float,
    **more: float,
) -> subprocess.Popen[str]:
    options = [f"--{k.replace('_', '-')}={v}" for k, v in more.items()]
    command = [sys.executable, "-m", "tests.utils.lease_worker", "slots", name, holder, f"--every={every}"]
    command += [f"--ttl={ttl}", f"--slots={slots}", f"--period={period}", f"--phase={phase}", *options]
    return subprocess.Popen(
        [*command, f"--marker-dir={markers}"],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": get_settings().resolved_database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, killed as one by the test
    )


def _start_at_next_slot(markers: Path, holders: list[str], every: int) -> float:
    """Once every worker has imported the app, tell them all the same start: the next slot boundary, with a margin."""
    for holder in holders:
        _wait_for(markers / f"{holder}.ready", timeout=60)
    start = (int(time.time() + 0.3) // every + 1) * every
    (markers / "start.tmp").write_text(str(start))
    (markers / "start.tmp").replace(markers / "start")
    return float(start)


def _attempts(worker: subprocess.Popen[str], timeout: float) -> list[str]:
    out, err = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, err
    return [json.loads(line)["outcome"] for line in out.splitlines()]


def _slot(moment: datetime, every: int) -> int:
    return int(moment.timestamp()) // every


def _runs(db: Session, name: str) -> list[JobRun]:
    with Session(db.get_bind()) as session:
        return list(session.exec(select(JobRun).where(JobRun.job_name == name).order_by(col(JobRun.started_at))))


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
    # The successor marks the dead holder's run interrupted when it takes the lease.
    assert {(r.holder, r.outcome) for r in runs} == {("victim", "interrupted"), ("successor", "ok")}


def test_two_processes_run_a_once_per_interval_job_once_per_slot(db: Session, tmp_path: Path) -> None:
    """Two schedulers at different offsets and periods try every half second or so; each 2 s slot runs once."""
    every, slots = 2, 3
    first = _slot_worker("every2", "a", tmp_path, every=every, ttl=5, slots=slots, period=0.6, phase=0.0, work=0.3)
    second = _slot_worker("every2", "b", tmp_path, every=every, ttl=5, slots=slots, period=0.5, phase=0.25, work=0.3)
    try:
        start = _start_at_next_slot(tmp_path, ["a", "b"], every)
        outcomes = _attempts(first, 60) + _attempts(second, 60)
    finally:
        for worker in (first, second):
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
    runs = _runs(db, "every2")
    first_slot = int(start) // every
    assert [_slot(r.started_at, every) for r in runs] == list(range(first_slot, first_slot + slots))
    assert {r.outcome for r in runs} == {"ok"}
    # About 22 attempts in all: one ran per slot, every other one was refused.
    assert outcomes.count("ok") == slots and outcomes.count("skipped") == len(outcomes) - slots >= 3 * slots
    lease = db.get(JobLease, "every2")
    assert lease is not None and lease.due_at == jobs.slot_end(runs[-1].started_at, every)


def test_a_holder_killed_mid_slot_is_replaced_in_that_slot_after_its_lease_and_no_slot_runs_twice(
    db: Session, tmp_path: Path
) -> None:
    """The victim fires first in the first 3 s slot (0.55 s before the survivor's first try, a margin that holds on a
    loaded machine) and hangs there; it is killed. The survivor (trying every 0.25 s) is refused while the victim's
    1 s lease lasts, then runs that same slot, then each later slot once. (A lease shorter than the interval, as in
    production: 60 s lease, 300 s alert evaluation.)"""
    every, ttl, slots = 3, 1, 4
    victim = _slot_worker(
        "every3", "victim", tmp_path, every=every, ttl=ttl, slots=slots, period=every, phase=0.05, work=0.1, hang_run=1
    )
    survivor = _slot_worker(
        "every3", "survivor", tmp_path, every=every, ttl=ttl, slots=slots, period=0.25, phase=0.6, work=0.1
    )
    try:
        start = _start_at_next_slot(tmp_path, ["victim", "survivor"], every)
        _wait_for(tmp_path / "victim-1", timeout=every * 3)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = time.time()
        with Session(db.get_bind()) as session:
            lease = session.get(JobLease, "every3")
            assert lease is not None and lease.holder == "victim"
            dead_until = lease.expires_at
        outcomes = _attempts(survivor, 60)
    finally:
        for worker in (victim, survivor):
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
    first_slot = int(start) // every
    runs = [(r.holder, _slot(r.started_at, every), r.outcome, r.started_at) for r in _runs(db, "every3")]
    assert [run[:3] for run in runs] == [
        ("victim", first_slot, "interrupted"),  # killed: never completed its slot; marked by the survivor
        ("survivor", first_slot, "ok"),  # the victim's slot, once its lease expired
        ("survivor", first_slot + 1, "ok"),
        ("survivor", first_slot + 2, "ok"),
        ("survivor", first_slot + 3, "ok"),
    ]
    takeover = runs[1][3]
    assert dead_until <= takeover < dead_until + timedelta(seconds=1.5), (dead_until, takeover, killed_at)
    assert outcomes.count("ok") == slots  # the survivor ran every slot, the first one late


def test_failing_job_is_recorded_and_releases_the_lease(db: Session) -> None:
    def boom() -> str:
        raise RuntimeError("provider down")

    assert run_job(JobSpec("flaky", boom, 60), holder="h1", ttl_seconds=30) == "error"
    run = db.exec(select(JobRun).where(JobRun.job_name == "flaky")).one()
    assert run.outcome == "error" and "provider down" in run.detail
    assert run_job(JobSpec("flaky", lambda: "fine", 60), holder="h2", ttl_seconds=30) == "ok"
    assert [r.outcome for r in jobs.recent_runs(session=db, job_name="flaky")] == ["ok", "error"]


# --- what staff see (/admin/jobs) --------------------------------------------------------------------------------

STAFF = Actor(user_id=1, account_id=1, role=Role.VIEWER, is_staff=True)
OWNER = Actor(user_id=2, account_id=1, role=Role.OWNER)


def _add_runs(db: Session, job_name: str, outcomes: list[str]) -> None:
    start = utcnow() - timedelta(hours=1)
    for n, outcome in enumerate(outcomes):
        started = start + timedelta(seconds=n)
        finished = None if outcome == "running" else started + timedelta(milliseconds=250)
        db.add(JobRun(job_name=job_name, holder="h", started_at=started, finished_at=finished, outcome=outcome))
    db.commit()


def test_only_staff_see_leases_and_runs(db: Session) -> None:
    for call in (
        lambda: jobs.list_leases(session=db, actor=OWNER),
        lambda: jobs.list_runs(session=db, actor=OWNER),
        lambda: jobs.job_names(session=db, actor=OWNER),
    ):
        with pytest.raises(PermissionDenied, match="staff"):
            call()


def test_leases_say_who_holds_them_and_when_the_next_slot_is_due(db: Session) -> None:
    assert jobs.acquire_lease(session=db, name="busy", holder="p1", ttl_seconds=60)
    assert run_job(JobSpec("slotted", lambda: "done", 300, once_per_interval=True), holder="p2", ttl_seconds=30) == "ok"
    leases = {row.name: row for row in jobs.list_leases(session=db, actor=STAFF)}
    assert list(leases) == ["busy", "slotted"]
    assert leases["busy"].held and leases["busy"].holder == "p1" and leases["busy"].due_at is None
    slotted = leases["slotted"]
    assert not slotted.held and slotted.holder == "p2"
    assert slotted.due_at == jobs.slot_end(slotted.acquired_at, 300)
    assert jobs.job_names(session=db, actor=STAFF) == ["busy", "slotted"]


def test_runs_page_newest_first_through_the_cursor_with_filters(db: Session) -> None:
    _add_runs(db, "alpha", ["ok", "error", "ok", "ok", "lease_lost"])
    _add_runs(db, "beta", ["ok", "error"])
    first = jobs.list_runs(session=db, actor=STAFF, limit=3)
    assert first.total == 7 and len(first.rows) == 3 and first.next_cursor
    second = jobs.list_runs(session=db, actor=STAFF, limit=3, cursor=first.next_cursor)
    third = jobs.list_runs(session=db, actor=STAFF, limit=3, cursor=second.next_cursor)
    assert third.next_cursor is None
    every = [*first.rows, *second.rows, *third.rows]
    assert len({r.run_id for r in every}) == 7
    assert [r.started_at for r in every] == sorted((r.started_at for r in every), reverse=True)

    alpha_ok = jobs.list_runs(session=db, actor=STAFF, job_name="alpha", outcome="ok")
    assert alpha_ok.total == 3 and {(r.job_name, r.outcome) for r in alpha_ok.rows} == {("alpha", "ok")}
    assert alpha_ok.rows[0].duration_seconds == pytest.approx(0.25)
    errors = jobs.list_runs(session=db, actor=STAFF, outcome="error")
    assert sorted(r.job_name for r in errors.rows) == ["alpha", "beta"]
    assert jobs.list_runs(session=db, actor=STAFF, job_name="nope").total == 0

    with pytest.raises(ValidationFailed):
        jobs.list_runs(session=db, actor=STAFF, outcome="skipped")
    with pytest.raises(ValidationFailed):
        jobs.list_runs(session=db, actor=STAFF, cursor="not-a-cursor")
    # The runner's own reader is unchanged: newest recorded first.
    assert [r.outcome for r in jobs.recent_runs(session=db, job_name="beta")] == ["error", "ok"]


def test_a_run_whose_holder_lost_the_lease_is_abandoned_not_running(db: Session) -> None:
    # The victim took the lease and started, then died: its lease expired and another process took over.
    assert jobs.acquire_lease(session=db, name="nightly", holder="victim", ttl_seconds=0)
    jobs.start_run(session=db, job_name="nightly", holder="victim")
    [row] = jobs.list_runs(session=db, actor=STAFF).rows
    assert row.outcome == "running" and row.abandoned and row.duration_seconds is None
    # A live holder's run is just running.
    assert jobs.acquire_lease(session=db, name="nightly", holder="alive", ttl_seconds=60)
    jobs.start_run(session=db, job_name="nightly", holder="alive")
    rows = {r.holder: r for r in jobs.list_runs(session=db, actor=STAFF, outcome="running").rows}
    assert rows["victim"].abandoned and not rows["alive"].abandoned
    # A job without a lease (per-process work) is never called abandoned.
    jobs.start_run(session=db, job_name="flush", holder="x")
    assert not jobs.list_runs(session=db, actor=STAFF, job_name="flush").rows[0].abandoned
