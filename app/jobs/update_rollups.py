"""Recompute the dashboard rollups of the days marked dirty (see services/rollups). Leased: one process at a time."""

from __future__ import annotations

from sqlmodel import Session

from app.db import get_engine
from app.services.rollups import refresh_dirty


def update_rollups() -> str | None:
    total = 0
    with Session(get_engine()) as session:
        while True:
            done = refresh_dirty(session)
            total += done
            if done < 500:
                break
    return f"{total} day(s) recomputed" if total else None
