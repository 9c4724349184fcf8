"""What counts against a plan, recorded as it happens: each LLM call with its tokens and cost (committed at once),
and tracking events stored per UTC day (counted in the ingest writer's transaction). Months and days are UTC."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.db import executemany, write_lock
from app.models import EventCountDaily, LlmCall
from app.models.base import table_of, utcnow


def month_start(moment: datetime | None = None) -> datetime:
    """The start of ``moment``'s UTC month (now's by default)."""
    moment = (moment or utcnow()).astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def record_llm_call(
    *,
    session: Session,
    account_id: int,
    user_id: int | None,
    conversation_id: int | None,
    question_id: int | None,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float,
    duration_ms: int,
    outcome: str = "ok",
    error: str = "",
) -> LlmCall:
    """Record one provider call (committed at once: a cost is never lost with a later failure)."""
    call = LlmCall(
        account_id=account_id,
        user_id=user_id,
        conversation_id=conversation_id,
        question_id=question_id,
        model=model[:120],
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd,
        duration_ms=duration_ms,
        outcome=outcome,
        error=error[:2000],
    )
    with write_lock:
        session.add(call)
        session.commit()
    return call


def llm_cost_this_month(session: Session, account_id: int, *, now: datetime | None = None) -> float:
    """What the account's LLM calls cost this UTC month, in USD."""
    total = session.exec(
        select(func.coalesce(func.sum(LlmCall.cost_usd), 0.0)).where(
            LlmCall.account_id == account_id, col(LlmCall.created_at) >= month_start(now)
        )
    ).one()
    return float(total or 0.0)


_EVENT_COUNT_UPSERTS: dict[str, Any] = {}


def count_stored_events(session: Session, account_id: int, received: Iterable[datetime]) -> None:
    """Add events just stored for the account (their receipt times) to ``event_count_daily``, in the writer's
    transaction: one upsert per UTC day, whatever the number of events. Test events are not passed in."""
    per_day: dict[date, int] = defaultdict(int)
    for at in received:
        per_day[at.astimezone(UTC).date()] += 1
    if not per_day:
        return
    dialect = session.get_bind().dialect.name
    statement = _EVENT_COUNT_UPSERTS.get(dialect)
    if statement is None:
        table = table_of(EventCountDaily)
        statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.account_id, table.c.day],
            set_={"events": table.c.events + statement.excluded.events},
        )
        _EVENT_COUNT_UPSERTS[dialect] = statement
    executemany(
        session, statement, [{"account_id": account_id, "day": d, "events": n} for d, n in sorted(per_day.items())]
    )


def events_stored(session: Session, account_id: int, start: date, end: date) -> int:
    """Tracking events stored for the account on the UTC days ``[start, end]`` (test events never count)."""
    total = session.exec(
        select(func.coalesce(func.sum(EventCountDaily.events), 0)).where(
            EventCountDaily.account_id == account_id,
            col(EventCountDaily.day) >= start,
            col(EventCountDaily.day) <= end,
        )
    ).one()
    return int(total or 0)
