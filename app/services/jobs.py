"""Database leases so a job runs in one process at a time, and the record of every run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.models import AuthSession, JobLease, JobOutcome, JobRun
from app.models.base import utcnow
from app.services.errors import PermissionDenied, ValidationFailed
from app.services.paging import decode_cursor, encode_cursor
from app.services.permissions import Actor

# What a stored run's outcome may be (``skipped`` is never stored).
RUN_OUTCOMES = tuple(outcome.value for outcome in JobOutcome if outcome is not JobOutcome.SKIPPED)
MAX_RUNS_PAGE = 200


@dataclass(frozen=True)
class JobRunRow:
    job_name: str
    holder: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    detail: str
    run_id: int = 0
    # Still ``running``, but its holder no longer holds the job's lease: the process died (or lost the lease) mid-run.
    abandoned: bool = False

    @property
    def duration_seconds(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None


@dataclass(frozen=True)
class JobLeaseRow:
    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime
    due_at: datetime | None  # once-per-interval jobs: when the next slot may run
    held: bool  # a process holds it now (a job is running, or a dead holder's lease has not expired yet)


@dataclass(frozen=True)
class JobRunPage:
    rows: list[JobRunRow]
    total: int
    next_cursor: str | None


def acquire_lease(*, session: Session, name: str, holder: str, ttl_seconds: int, due_only: bool = False) -> bool:
    """Take the lease when it is free, expired or already ours (and, with ``due_only``, when the job's next slot has
    come: ``end_run`` moves ``due_at`` to the end of the slot it ran). Commits, so other processes see it at once."""
    now = utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    query = (
        update(JobLease)
        .where(col(JobLease.name) == name)
        .where((col(JobLease.expires_at) <= now) | (col(JobLease.holder) == holder))
    )
    if due_only:
        query = query.where(col(JobLease.due_at).is_(None) | (col(JobLease.due_at) <= now))
    taken = session.exec(query.values(holder=holder, acquired_at=now, expires_at=expires))
    if taken.rowcount == 1:
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
    renewed = session.exec(
        update(JobLease)
        .where(col(JobLease.name) == name, col(JobLease.holder) == holder)
        .values(expires_at=utcnow() + timedelta(seconds=ttl_seconds))
    )
    session.commit()
    return renewed.rowcount == 1


def slot_end(moment: datetime, every_seconds: int) -> datetime:
    """The end of the interval slot (aligned on the Unix epoch) that contains ``moment``."""
    start = int(moment.timestamp()) // every_seconds * every_seconds
    return datetime.fromtimestamp(start + every_seconds, tz=moment.tzinfo)


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


def mark_interrupted(*, session: Session, job_name: str, holder: str) -> int:
    """Runs of ``job_name`` still marked running by another holder: called by the process that just took the job's
    lease, so their holder's lease expired (it died, or lost the lease and will record ``lease_lost`` itself)."""
    result = session.exec(
        update(JobRun)
        .where(
            col(JobRun.job_name) == job_name, col(JobRun.outcome) == JobOutcome.RUNNING, col(JobRun.holder) != holder
        )
        .values(outcome=JobOutcome.INTERRUPTED, finished_at=utcnow(), detail="its process stopped before the run ended")
    )
    session.commit()
    return int(result.rowcount or 0)


def end_run(
    *,
    session: Session,
    name: str,
    holder: str,
    run_id: int | None,
    outcome: str,
    detail: str,
    slot_due: datetime | None,
    release: bool,
) -> None:
    """Record a run's end, complete its slot (``slot_due``) and release the lease, in one transaction: a crash
    cannot leave a run recorded as done with its slot still due."""
    now = utcnow()
    if run_id is not None:
        session.execute(
            update(JobRun)
            .where(col(JobRun.id) == run_id)
            .values(finished_at=now, outcome=outcome, detail=detail[:2000])
        )
    values: dict[str, datetime] = {}
    if slot_due is not None:
        values["due_at"] = slot_due
    if release:
        values["expires_at"] = now
    if values:
        session.execute(
            update(JobLease).where(col(JobLease.name) == name, col(JobLease.holder) == holder).values(**values)
        )
    session.commit()


