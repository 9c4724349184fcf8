"""Recompute the dashboard rollups of the days marked dirty, and the lifetime rows of the customers marked dirty (see
services/rollups and services/lifetime). Leased: one process at a time."""

from __future__ import annotations

from sqlmodel import Session

from app.db import get_engine
from app.services import lifetime
from app.services.rollups import refresh_dirty


def update_rollups() -> str | None:
    total = customers = 0
    with Session(get_engine()) as session:
        while True:
            done = refresh_dirty(session)
            total += done
            if done < 500:
                break
        while True:
            done = lifetime.refresh_dirty(session)
            customers += done
            if done < 2000:
                break
    if not (total or customers):
        return None
    return f"{total} day(s), {customers} customer(s) recomputed"
