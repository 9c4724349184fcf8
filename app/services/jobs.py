"""Database leases so a job runs in one process at a time, and the record of every run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.models import AuthSession, JobLease, JobRun
from app.models.base import utcnow


@dataclass(frozen=True)
class JobRunRow:
    job_name: str
    holder: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    detail: str


def acquire_lease(*, session: Session, name: str, holder: str, ttl_seconds: int) -> bool:
    """Take the lease when it is free, expired or already ours. Commits, so other processes see it at once."""
    now = utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    taken = session.execute(
        update(JobLease)
        .where(col(JobLease.name) == name)
        .where((col(JobLease.expires_at) <= now) | (col(JobLease.holder) == holder))
        .values(holder=holder, acquired_at=now, expires_at=expires)
    )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        session.commit()
        return True
    session.commit()
    if session.get(JobLease, name) is not None:
        return False
    try:
        session.execute(insert(JobLease).values(name=name, holder=holder, acquired_at=now, expires_at=expires))
        session.commit()
    except IntegrityError:  # another process inserted it first
        session.rollback()
        return False
    return True


def renew_lease(*, session: Session, name: str, holder: str, ttl_seconds: int) -> bool:
    """Extend our lease; False when it was lost (it expired and another process took it)."""
    renewed = session.execute(
        update(JobLease)
        .where(col(JobLease.name) == name, col(JobLease.holder) == holder)
        .values(expires_at=utcnow() + timedelta(seconds=ttl_seconds))
    )
    session.commit()
    return renewed.rowcount == 1  # type: ignore[attr-defined]


def release_lease(*, session: Session, name: str, holder: str) -> None:
    session.execute(
        update(JobLease).where(col(JobLease.name) == name, col(JobLease.holder) == holder).values(expires_at=utcnow())
    )
    session.commit()


def start_run(*, session: Session, job_name: str, holder: str, started_at: datetime | None = None) -> int:
    run = JobRun(job_name=job_name, holder=holder, started_at=started_at or utcnow())
    session.add(run)
    session.commit()
    assert run.id is not None
    return run.id


def finish_run(*, session: Session, run_id: int, outcome: str, detail: str = "") -> None:
    run = session.get(JobRun, run_id)
    if run is not None:
        run.finished_at = utcnow()
        run.outcome = outcome
        run.detail = detail[:2000]
        session.add(run)
        session.commit()


def recent_runs(*, session: Session, job_name: str | None = None, limit: int = 50) -> list[JobRunRow]:
    query = select(JobRun).order_by(col(JobRun.id).desc()).limit(limit)
    if job_name:
        query = query.where(JobRun.job_name == job_name)
    return [
        JobRunRow(r.job_name, r.holder, r.started_at, r.finished_at, r.outcome, r.detail)
        for r in session.exec(query).all()
    ]


def purge_expired_sessions(*, session: Session, older_than_days: int = 30) -> int:
    """Delete browser sessions that ended (expired or revoked) more than ``older_than_days`` ago."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    result = session.execute(
        delete(AuthSession).where((col(AuthSession.expires_at) < cutoff) | (col(AuthSession.revoked_at) < cutoff))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