def finish_run(*, session: Session, run_id: int, outcome: str, detail: str = "") -> None:
    end_run(session=session, name="", holder="", run_id=run_id, outcome=outcome, detail=detail, slot_due=None,
            release=False)  # fmt: skip


def recent_runs(*, session: Session, job_name: str | None = None, limit: int = 50) -> list[JobRunRow]:
    query = select(JobRun).order_by(col(JobRun.id).desc()).limit(limit)
    if job_name:
        query = query.where(JobRun.job_name == job_name)
    return _run_rows(session, list(session.exec(query).all()))


def require_staff(actor: Actor) -> None:
    """Job leases and runs are the platform's, not an account's: staff only."""
    if not actor.is_staff:
        raise PermissionDenied("Only PaidSignal staff can see the job runner.")


def list_leases(*, session: Session, actor: Actor) -> list[JobLeaseRow]:
    """Every job lease by name, and whether a process holds it now."""
    require_staff(actor)
    now = utcnow()
    return [
        JobLeaseRow(lease.name, lease.holder, lease.acquired_at, lease.expires_at, lease.due_at, lease.expires_at > now)
        for lease in session.exec(select(JobLease).order_by(col(JobLease.name))).all()
    ]


def job_names(*, session: Session, actor: Actor) -> list[str]:
    """The names of every job that has a lease or a recorded run, for the runs filter."""
    require_staff(actor)
    leased = session.exec(select(JobLease.name)).all()
    ran = session.exec(select(JobRun.job_name).distinct()).all()
    return sorted({*leased, *ran})


def list_runs(
    *,
    session: Session,
    actor: Actor,
    job_name: str | None = None,
    outcome: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> JobRunPage:
    """Runs newest first (by start), optionally of one job and one outcome, a page at a time through ``cursor``."""
    require_staff(actor)
    if outcome and outcome not in RUN_OUTCOMES:
        raise ValidationFailed(f"outcome must be one of {', '.join(RUN_OUTCOMES)}.", field="outcome")
    if not 1 <= limit <= MAX_RUNS_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_RUNS_PAGE}.", field="limit")
    filters: list[Any] = []
    if job_name:
        filters.append(col(JobRun.job_name) == job_name)
    if outcome:
        filters.append(col(JobRun.outcome) == outcome)
    total = int(session.exec(select(func.count()).select_from(JobRun).where(*filters)).one())
    query = select(JobRun).where(*filters)
    if cursor:
        at, row_id = decode_cursor(cursor, datetime.fromisoformat)
        query = query.where(
            (col(JobRun.started_at) < at) | ((col(JobRun.started_at) == at) & (col(JobRun.id) < row_id))
        )
    found = list(
        session.exec(query.order_by(col(JobRun.started_at).desc(), col(JobRun.id).desc()).limit(limit + 1)).all()
    )
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if found else None
    next_cursor = encode_cursor(last.started_at, last.id) if more and last and last.id else None
    return JobRunPage(_run_rows(session, found), total, next_cursor)


def _run_rows(session: Session, runs: list[JobRun]) -> list[JobRunRow]:
    now = utcnow()
    running = {r.job_name for r in runs if r.outcome == JobOutcome.RUNNING}
    leases = {
        lease.name: lease for lease in session.exec(select(JobLease).where(col(JobLease.name).in_(running))).all()
    }

    def abandoned(run: JobRun) -> bool:
        # Jobs without a lease (per-process work) cannot be told apart from a slow run: never called abandoned.
        lease = leases.get(run.job_name)
        return (
            run.outcome == JobOutcome.RUNNING
            and lease is not None
            and (lease.holder != run.holder or lease.expires_at <= now or lease.acquired_at > run.started_at)
        )

    return [
        JobRunRow(r.job_name, r.holder, r.started_at, r.finished_at, r.outcome, r.detail, r.id or 0, abandoned(r))
        for r in runs
    ]


def purge_expired_sessions(*, session: Session, older_than_days: int = 30) -> int:
    """Delete browser sessions that ended (expired or revoked) more than ``older_than_days`` ago."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    result = session.exec(
        delete(AuthSession).where((col(AuthSession.expires_at) < cutoff) | (col(AuthSession.revoked_at) < cutoff))
    )
    return int(result.rowcount or 0)
