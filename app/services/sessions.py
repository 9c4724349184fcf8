"""Visitors, sessions and touches derived from newly stored events, inside the writer's transaction.

Written with bulk statements (one SELECT, one executemany INSERT and one executemany UPDATE per table and batch):
the ORM's per-object flush was 90 % of the ingest time (bench/ingest.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, case, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app import runtime
from app.db import executemany
from app.models import Touch, Visitor, VisitSession
from app.models.base import table_of
from app.services import rollups

INACTIVITY = timedelta(minutes=30)
CLICK_ID_FIELDS = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_SESSION_COPY = (*UTM_FIELDS, *CLICK_ID_FIELDS, "fbc", "fbp", "ga_client_id", "ga_session_id")


class EventLike(Protocol):
    """What derivation reads of an event (the writer passes light carriers, not ORM objects)."""

    occurred_at: datetime
    visitor_id: str | None
    session_key: str | None
    url: str | None
    referrer: str | None
    user_agent: str | None
    fbclid: str | None
    fbc: str | None
    fbp: str | None
    ga_client_id: str | None


def infer_sessions(session: Session, account_id: int, events: Iterable[Any]) -> None:
    """Give events without a client session id a server-side one: the visitor's inferred session whose span
    (widened by 30 minutes of inactivity on both sides) holds the event, or a new one.

    Called before the events are inserted, so they are stored with the key.
    """
    pending = sorted((e for e in events if not e.session_key and e.visitor_id), key=lambda e: e.occurred_at)
    if not pending:
        return
    rows = session.exec(
        select(
            VisitSession.visitor_key, VisitSession.session_key, VisitSession.started_at, VisitSession.last_event_at
        ).where(
            VisitSession.account_id == account_id,
            col(VisitSession.visitor_key).in_({e.visitor_id for e in pending}),
            col(VisitSession.inferred).is_(True),
        )
    ).all()
    spans: dict[str, list[list[Any]]] = {}
    for visitor, key, started, last in rows:
        spans.setdefault(visitor or "", []).append([key, started, last])
    for event in pending:
        at = event.occurred_at
        own = spans.setdefault(event.visitor_id, [])
        span = next((s for s in own if s[1] - INACTIVITY <= at <= s[2] + INACTIVITY), None)
        if span is None:
            span = [f"inf_{secrets.token_hex(12)}", at, at]
            own.append(span)
        span[1], span[2] = min(span[1], at), max(span[2], at)
        event.session_key = span[0]


def apply_events(session: Session, account_id: int, events: Iterable[Any]) -> None:
    """Update visitors, sessions and touches for ``events`` (already inserted, none of them duplicates)."""
    ordered = sorted(events, key=lambda e: e.occurred_at)
    if not ordered:
        return
    _update_visitors(session, account_id, ordered)
    sessions = _update_sessions(session, account_id, ordered)
    _add_touches(session, account_id, sessions)
    # The dashboard's daily rollups of these days are recomputed by the update_rollups job.
    zone = rollups.account_zone(session, account_id)
    days = {rollups.local_day(row["started_at"], zone) for row in sessions}
    days |= {rollups.local_day(row["last_event_at"], zone) for row in sessions}
    rollups.mark_dirty(session, account_id, days, rollups.TRAFFIC)


def _by_shape(rows: list[dict[str, Any]]) -> dict[frozenset[str], list[dict[str, Any]]]:
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return groups


def insert_rows(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """executemany INSERTs of only the columns that have values, one statement per row shape.

    Most rows share a shape, and skipping the many empty columns halves the per-row cost (bench/ingest.py).
    """
    statement = _INSERTS.setdefault(table.name, table.insert())
    for group in _by_shape([{k: v for k, v in r.items() if v is not None} for r in rows]).values():
        executemany(session, statement, group)


_UPSERTS: dict[tuple[str, str], Any] = {}
_INSERTS: dict[str, Any] = {}


def _upsert(
    session: Session,
    table: Any,
    keys: list[str],
    rows: list[dict[str, Any]],
    assignments: Callable[[Any, Any], dict[str, Any]],
) -> None:
    """One executemany ``INSERT … ON CONFLICT (keys) DO UPDATE``: the same SQL on SQLite, libSQL and PostgreSQL,
    and no need to read the rows first. The statement is built once per dialect (building it costs ~1 ms)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = _UPSERTS.get((dialect, table.name))
    if statement is None:
        statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        statement = statement.on_conflict_do_update(index_elements=keys, set_=assignments(table.c, statement.excluded))
        _UPSERTS[(dialect, table.name)] = statement
    executemany(session, statement, rows)


