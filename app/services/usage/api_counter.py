"""API requests counted in memory on the request path and added to ``api_usage_daily`` by the ``flush_api_usage``
job: one counter per process, one upsert per account, key, endpoint and day."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app import runtime
from app.db import write_lock
from app.models import Account, ApiUsageDaily
from app.models.base import table_of

# (account id, key id (0: no key), endpoint ("POST /api/v1/events"), UTC day)
Slot = tuple[int, int, str, date]


class ApiUsageCounter:
    """API requests counted in this process's memory. A request only adds to a dict entry under a lock (no I/O on
    the request path); ``flush_api_usage`` adds the counts to ``api_usage_daily`` every API_USAGE_FLUSH_SECONDS and
    once more at shutdown. Thread-safe: the API runs sync routes in a thread pool."""

    def __init__(self) -> None:
        self._counts: dict[Slot, list[int]] = {}  # slot -> [requests, errors, events]
        self._lock = threading.Lock()

    def count(self, account_id: int, key_id: int, endpoint: str, status: int, events: int = 0) -> None:
        """One request answered with ``status`` (4xx and 5xx are errors) that accepted ``events`` events."""
        slot = (account_id, key_id, endpoint, datetime.now(UTC).date())
        error = 1 if status >= 400 else 0
        with self._lock:
            counts = self._counts.get(slot)
            if counts is None:
                self._counts[slot] = [1, error, events]
            else:
                counts[0] += 1
                counts[1] += error
                counts[2] += events

    def pending(self) -> dict[Slot, tuple[int, int, int]]:
        """A copy of what is counted and not yet flushed: (requests, errors, events) per slot."""
        with self._lock:
            return {slot: (c[0], c[1], c[2]) for slot, c in self._counts.items()}

    def take(self) -> dict[Slot, list[int]]:
        """Everything counted so far; counting starts again from zero."""
        with self._lock:
            taken, self._counts = self._counts, {}
        return taken

    def give_back(self, counts: dict[Slot, list[int]]) -> None:
        """Put back counts that could not be written, added to what was counted meanwhile."""
        with self._lock:
            for slot, (requests, errors, events) in counts.items():
                mine = self._counts.get(slot)
                if mine is None:
                    self._counts[slot] = [requests, errors, events]
                else:
                    mine[0] += requests
                    mine[1] += errors
                    mine[2] += events

    def discard(self) -> None:
        """Forget pending counts (tests reset state between cases)."""
        with self._lock:
            self._counts.clear()


def count_api_request(account_id: int, key_id: int, endpoint: str, status: int, events: int = 0) -> None:
    """Count one answered API request in this process's memory (see ApiUsageCounter; the runtime holds it)."""
    runtime.current().api_usage.count(account_id, key_id, endpoint, status, events)


def _upsert_usage(session: Session) -> Any:
    table = table_of(ApiUsageDaily)
    dialect = session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.account_id, table.c.key_id, table.c.endpoint, table.c.day],
        set_={
            "requests": table.c.requests + statement.excluded.requests,
            "errors": table.c.errors + statement.excluded.errors,
            "events": table.c.events + statement.excluded.events,
        },
    )


class PendingCounts(Protocol):
    """A process's counts in memory, keyed by tuples whose first item is the account id (this module's counter and
    services/usage/drops.py's)."""

    def take(self) -> Mapping[Any, Any]: ...

    def give_back(self, counts: Any) -> None: ...


def flush_pending(
    session: Session, counter: PendingCounts, statement: Any, row: Callable[[Any, Any], dict[str, Any]]
) -> int:
    """Write a counter's pending counts with ``statement`` (an upsert that adds them) and commit: ``row`` makes one
    row from a key and its count. Counts of an account deleted since are dropped; if anything fails they go back to
    memory for the next flush, so nothing counted is lost. Returns the number of rows written."""
    pending = counter.take()
    if not pending:
        return 0
    try:
        with write_lock:
            account_ids = {slot[0] for slot in pending}
            existing = set(session.exec(select(Account.id).where(col(Account.id).in_(account_ids))).all())
            rows = [row(slot, counts) for slot, counts in pending.items() if slot[0] in existing]
            if rows:
                session.execute(statement, rows)
            session.commit()
    except BaseException:
        session.rollback()
        counter.give_back(pending)
        raise
    return len(rows)


def flush_api_usage(session: Session) -> int:
    """Add this process's counts to ``api_usage_daily`` (one upsert per account, key, endpoint and day) and commit
    (``flush_pending``: nothing counted is lost). Returns the number of rows written."""

    def row(slot: Slot, counts: list[int]) -> dict[str, Any]:
        account_id, key_id, endpoint, day = slot
        requests, errors, events = counts
        return {"account_id": account_id, "key_id": key_id, "endpoint": endpoint[:120], "day": day,
                "requests": requests, "errors": errors, "events": events}  # fmt: skip

    return flush_pending(session, runtime.current().api_usage, _upsert_usage(session), row)
