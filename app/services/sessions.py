"""Visitors, sessions and touches derived from newly stored events, inside the writer's transaction.

Written with bulk statements (one SELECT, one executemany INSERT and one executemany UPDATE per table and batch):
the ORM's per-object flush was 90 % of the ingest time (bench/ingest.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from app.models import Touch, Visitor, VisitSession

INACTIVITY = timedelta(minutes=30)
CLICK_ID_FIELDS = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_SESSION_COPY = (*UTM_FIELDS, *CLICK_ID_FIELDS, "fbc", "fbp", "ga_client_id", "ga_session_id")
_SESSION_COLUMNS = (
    "id",
    "session_key",
    "visitor_key",
    "inferred",
    "started_at",
    "last_event_at",
    "event_count",
    "landing_url",
    "referrer",
    "user_agent",
    *_SESSION_COPY,
)
_VISITOR_COLUMNS = (
    "id",
    "visitor_key",
    "first_seen_at",
    "last_seen_at",
    "fbc",
    "fbp",
    "ga_client_id",
    "event_count",
)


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
    """Give events without a client session id a server-side one: same visitor, 30 minutes of inactivity.

    Called before the events are inserted, so they are stored with the key.
    """
    pending = sorted((e for e in events if not e.session_key and e.visitor_id), key=lambda e: e.occurred_at)
    if not pending:
        return
    rows = session.exec(
        select(VisitSession.visitor_key, VisitSession.session_key, VisitSession.last_event_at)
        .where(
            VisitSession.account_id == account_id,
            col(VisitSession.visitor_key).in_({e.visitor_id for e in pending}),
            col(VisitSession.inferred).is_(True),
        )
        .order_by(col(VisitSession.last_event_at))
    ).all()
    last: dict[str, tuple[str, datetime]] = {visitor: (key, seen) for visitor, key, seen in rows if visitor}
    for event in pending:
        current = last.get(event.visitor_id)
        if current is not None and event.occurred_at - current[1] <= INACTIVITY:
            key, seen = current[0], max(current[1], event.occurred_at)
        else:
            key, seen = f"inf_{secrets.token_hex(12)}", event.occurred_at
        last[event.visitor_id] = (key, seen)
        event.session_key = key


def apply_events(session: Session, account_id: int, events: Iterable[Any]) -> None:
    """Update visitors, sessions and touches for ``events`` (already inserted, none of them duplicates)."""
    ordered = sorted(events, key=lambda e: e.occurred_at)
    if not ordered:
        return
    _update_visitors(session, account_id, ordered)
    sessions = _update_sessions(session, account_id, ordered)
    _add_touches(session, account_id, sessions)


def _load(
    session: Session, model: Any, columns: tuple[str, ...], key: str, account_id: int, keys: set[str]
) -> dict[str, dict[str, Any]]:
    """Existing rows as dicts; each keeps a copy of what was loaded under ``_loaded`` to update only changes."""
    table = model.__table__
    query = select(*[table.c[c] for c in columns]).where(table.c.account_id == account_id, table.c[key].in_(keys))
    rows = {}
    for mapping in session.execute(query).mappings():
        row = dict(mapping)
        row["_loaded"] = dict(mapping)
        rows[row[key]] = row
    return rows


def _by_shape(rows: list[dict[str, Any]]) -> dict[frozenset[str], list[dict[str, Any]]]:
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return groups


def insert_rows(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """executemany INSERTs of only the columns that have values, one statement per row shape.

    Most rows share a shape, and skipping the many empty columns halves the per-row cost (bench/ingest.py).
    """
    for group in _by_shape([{k: v for k, v in r.items() if v is not None} for r in rows]).values():
        session.execute(table.insert(), group)


def _save(session: Session, model: Any, account_id: int, rows: dict[str, dict[str, Any]]) -> None:
    """New rows inserted, existing ones updated in the columns that changed (Core executemany, by shape)."""
    table = model.__table__
    new: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for row in rows.values():
        loaded = row.pop("_loaded", None)
        if loaded is None:
            new.append({k: v for k, v in row.items() if k != "id"} | {"account_id": account_id})
            continue
        changed = {k: v for k, v in row.items() if k != "id" and loaded.get(k) != v}
        if changed:
            changes.append(changed | {"row_id": row["id"]})
    if new:
        insert_rows(session, table, new)
    for shape, group in _by_shape(changes).items():
        values = {k: bindparam(k) for k in shape if k != "row_id"}
        session.execute(table.update().where(table.c.id == bindparam("row_id")).values(values), group)


def _update_visitors(session: Session, account_id: int, events: list[Any]) -> None:
    keys = {e.visitor_id for e in events if e.visitor_id}
    if not keys:
        return
    rows = _load(session, Visitor, _VISITOR_COLUMNS, "visitor_key", account_id, keys)
    touched: dict[str, dict[str, Any]] = {}
    for event in events:
        if not event.visitor_id:
            continue
        row = rows.get(event.visitor_id)
        if row is None:
            row = rows[event.visitor_id] = {
                "id": None,
                "visitor_key": event.visitor_id,
                "first_seen_at": event.occurred_at,
                "last_seen_at": event.occurred_at,
                "fbc": None,
                "fbp": None,
                "ga_client_id": None,
                "event_count": 0,
            }
        row["first_seen_at"] = min(row["first_seen_at"], event.occurred_at)
        row["last_seen_at"] = max(row["last_seen_at"], event.occurred_at)
        row["event_count"] += 1
        # Meta's rule: a new fbclid replaces the stored fbc; otherwise keep the first one we saw.
        if (event.fbclid and event.fbc) or (event.fbc and not row["fbc"]):
            row["fbc"] = event.fbc
        row["fbp"] = event.fbp or row["fbp"]
        row["ga_client_id"] = event.ga_client_id or row["ga_client_id"]
        touched[event.visitor_id] = row
    _save(session, Visitor, account_id, touched)


def _update_sessions(session: Session, account_id: int, events: list[Any]) -> list[dict[str, Any]]:
    keys = {e.session_key for e in events if e.session_key}
    if not keys:
        return []
    rows = _load(session, VisitSession, _SESSION_COLUMNS, "session_key", account_id, keys)
    touched: dict[str, dict[str, Any]] = {}
    for event in events:
        if not event.session_key:
            continue
        row = rows.get(event.session_key)
        if row is None:
            row = rows[event.session_key] = dict.fromkeys(_SESSION_COLUMNS) | {
                "session_key": event.session_key,
                "visitor_key": event.visitor_id,
                "inferred": event.session_key.startswith("inf_"),
                "started_at": event.occurred_at,
                "last_event_at": event.occurred_at,
                "event_count": 0,
                "landing_url": event.url,
                "referrer": event.referrer,
                "user_agent": event.user_agent,
            }
        elif event.occurred_at < row["started_at"]:
            # A late event from earlier in the visit: it is the better landing.
            row["started_at"] = event.occurred_at
            row["landing_url"] = event.url or row["landing_url"]
            row["referrer"] = event.referrer or row["referrer"]
        row["last_event_at"] = max(row["last_event_at"], event.occurred_at)
        row["event_count"] += 1
        row["visitor_key"] = row["visitor_key"] or event.visitor_id
        for name in _SESSION_COPY:
            if row[name] is None and getattr(event, name):
                row[name] = getattr(event, name)
        touched[event.session_key] = row
    _save(session, VisitSession, account_id, touched)
    return list(touched.values())


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
            }
        )
        have.add(row["session_key"])
        if visitor:
            touched_visitors.add(visitor)
    if new:
        insert_rows(session, Touch.__table__, new)  # type: ignore[attr-defined]