def _earlier(new: Any, old: Any) -> Any:
    # CASE rather than MIN/LEAST: SQLite and PostgreSQL spell the two-argument minimum differently.
    return case((new < old, new), else_=old)


def _later(new: Any, old: Any) -> Any:
    return case((new > old, new), else_=old)


def _update_visitors(session: Session, account_id: int, events: list[Any]) -> None:
    rows: dict[str, dict[str, Any]] = {}
    new_fbc: dict[str, str] = {}
    for event in events:
        if not event.visitor_id:
            continue
        row = rows.get(event.visitor_id)
        if row is None:
            row = rows[event.visitor_id] = {
                "account_id": account_id,
                "visitor_key": event.visitor_id,
                "first_seen_at": event.occurred_at,
                "last_seen_at": event.occurred_at,
                "fbc": None,
                "fbp": None,
                "ga_client_id": None,
                "event_count": 0,
            }
        row["last_seen_at"] = event.occurred_at  # events are in time order
        row["event_count"] += 1
        # Meta's rule: a new fbclid replaces the stored fbc; otherwise the first one seen is kept.
        if event.fbclid and event.fbc:
            new_fbc[event.visitor_id] = row["fbc"] = event.fbc
        elif event.fbc and not row["fbc"]:
            row["fbc"] = event.fbc
        row["fbp"] = event.fbp or row["fbp"]
        row["ga_client_id"] = event.ga_client_id or row["ga_client_id"]
    table = table_of(Visitor)
    _upsert(
        session,
        table,
        ["account_id", "visitor_key"],
        list(rows.values()),
        lambda t, ex: {
            "first_seen_at": _earlier(ex.first_seen_at, t.first_seen_at),
            "last_seen_at": _later(ex.last_seen_at, t.last_seen_at),
            "event_count": t.event_count + ex.event_count,
            "fbc": func.coalesce(t.fbc, ex.fbc),
            "fbp": func.coalesce(ex.fbp, t.fbp),
            "ga_client_id": func.coalesce(ex.ga_client_id, t.ga_client_id),
        },
    )
    if new_fbc:
        session.execute(
            table.update()
            .where(table.c.account_id == account_id, table.c.visitor_key == bindparam("key"))
            .values(fbc=bindparam("new_fbc")),
            [{"key": key, "new_fbc": fbc} for key, fbc in new_fbc.items()],
        )


