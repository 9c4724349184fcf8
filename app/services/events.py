"""Reading stored events: the API's event list, the install page's live indicator and the overview's figures."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models import Campaign, CampaignVersion, Event, VisitSession
from app.services.days import check_day
from app.services.errors import ValidationFailed
from app.services.json_depth import clip_depth
from app.services.paging import MAX_LIMIT
from app.services.sessions import CLICK_ID_FIELDS, UTM_FIELDS

MAX_PAGE = MAX_LIMIT
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
    "utm_id",
    "gad_campaignid",
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
    """The public form of a stored event (the API's list, the backoffice's tables). Its free-form JSON is cut to
    the ingest's depth bound: rows stored before that bound may be nested deeper than any reader can serialize."""
    view = {name: getattr(event, name) for name in PUBLIC_FIELDS}
    for name in ("properties", "items", "consent"):
        view[name] = clip_depth(view[name])
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
    check_day(since, "since")
    check_day(until, "until")
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
    return EventPage(with_campaigns(session, account_id, rows, [event_view(e) for e in rows]), next_cursor)


def with_campaigns(
    session: Session, account_id: int, events: Sequence[Event], views: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Add to each event's view what its session matched when it started: ``campaign_match`` (``matched``,
    ``unmatched``: it came with UTM parameters or a click id no campaign's rules took, ``direct``: it came without),
    and when matched ``campaign`` / ``campaign_version`` (public ids), ``campaign_name`` and
    ``campaign_version_number``. Events without a session (test events) get none of these. Three small queries per
    page."""
    keys = {e.session_key for e in events if e.session_key}
    if not keys:
        return views
    marketing = [getattr(VisitSession, name) for name in (*UTM_FIELDS, *CLICK_ID_FIELDS)]
    found = session.exec(
        select(VisitSession.session_key, VisitSession.campaign_id, VisitSession.campaign_version_id, *marketing).where(
            VisitSession.account_id == account_id, col(VisitSession.session_key).in_(keys)
        )
    ).all()
    sessions = {row[0]: (row[1], row[2], any(row[3:])) for row in found}
    campaign_ids = {c for c, _v, _m in sessions.values() if c}
    version_ids = {v for _c, v, _m in sessions.values() if v}
    campaigns = _public_ids(session, account_id, Campaign, campaign_ids, Campaign.name)
    versions = _public_ids(session, account_id, CampaignVersion, version_ids, CampaignVersion.number)
    for event, view in zip(events, views, strict=True):
        if event.session_key not in sessions:
            continue
        campaign_id, version_id, came_from_marketing = sessions[event.session_key]
        if campaign_id in campaigns:
            view["campaign_match"] = "matched"
            view["campaign"], view["campaign_name"] = campaigns[campaign_id]
            if version_id in versions:
                view["campaign_version"], view["campaign_version_number"] = versions[version_id]
        else:
            view["campaign_match"] = "unmatched" if came_from_marketing else "direct"
    return views


def _public_ids(session: Session, account_id: int, model: Any, ids: set[int], label: Any) -> dict[int, tuple[str, Any]]:
    """Internal id -> (public id, ``label``) of the account's rows of ``model`` (a campaign or a version)."""
    rows = session.exec(
        select(model.id, model.public_id, label).where(model.account_id == account_id, col(model.id).in_(ids))
    ).all()
    return {row_id: (public_id, value) for row_id, public_id, value in rows}


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
