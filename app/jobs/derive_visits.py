"""Derive visitors, sessions and touches from stored events left waiting: those a crash left between their commit and
the writer's pass, and those a process that stopped writing left behind. Leased and quiet (most runs find nothing)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from app.db import get_engine
from app.models.base import utcnow
from app.services.ingest import catch_up
from app.services.sessions import oldest_pending
from app.settings import get_settings


def derive_visits() -> str | None:
    settings = get_settings()
    # Events younger than this are a live writer's to derive (it does within INGEST_DERIVE_DELAY_SECONDS): a pass
    # here would only compete with it for the database's write lock.
    grace = timedelta(seconds=settings.ingest_derive_delay_seconds + settings.derive_seconds)
    with Session(get_engine()) as session:
        oldest = oldest_pending(session)
    if oldest is None or oldest > utcnow() - grace:
        return None
    derived = catch_up()
    return f"{derived} event(s) derived" if derived else None
