"""Visitors, sessions and touches derived from newly stored events, inside the writer's transaction."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.models import Event, Touch, Visitor, VisitSession

INACTIVITY = timedelta(minutes=30)
CLICK_ID_FIELDS = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_SESSION_COPY = (*UTM_FIELDS, *CLICK_ID_FIELDS, "fbc", "fbp", "ga_client_id", "ga_session_id")


def _is_marketing(row: Event | VisitSession) -> bool:
    return any(getattr(row, f) for f in (*UTM_FIELDS, *CLICK_ID_FIELDS))


def _click(row: VisitSession) -> tuple[str | None, str | None]:
    for name in CLICK_ID_FIELDS:
        value = getattr(row, name)
        if value:
            return name, value
    return None, None


def apply_events(session: Session, account_id: int, events: Iterable[Event]) -> None:
    """Update visitors, sessions and touches for ``events`` (already inserted, none of them duplicates)."""
    ordered = sorted(events, key=lambda e: e.occurred_at)
    if not ordered:
        return
    _update_visitors(session, account_id, ordered)
    touched = _update_sessions(session, account_id, ordered)
    _add_touches(session, account_id, touched)


def infer_sessions(session: Session, account_id: int, events: list[Event]) -> None:
    """Give events without a client session id a server-side one: same visitor, 30 minutes of inactivity.

    Called before the events are inserted, so they are stored with the key.
    """
    pending = sorted((e for e in events if not e.session_key and e.visitor_id), key=lambda e: e.occurred_at)
    if not pending:
        return
    visitors = {e.visitor_id for e in pending}
    latest: dict[str, VisitSession] = {}
    rows = session.exec(
        select(VisitSession)
        .where(
            VisitSession.account_id == account_id,
            col(VisitSession.visitor_key).in_(visitors),
            col(VisitSession.inferred).is_(True),
        )
        .order_by(col(VisitSession.last_event_at))
    ).all()
    for row in rows:
        assert row.visitor_key is not None
        latest[row.visitor_key] = row
    last: dict[str, tuple[str, datetime]] = {v: (s.session_key, s.last_event_at) for v, s in latest.items()}
    for event in pending:
        assert event.visitor_id is not None
        current = last.get(event.visitor_id)
        if current is not None and event.occurred_at - current[1] <= INACTIVITY:
            key, seen = current[0], max(current[1], event.occurred_at)
        else:
            key, seen = f"inf_{secrets.token_hex(12)}", event.occurred_at
        last[event.visitor_id] = (key, seen)
        event.session_key = key


def _update_visitors(session: Session, account_id: int, events: list[Event]) -> None:
    keys = {e.visitor_id for e in events if e.visitor_id}
    if not keys:
        return
    existing = {
        v.visitor_key: v
        for v in session.exec(
            select(Visitor).where(Visitor.account_id == account_id, col(Visitor.visitor_key).in_(keys))
        ).all()
    }
    for event in events:
        if not event.visitor_id:
            continue
        visitor = existing.get(event.visitor_id)
        if visitor is None:
            visitor = Visitor(
                account_id=account_id,
                visitor_key=event.visitor_id,
                first_seen_at=event.occurred_at,
                last_seen_at=event.occurred_at,
            )
            existing[event.visitor_id] = visitor
        visitor.first_seen_at = min(visitor.first_seen_at, event.occurred_at)
        visitor.last_seen_at = max(visitor.last_seen_at, event.occurred_at)
        visitor.event_count += 1
        # Meta's rule: a new fbclid replaces the stored fbc; otherwise keep the first one we saw.
        if (event.fbclid and event.fbc) or (event.fbc and not visitor.fbc):
            visitor.fbc = event.fbc
        visitor.fbp = event.fbp or visitor.fbp
        visitor.ga_client_id = event.ga_client_id or visitor.ga_client_id
        session.add(visitor)


def _update_sessions(session: Session, account_id: int, events: list[Event]) -> list[VisitSession]:
    keys = {e.session_key for e in events if e.session_key}
    if not keys:
        return []
    existing = {
        s.session_key: s
        for s in session.exec(
            select(VisitSession).where(VisitSession.account_id == account_id, col(VisitSession.session_key).in_(keys))
        ).all()
    }
    changed: dict[str, VisitSession] = {}
    for event in events:
        if not event.session_key:
            continue
        row = existing.get(event.session_key)
        if row is None:
            row = VisitSession(
                account_id=account_id,
                session_key=event.session_key,
                visitor_key=event.visitor_id,
                inferred=event.session_key.startswith("inf_"),
                started_at=event.occurred_at,
                last_event_at=event.occurred_at,
                landing_url=event.url,
                referrer=event.referrer,
                user_agent=event.user_agent,
            )
            existing[event.session_key] = row
        elif event.occurred_at < row.started_at:
            # A late event from earlier in the visit: it is the better landing.
            row.started_at = event.occurred_at
            row.landing_url = event.url or row.landing_url
            row.referrer = event.referrer or row.referrer
        row.last_event_at = max(row.last_event_at, event.occurred_at)
        row.event_count += 1
        row.visitor_key = row.visitor_key or event.visitor_id
        for name in _SESSION_COPY:
            if getattr(row, name) is None and getattr(event, name):
                setattr(row, name, getattr(event, name))
        session.add(row)
        changed[row.session_key] = row
    return list(changed.values())


def _add_touches(session: Session, account_id: int, sessions: list[VisitSession]) -> None:
    marketing = [s for s in sessions if _is_marketing(s)]
    if not marketing:
        return
    session.flush()
    have = set(
        session.exec(
            select(Touch.session_key).where(
                Touch.account_id == account_id, col(Touch.session_key).in_([s.session_key for s in marketing])
            )
        ).all()
    )
    visitors = {s.visitor_key for s in marketing if s.visitor_key}
    touched_visitors = set(
        session.exec(
            select(Touch.visitor_key).where(Touch.account_id == account_id, col(Touch.visitor_key).in_(visitors))
        ).all()
    )
    for row in sorted(marketing, key=lambda s: s.started_at):
        if row.session_key in have:
            continue
        click_type, click_id = _click(row)
        session.add(
            Touch(
                account_id=account_id,
                visitor_key=row.visitor_key,
                session_key=row.session_key,
                touched_at=row.started_at,
                is_first=bool(row.visitor_key) and row.visitor_key not in touched_visitors,
                utm_source=row.utm_source,
                utm_medium=row.utm_medium,
                utm_campaign=row.utm_campaign,
                utm_term=row.utm_term,
                utm_content=row.utm_content,
                click_id_type=click_type,
                click_id=click_id,
                landing_url=row.landing_url,
                referrer=row.referrer,
            )
        )
        have.add(row.session_key)
        if row.visitor_key:
            touched_visitors.add(row.visitor_key)
