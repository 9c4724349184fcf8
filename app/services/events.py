"""Reading stored events: the API's event list, the install page's live indicator and the overview's figures."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models import Event, VisitSession
from app.services.errors import ValidationFailed

MAX_PAGE = 200
PUBLIC_FIELDS = (
    "event_id",
    "type",
    "source",
    "visitor_id",
    "url",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "fbclid",
    "fbc",
    "fbp",
    "gclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "ttclid",
    "ga_client_id",
    "ga_session_id",
    "value",
    "currency",
    "items",
    "properties",
    "consent",
)


@dataclass(frozen=True)
class EventPage:
    events: list[dict[str, Any]]
    next_cursor: str | None


def event_view(event: Event) -> dict[str, Any]:
    view = {name: getattr(event, name) for name in PUBLIC_FIELDS}
    view["session_id"] = event.session_key
    view["timestamp"] = event.occurred_at.isoformat()
    view["received_at"] = event.received_at.isoformat()
    return {k: v for k, v in view.items() if v is not None}


def _encode_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"e{event_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("e") or not raw[1:].isdigit() or len(raw) > 20:
            raise ValueError
        return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise ValidationFailed(
            "cursor is not valid; pass the next_cursor of a previous page.", field="cursor"
        ) from error


def list_events(
    *,
    session: Session,
    account_id: int,
    type: str | None = None,
    visitor_id: str | None = None,
    source: str | None = None,
    exclude_source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> EventPage:
    """Newest first, with a cursor for the next (older) page."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
    query = select(Event).where(Event.account_id == account_id)
    if type:
        query = query.where(Event.type == type)
    if visitor_id:
        query = query.where(Event.visitor_id == visitor_id)
    if source:
        query = query.where(Event.source == source)
    if exclude_source:
        query = query.where(Event.source != exclude_source)
    if since:
        query = query.where(col(Event.occurred_at) >= since)
    if until:
        query = query.where(col(Event.occurred_at) < until)
    if cursor:
        query = query.where(col(Event.id) < _decode_cursor(cursor))
    rows = session.exec(query.order_by(col(Event.id).desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(rows[-1].id) if more and rows[-1].id is not None else None
    return EventPage([event_view(e) for e in rows], next_cursor)


def day_bounds(timezone: str, day: datetime | None = None) -> tuple[datetime, datetime]:
    """Start and end (UTC) of ``day`` (default: today) in the account's timezone."""
    zone = ZoneInfo(timezone)
    local = (day or datetime.now(zone)).astimezone(zone)
    start = datetime.combine(local.date(), time.min, tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC")), (start + timedelta(days=1)).astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True)
class TodayCounts:
    events: int
    visitors: int
    sessions: int


def today_counts(*, session: Session, account_id: int, timezone: str) -> TodayCounts:
    """Today's events, visitors and sessions for the overview's live counters; test events never count."""
    start, end = day_bounds(timezone)
    today = (
        Event.account_id == account_id,
        col(Event.occurred_at) >= start,
        col(Event.occurred_at) < end,
        Event.source != "test",
    )
    events = session.exec(select(func.count()).select_from(Event).where(*today)).one()
    visitors = session.exec(select(func.count(func.distinct(Event.visitor_id))).where(*today)).one()
    sessions = session.exec(
        select(func.count())
        .select_from(VisitSession)
        .where(
            VisitSession.account_id == account_id,
            col(VisitSession.started_at) >= start,
            col(VisitSession.started_at) < end,
        )
    ).one()
    return TodayCounts(int(events), int(visitors), int(sessions))
