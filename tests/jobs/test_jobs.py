from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import Session, select

from app.jobs.flush_key_usage import flush_key_usage
from app.jobs.purge_sessions import purge_sessions
from app.jobs.runner import JobRunner, JobSpec
from app.models import ApiKey, AuthSession, JobRun
from app.models.base import utcnow
from app.services import accounts, keys
from tests.utils.factories import make_owner


def test_purge_sessions_deletes_only_long_ended_ones(db: Session) -> None:
    _, user, _ = make_owner(db)
    live = accounts.start_session(session=db, user=user)
    accounts.start_session(session=db, user=user)
    db.commit()
    old = db.exec(select(AuthSession)).all()[1]
    old.expires_at = utcnow() - timedelta(days=31)
    db.add(old)
    db.commit()
    assert purge_sessions() == "1 session(s) deleted"
    assert accounts.resolve_session(session=db, token=live) is not None


def test_flush_key_usage_job_writes_pending_times(db: Session) -> None:
    _, _, owner = make_owner(db)
    created = keys.create_key(session=db, actor=owner, kind="secret")
    db.commit()
    keys.authenticate_secret_key(session=db, raw=created.plaintext)
    assert flush_key_usage() == "1 key(s) updated"
    row = db.exec(select(ApiKey)).one()
    db.refresh(row)
    assert row.last_used_at is not None


def test_runner_schedules_jobs_and_flushes_per_process_work_on_stop(db: Session) -> None:
    ran = threading.Event()
    flushed: list[str] = []

    def tick() -> str:
        ran.set()
        return "tick"

    def flush() -> str:
        flushed.append("x")
        return "flushed"

    runner = JobRunner([JobSpec("tick", tick, 1), JobSpec("flush", flush, 3600, leased=False)])
    runner.start()
    try:
        assert ran.wait(timeout=10)
    finally:
        runner.stop()
    assert flushed  # the final flush on shutdown
    outcomes = {r.job_name: r.outcome for r in db.exec(select(JobRun)).all()}
    assert outcomes.get("tick") == "ok" and outcomes.get("flush") == "ok"
