"""Visitors, sessions and touches derived from stored events, after the events' own commit.

The ingest writer stores events with ``derive_pending`` set and answers; ``derive_pending`` here then folds them into
visitors, sessions and touches (and marks the rollup days) in one transaction per pass, clearing the flag in the same
transaction: each event is derived exactly once, whatever crashes in between. Passes run one at a time (the
``derive_state`` row, updated first, is the lock). The writer runs a pass within INGEST_DERIVE_DELAY_SECONDS of a
commit, the ``derive_visits`` job catches up after a restart, and checkout derives its visitor before it reads them.

Written with bulk statements (one SELECT, one executemany INSERT and one executemany UPDATE per table and batch):
the ORM's per-object flush was 90 % of the ingest time (bench/ingest.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import bindparam, case, func, literal_column
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app import runtime
from app.db import execute, executemany
from app.models import DeriveState, Event, Touch, Visitor, VisitSession
from app.models.base import table_of, utcnow
from app.services import rollups

INACTIVITY = timedelta(minutes=30)
CLICK_ID_FIELDS = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# The ad platforms' own ids of the campaign a landing came from (see app/services/platform_mapping.py).
AD_ID_FIELDS = ("utm_id", "gad_campaignid")
# A session's own columns taken from its first event.
_SESSION_FROM_EVENT = {
    "visitor_key": "visitor_id",
    "landing_url": "url",
    "referrer": "referrer",
    "user_agent": "user_agent",
}
_SESSION_COPY = (*UTM_FIELDS, *AD_ID_FIELDS, *CLICK_ID_FIELDS, "fbc", "fbp", "ga_client_id", "ga_session_id")


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
    rollups.mark_dirty(session, account_id, _days_of(sessions, zone), rollups.TRAFFIC)


def _days_of(sessions: list[dict[str, Any]], zone: Any) -> set[Any]:
    """The local days of the sessions' starts and last events. A pass's events usually span seconds: when all of
    them lie within 12 hours (no local day is that short, whatever a time zone's shifts), no day lies between the
    first's and the last's, so those are the days."""
    if not sessions:
        return set()
    first = min(row["started_at"] for row in sessions)
    last = max(row["last_event_at"] for row in sessions)
    if last - first < timedelta(hours=12):
        return {rollups.local_day(first, zone), rollups.local_day(last, zone)}
    days = {rollups.local_day(row["started_at"], zone) for row in sessions}
    return days | {rollups.local_day(row["last_event_at"], zone) for row in sessions}


# --- the deriver -------------------------------------------------------------------------------------------------

DERIVE_BATCH = 5000  # events per pass (one transaction): big enough to amortise, small enough to hold the lock briefly
_DERIVED_COLUMNS = (
    "id",
    "account_id",
    "occurred_at",
    "visitor_id",
    "session_key",
    "url",
    "referrer",
    "user_agent",
    *_SESSION_COPY,
)


def _pending_query(account_id: Any, visitor_key: Any) -> Any:
    """The stored events still to derive: all, an account's or one visitor's (values or bind parameters)."""
    table = table_of(Event)
    query = sa_select(*(table.c[name] for name in _DERIVED_COLUMNS)).where(table.c.derive_pending.is_not(None))
    if visitor_key is not None:  # a visitor's events, through (account_id, visitor_id): a few rows
        query = query.where(table.c.account_id == account_id, table.c.visitor_id == visitor_key)
    elif account_id is not None:
        query = query.where(_account_of_pending(account_id))
    return query


_PENDING_ROWS: dict[tuple[bool, bool], Any] = {}


def _pending_rows(by_account: bool, by_visitor: bool) -> Any:
    """``_pending_query``'s columns, oldest first, as one statement per filter built once (``db.execute`` keeps
    its compiled form): ``account_id``, ``visitor_key`` and ``limit`` are parameters."""
    statement = _PENDING_ROWS.get((by_account, by_visitor))
    if statement is None:
        query = _pending_query(
            bindparam("account_id") if by_account else None, bindparam("visitor_key") if by_visitor else None
        )
        statement = _PENDING_ROWS.setdefault(
            (by_account, by_visitor), query.order_by(table_of(Event).c.id).limit(bindparam("limit"))
        )
    return statement


def _account_of_pending(account_id: Any) -> Any:
    """``account_id = ?`` that no index serves (unary plus, valid on SQLite and PostgreSQL): SQLite would otherwise
    scan the account's every event through (account_id, visitor_id) rather than the few pending ones through the
    partial index."""
    return literal_column(f"+{table_of(Event).name}.account_id") == account_id


def has_pending(session: Session, *, account_id: int | None = None, visitor_key: str | None = None) -> bool:
    """Whether stored events wait to be derived (all of them, an account's, or one visitor's): an index lookup."""
    query = _pending_query(account_id, visitor_key).with_only_columns(table_of(Event).c.id).limit(1)
    return session.execute(query).first() is not None


def oldest_pending(session: Session) -> datetime | None:
    """When the oldest event still to derive (any account) was received; None when there is none."""
    return _first_pending_received(session)


def derived_up_to(session: Session, account_id: int) -> datetime | None:
    """Until when the account's visitors, sessions and touches include every stored event: None when they are up
    to date, else the receipt time of the oldest event still waiting (the overview shows the lag)."""
    return _first_pending_received(session, _account_of_pending(account_id))


def _first_pending_received(session: Session, *where: Any) -> datetime | None:
    # The first pending id through the partial index, then its row: MIN(received_at) would read every pending row.
    table = table_of(Event)
    first_id = session.execute(
        sa_select(func.min(table.c.id)).where(table.c.derive_pending.is_not(None), *where)
    ).scalar()
    if first_id is None:
        return None
    received: datetime | None = session.execute(sa_select(table.c.received_at).where(table.c.id == first_id)).scalar()
    return received


def derive_pending(
    session: Session,
    *,
    account_id: int | None = None,
    visitor_key: str | None = None,
    limit: int = DERIVE_BATCH,
) -> int:
    """Derive up to ``limit`` stored events (the oldest first; all accounts, one account, or one visitor's) into
    visitors, sessions and touches, and clear their flag. No commit: the caller commits (or rolls back all of it).
    Returns how many events were derived; fewer than ``limit`` means none are left.
    """
    if not has_pending(session, account_id=account_id, visitor_key=visitor_key):
        return 0
    _lock(session)
    # On the driver's cursor (db.execute): plain named tuples, whose attributes cost a fraction of a SQLAlchemy
    # row's; the few events whose session key is to be inferred become mutable copies (infer_sessions sets it).
    rows = execute(
        session.connection(),
        _pending_rows(account_id is not None, visitor_key is not None),
        {"account_id": account_id, "visitor_key": visitor_key, "limit": limit},
    ).rows
    if not rows:
        return 0
    by_account: dict[int, list[Any]] = {}
    inferred: list[Any] = []
    for row in rows:
        carrier = row
        if not row.session_key and row.visitor_id:
            carrier = SimpleNamespace(**row._asdict())
            inferred.append(carrier)
        by_account.setdefault(row.account_id, []).append(carrier)
    # Accounts in one order in every process, as the writer takes them: no deadlock on PostgreSQL.
    for account, events in sorted(by_account.items()):
        infer_sessions(session, account, events)
        apply_events(session, account, events)
    table = table_of(Event)
    if inferred:  # the events' own rows get the session key inferred for them
        executemany(
            session,
            _STATEMENTS.setdefault(
                "event_key",
                table.update().where(table.c.id == bindparam("event_pk")).values(session_key=bindparam("key")),
            ),
            [{"event_pk": e.id, "key": e.session_key} for e in inferred],
        )
    # One statement for the whole pass: an executemany of per-row updates cost as much as the insert itself.
    clear = _STATEMENTS.setdefault(
        "event_clear",
        table.update().where(table.c.id.in_(bindparam("ids", expanding=True))).values(derive_pending=None),
    )
    session.execute(clear, {"ids": [row[0] for row in rows]})
    state = table_of(DeriveState)
    session.execute(state.update().where(state.c.id == 1).values(derived_events=state.c.derived_events + len(rows)))
    return len(rows)


_STATEMENTS: dict[str, Any] = {}


def skip_oldest_pending(
    session: Session, *, account_id: int | None = None, visitor_key: str | None = None
) -> int | None:
    """Clear the flag of the oldest event still to derive without deriving it (it made its pass fail); returns its
    id. No commit."""
    _lock(session)
    table = table_of(Event)
    row = session.execute(
        _pending_query(account_id, visitor_key).with_only_columns(table.c.id).order_by(table.c.id).limit(1)
    ).first()
    if row is None:
        return None
    session.execute(table.update().where(table.c.id == row[0]).values(derive_pending=None))
    return int(row[0])


def derive_all_pending(session: Session, *, account_id: int | None = None, visitor_key: str | None = None) -> int:
    """``derive_pending`` until nothing is left, in the caller's transaction (checkout for its visitor, the demo for
    its account); returns how many events were derived."""
    total = 0
    while True:
        done = derive_pending(session, account_id=account_id, visitor_key=visitor_key)
        total += done
        if done < DERIVE_BATCH:
            return total


def _lock(session: Session) -> None:
    """Take the deriver's lock for the rest of the transaction: a write to the ``derive_state`` row (the row lock on
    PostgreSQL; on SQLite, where a transaction begins at its first write, the database's write lock, so the reads
    that follow see every commit before it)."""
    table = table_of(DeriveState)
    dialect = session.get_bind().dialect.name
    statement = _UPSERTS.get((dialect, table.name))
    if statement is None:
        statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        statement = statement.on_conflict_do_update(
            index_elements=["id"],
            set_={"passes": table.c.passes + 1, "last_pass_at": statement.excluded.last_pass_at},
        )
        _UPSERTS[(dialect, table.name)] = statement
    session.execute(statement, {"id": 1, "passes": 1, "derived_events": 0, "last_pass_at": utcnow()})


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
    for group in _by_shape(_without_none(rows)).values():
        executemany(session, statement, group)


def _without_none(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The scan for a None is C; most ingest rows carry only values already (services/ingest.enrich).
    return [r if None not in r.values() else {k: v for k, v in r.items() if v is not None} for r in rows]


_UPSERTS: dict[tuple[str, str], Any] = {}
_INSERTS: dict[str, Any] = {}


def _upsert(
    session: Session,
    table: Any,
    keys: list[str],
    rows: list[dict[str, Any]],
    assignments: Callable[[Any, Any], dict[str, Any]],
) -> None:
    """One executemany ``INSERT … ON CONFLICT (keys) DO UPDATE`` per row shape: the same SQL on SQLite, libSQL and
    PostgreSQL, and no need to read the rows first. The statement is built once per dialect (building it costs
    ~1 ms). Columns a row leaves empty are left out of its INSERT (a session's dozen empty UTM and click-id columns
    were half its cost; binding them as NULL doubles SQLite's own time for the upsert): none of these tables has a
    server default, so they are NULL either way, and so is their ``excluded`` value in the update."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = _UPSERTS.get((dialect, table.name))
    if statement is None:
        statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        statement = statement.on_conflict_do_update(index_elements=keys, set_=assignments(table.c, statement.excluded))
        _UPSERTS[(dialect, table.name)] = statement
    for group in _by_shape(_without_none(rows)).values():
        executemany(session, statement, group)


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
            # Only the columns that have values (see _upsert): fbc, fbp and ga_client_id once an event has them.
            row = rows[event.visitor_id] = {
                "account_id": account_id,
                "visitor_key": event.visitor_id,
                "first_seen_at": event.occurred_at,
                "last_seen_at": event.occurred_at,
                "event_count": 0,
            }
        row["last_seen_at"] = event.occurred_at  # events are in time order
        row["event_count"] += 1
        # Meta's rule: a new fbclid replaces the stored fbc; otherwise the first one seen is kept.
        if event.fbclid and event.fbc:
            new_fbc[event.visitor_id] = row["fbc"] = event.fbc
        elif event.fbc and not row.get("fbc"):
            row["fbc"] = event.fbc
        if event.fbp:
            row["fbp"] = event.fbp
        if event.ga_client_id:
            row["ga_client_id"] = event.ga_client_id
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
    missing: dict[str, list[str]] = {}  # per session, the copied fields still empty
    for event in events:
        key = event.session_key
        if not key:
            continue
        row = rows.get(key)
        if row is None:
            # The session's first event: its copied fields as they are (an empty value counts as none). Only the
            # columns that have values (see _upsert): a session's row has no key for what it lacks.
            row = rows[key] = {
                "account_id": account_id,
                "session_key": key,
                "inferred": key.startswith("inf_"),
                "started_at": event.occurred_at,
                "last_event_at": event.occurred_at,
                "event_count": 1,
            }
            for name, field in _SESSION_FROM_EVENT.items():
                value = getattr(event, field)
                if value is not None:
                    row[name] = value
            empty = missing[key] = []
            for name in _SESSION_COPY:
                value = getattr(event, name)
                if value:
                    row[name] = value
                else:
                    empty.append(name)
            continue
        row["last_event_at"] = event.occurred_at  # events are in time order
        row["event_count"] += 1
        if not row.get("visitor_key") and event.visitor_id:
            row["visitor_key"] = event.visitor_id
        empty = missing[key]
        for name in tuple(empty):  # the first value each field gets, in time order
            value = getattr(event, name)
            if value:
                row[name] = value
                empty.remove(name)

    if rows:
        from app.services.campaign_matching import UNMATCHED, session_facts

        matcher = runtime.current().campaign_matchers.get(session, account_id)
        for row in rows.values():
            # No campaign to match: no session's facts to gather (most of a pass's Python per session).
            match = matcher.match(session_facts(row), row["started_at"]) if matcher.candidates else UNMATCHED
            if match.campaign_id is not None:
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


_MARKETING_FIELDS = (*UTM_FIELDS, *AD_ID_FIELDS, *CLICK_ID_FIELDS)


def _is_marketing(row: dict[str, Any]) -> bool:
    # A session's row has keys only for the fields that have values.
    return any(map(row.get, _MARKETING_FIELDS))


def _click(row: dict[str, Any]) -> tuple[str | None, str | None]:
    for name in CLICK_ID_FIELDS:
        if row.get(name):
            return name, row[name]
    return None, None


_touch, _session = table_of(Touch), table_of(VisitSession)
# Core statements built once (the ORM's selects were a third of a derivation pass's touches).
_TOUCH_SESSIONS = sa_select(_touch.c.session_key).where(
    _touch.c.account_id == bindparam("account_id"), _touch.c.session_key.in_(bindparam("keys", expanding=True))
)
_SESSION_TAGS = sa_select(_session.c.session_key, _session.c.campaign_id, _session.c.campaign_version_id).where(
    _session.c.account_id == bindparam("account_id"), _session.c.session_key.in_(bindparam("keys", expanding=True))
)
_TOUCHED_VISITORS = sa_select(_touch.c.visitor_key).where(
    _touch.c.account_id == bindparam("account_id"), _touch.c.visitor_key.in_(bindparam("visitors", expanding=True))
)


def _add_touches(session: Session, account_id: int, sessions: list[dict[str, Any]]) -> None:
    """One touch per session that arrived with UTM parameters or a click id; the visitor's first is marked."""
    marketing = [s for s in sessions if _is_marketing(s)]
    if not marketing:
        return
    keys = [s["session_key"] for s in marketing]
    have = set(session.execute(_TOUCH_SESSIONS, {"account_id": account_id, "keys": keys}).scalars())
    # The touch carries the session's stored tag (set when the session was created), not this batch's match.
    untouched = [key for key in keys if key not in have]
    if not untouched:
        return
    tags = {
        key: (campaign_id, version_id)
        for key, campaign_id, version_id in session.execute(
            _SESSION_TAGS, {"account_id": account_id, "keys": untouched}
        ).all()
    }
    visitors = list({s["visitor_key"] for s in marketing if s.get("visitor_key")})
    touched_visitors = set(
        session.execute(_TOUCHED_VISITORS, {"account_id": account_id, "visitors": visitors}).scalars()
    )
    new: list[dict[str, Any]] = []
    for row in sorted(marketing, key=lambda s: s["started_at"]):
        if row["session_key"] in have:
            continue
        click_type, click_id = _click(row)
        visitor = row.get("visitor_key")
        new.append(
            {
                "account_id": account_id,
                "visitor_key": visitor,
                "session_key": row["session_key"],
                "touched_at": row["started_at"],
                "is_first": bool(visitor) and visitor not in touched_visitors,
                **{f: row.get(f) for f in (*UTM_FIELDS, *AD_ID_FIELDS)},
                "click_id_type": click_type,
                "click_id": click_id,
                "landing_url": row.get("landing_url"),
                "referrer": row.get("referrer"),
                "campaign_id": tags.get(row["session_key"], (None, None))[0],
                "campaign_version_id": tags.get(row["session_key"], (None, None))[1],
            }
        )
        have.add(row["session_key"])
        if visitor:
            touched_visitors.add(visitor)
    if new:
        insert_rows(session, table_of(Touch), new)
