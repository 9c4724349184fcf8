"""Job leases (one runner per job across workers and instances) and the record of each run."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.base import enum_field, utc_field


class JobOutcome(StrEnum):
    """How a job run ended: ``running`` until it does (forever, when its process died mid-run: then the next holder
    marks it ``interrupted``). ``skipped`` is never stored: another process held the lease."""

    RUNNING = "running"
    OK = "ok"
    ERROR = "error"
    LEASE_LOST = "lease_lost"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"


class JobLease(SQLModel, table=True):
    __tablename__ = "job_lease"

    name: str = Field(primary_key=True, max_length=80)
    holder: str = Field(max_length=120)
    acquired_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    # Jobs that run once per interval across the cluster: the next slot's start. A process whose scheduler fires
    # before it finds nothing due, so two instances never both evaluate the same slot.
    due_at: datetime | None = utc_field(nullable=True)


class JobRun(SQLModel, table=True):
    __tablename__ = "job_run"

    id: int | None = Field(default=None, primary_key=True)
    job_name: str = Field(max_length=80, index=True)
    holder: str = Field(max_length=120)
    started_at: datetime = utc_field(index=True)
    finished_at: datetime | None = utc_field(nullable=True)
    outcome: JobOutcome = enum_field(JobOutcome, 16, default=JobOutcome.RUNNING)
    detail: str = Field(default="", max_length=2000)
