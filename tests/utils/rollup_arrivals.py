"""Rollup tests' replay: every raw session and order of an account "arrives" again in a random order, marking its
days as the write paths do, with the rollup job run after each (incremental rollups must equal a rebuild)."""

from __future__ import annotations

import random
from typing import Any

from sqlmodel import Session, select

from app.models import Order, VisitSession
from app.services import rollups


def arrive_in_random_order(db: Session, account_id: int, *, seed: int) -> None:
    zone = rollups.account_zone(db, account_id)
    sessions = list(db.exec(select(VisitSession).where(VisitSession.account_id == account_id)))
    orders = list(db.exec(select(Order).where(Order.account_id == account_id)))
    arrivals: list[Any] = [("session", s) for s in sessions] + [("order", o) for o in orders]
    random.Random(seed).shuffle(arrivals)
    for kind, row in arrivals:
        if kind == "session":
            rollups.mark_dirty(db, account_id, [rollups.local_day(row.started_at, zone)], rollups.TRAFFIC)
        else:
            rollups.mark_order_dirty(db, row)
        db.commit()
        rollups.refresh_dirty(db)
