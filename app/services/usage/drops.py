"""Tracking events PaidSignal did not keep, by reason and origin: counted in each process's memory on the request path
(a dict increment), added to ``ingest_drop_daily`` by the ``flush_api_usage`` job, read back (with this process's
counts not flushed yet) for the assistant's install status."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, func, select

from app import runtime
from app.models import IngestDropDaily
from app.models.base import table_of
from app.services.usage.api_counter import flush_pending

REASONS = ("bot", "consent_denied", "wrong_origin")
# Distinct origins kept per account, day and reason in a process's memory: the Origin header is the sender's to
# choose, so further ones are counted together as OTHER_ORIGINS (memory stays bounded whatever a client sends).
MAX_ORIGINS = 20
OTHER_ORIGINS = "(other origins)"
# (account id, UTC day, reason, origin)
DropSlot = tuple[int, date, str, str]


class DropCounter:
    """Dropped events per account, day, reason and origin, in memory until flushed. Thread-safe."""

    def __init__(self) -> None:
        self._counts: dict[DropSlot, int] = {}
        self._origins: dict[tuple[int, date, str], int] = {}  # distinct origins per account, day and reason
        self._lock = threading.Lock()

    def count(self, account_id: int, reason: str, origin: str = "", n: int = 1) -> None:
        day = datetime.now(UTC).date()
        slot = (account_id, day, reason, (origin or "")[:255])
        with self._lock:
            if slot not in self._counts:
                seen = self._origins.get(slot[:3], 0)
                if seen >= MAX_ORIGINS:
                    slot = (account_id, day, reason, OTHER_ORIGINS)
                else:
                    self._origins[slot[:3]] = seen + 1
            self._counts[slot] = self._counts.get(slot, 0) + n

    def pending(self) -> dict[DropSlot, int]:
        with self._lock:
            return dict(self._counts)

    def take(self) -> dict[DropSlot, int]:
        with self._lock:
            taken, self._counts, self._origins = self._counts, {}, {}
        return taken

    def give_back(self, counts: dict[DropSlot, int]) -> None:
        with self._lock:
            for slot, n in counts.items():
                self._counts[slot] = self._counts.get(slot, 0) + n

    def discard(self) -> None:
        with self._lock:
            self._counts.clear()
            self._origins.clear()


def count_drops(account_id: int, reasons: dict[str, int], origin: str = "") -> None:
    """Count events dropped for ``reasons`` (reason -> events) in this process's memory."""
    counter = runtime.current().ingest_drops
    for reason, n in reasons.items():
        if n:
            counter.count(account_id, reason, origin, n)


def _upsert(session: Session) -> Any:
    table = table_of(IngestDropDaily)
    dialect = session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.account_id, table.c.day, table.c.reason, table.c.origin],
        set_={"count": table.c["count"] + statement.excluded["count"]},
    )


def flush_ingest_drops(session: Session) -> int:
    """Add this process's counts to ``ingest_drop_daily`` and commit; on failure they go back to memory."""

    def row(slot: DropSlot, count: int) -> dict[str, Any]:
        account_id, day, reason, origin = slot
        return {"account_id": account_id, "day": day, "reason": reason, "origin": origin, "count": count}

    return flush_pending(session, runtime.current().ingest_drops, _upsert(session), row)


def drops_since(session: Session, account_id: int, since: date) -> dict[tuple[str, str], int]:
    """Events dropped since ``since`` (a UTC day) per (reason, origin): flushed counts plus this process's pending."""
    found: dict[tuple[str, str], int] = {}
    rows = session.exec(
        select(IngestDropDaily.reason, IngestDropDaily.origin, func.sum(IngestDropDaily.count))
        .where(IngestDropDaily.account_id == account_id, col(IngestDropDaily.day) >= since)
        .group_by(col(IngestDropDaily.reason), col(IngestDropDaily.origin))
    ).all()
    for reason, origin, n in rows:
        found[(reason, origin)] = found.get((reason, origin), 0) + int(n or 0)
    for (account, day, reason, origin), n in runtime.current().ingest_drops.pending().items():
        if account == account_id and day >= since:
            found[(reason, origin)] = found.get((reason, origin), 0) + n
    return found