def _update_sessions(session: Session, account_id: int, events: list[Any]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        if not event.session_key:
            continue
        row = rows.get(event.session_key)
        if row is None:
            row = rows[event.session_key] = {
                "account_id": account_id,
                "session_key": event.session_key,
                "visitor_key": event.visitor_id,
                "inferred": event.session_key.startswith("inf_"),
                "started_at": event.occurred_at,
                "last_event_at": event.occurred_at,
                "event_count": 0,
                "landing_url": event.url,
                "referrer": event.referrer,
                "user_agent": event.user_agent,
                **dict.fromkeys(_SESSION_COPY),
            }
        row["last_event_at"] = event.occurred_at  # events are in time order
        row["event_count"] += 1
        row["visitor_key"] = row["visitor_key"] or event.visitor_id
        for name in _SESSION_COPY:
            if row[name] is None and getattr(event, name):
                row[name] = getattr(event, name)

    if rows:
        from app.services.campaign_matching import session_facts

        matcher = runtime.current().campaign_matchers.get(session, account_id)
        for row in rows.values():
            match = matcher.match(session_facts(row), row["started_at"])
            row["campaign_id"], row["campaign_version_id"] = match.campaign_id, match.version_id

    def assignments(t: Any, ex: Any) -> dict[str, Any]:
        earlier = ex.started_at < t.started_at
        # A late event from earlier in the visit moves the start back and is the better landing.
        return {
            "started_at": _earlier(ex.started_at, t.started_at),
            "last_event_at": _later(ex.last_event_at, t.last_event_at),
            "event_count": t.event_count + ex.event_count,
            "landing_url": case((earlier, func.coalesce(ex.landing_url, t.landing_url)), else_=t.landing_url),
            "referrer": case((earlier, func.coalesce(ex.referrer, t.referrer)), else_=t.referrer),
            "visitor_key": func.coalesce(t.visitor_key, ex.visitor_key),
            # campaign_id / campaign_version_id are not updated: tagged once, when the session row is created.
            **{name: func.coalesce(t[name], ex[name]) for name in _SESSION_COPY},
        }

    _upsert(
        session,
        table_of(VisitSession),
        ["account_id", "session_key"],
        list(rows.values()),
        assignments,
    )
    return list(rows.values())


def _is_marketing(row: dict[str, Any]) -> bool:
    return any(row[f] for f in (*UTM_FIELDS, *CLICK_ID_FIELDS))


def _click(row: dict[str, Any]) -> tuple[str | None, str | None]:
    for name in CLICK_ID_FIELDS:
        if row[name]:
            return name, row[name]
    return None, None


def _add_touches(session: Session, account_id: int, sessions: list[dict[str, Any]]) -> None:
    """One touch per session that arrived with UTM parameters or a click id; the visitor's first is marked."""
    marketing = [s for s in sessions if _is_marketing(s)]
    if not marketing:
        return
    have = set(
        session.exec(
            select(Touch.session_key).where(
                Touch.account_id == account_id, col(Touch.session_key).in_([s["session_key"] for s in marketing])
            )
        ).all()
    )
    # The touch carries the session's stored tag (set when the session was created), not this batch's match.
    tags = {
        key: (campaign_id, version_id)
        for key, campaign_id, version_id in session.exec(
            select(VisitSession.session_key, VisitSession.campaign_id, VisitSession.campaign_version_id).where(
                VisitSession.account_id == account_id,
                col(VisitSession.session_key).in_(
                    [s["session_key"] for s in marketing if s["session_key"] not in have]
                ),
            )
        ).all()
    }
    visitors = {s["visitor_key"] for s in marketing if s["visitor_key"]}
    touched_visitors = set(
        session.exec(
            select(Touch.visitor_key).where(Touch.account_id == account_id, col(Touch.visitor_key).in_(visitors))
        ).all()
    )
    new: list[dict[str, Any]] = []
    for row in sorted(marketing, key=lambda s: s["started_at"]):
        if row["session_key"] in have:
            continue
        click_type, click_id = _click(row)
        visitor = row["visitor_key"]
        new.append(
            {
                "account_id": account_id,
                "visitor_key": visitor,
                "session_key": row["session_key"],
                "touched_at": row["started_at"],
                "is_first": bool(visitor) and visitor not in touched_visitors,
                **{f: row[f] for f in UTM_FIELDS},
                "click_id_type": click_type,
                "click_id": click_id,
                "landing_url": row["landing_url"],
                "referrer": row["referrer"],
                "campaign_id": tags.get(row["session_key"], (None, None))[0],
                "campaign_version_id": tags.get(row["session_key"], (None, None))[1],
            }
        )
        have.add(row["session_key"])
        if visitor:
            touched_visitors.add(visitor)
    if new:
        insert_rows(session, table_of(Touch), new)
