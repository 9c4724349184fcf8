"""Daily rollups: what one calendar day (in the account's timezone) contributes to the dashboard, kept in
``rollup_traffic`` / ``rollup_sales`` (and, by ad set and ad, in ``rollup_ad_traffic`` / ``rollup_ad_sales``:
``services/ad_rollups``), computed by the rules of ``services/rollup_rules``.

Incremental without cursors: the transaction that changes raw data (the ingest writer for sessions, a webhook
for payments and refunds) marks the days it touched dirty, and the ``update_rollups`` job recomputes exactly those
days with the same functions a full rebuild uses. So incremental and rebuilt rollups are equal by construction,
whatever order data arrives in, on every database (no id cursor that a late PostgreSQL commit could skip).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Subquery, bindparam, delete, union_all
from sqlalchemy import select as sa_select  # sqlmodel's select types at most four columns
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.db import execute, executemany, write_lock
from app.models import (
    Account,
    CustomerDirty,
    Order,
    Payment,
    Refund,
    RollupDirty,
    SalesRollup,
    TrafficRollup,
    VisitSession,
)
from app.models.base import table_of, utcnow
from app.services import orders as order_rules
from app.services.ad_rollups import (
    AdSalesKey,
    ad_sales_between,
    ad_sales_for_day,
    ad_traffic_between,
    ad_traffic_for_day,
    clear_ad_rollups,
    recompute_ad_day,
)
from app.services.days import time_zone
from app.services.orders import customer_key, customer_key_of
from app.services.rollup_rules import (
    FIRST_PAYMENTS,
    IMPORTED,
    MICRO,
    MODELS,
    SALES,
    SALES_MEASURES,
    TRAFFIC,
    MoneyMoves,
    SalesKey,
    _is_new,
    converted_sessions,
    day_bounds,
    local_day,
    money_moves,
    order_credits,
    sales_between,
    sales_for_day,
    traffic_between,
    traffic_for_day,
)

# What callers read as ``rollups.<name>``: the rules and the ad-level rows live in their own modules.
__all__ = [
    "FIRST_PAYMENTS", "IMPORTED", "MICRO", "MODELS", "SALES", "SALES_MEASURES", "TRAFFIC", "AdSalesKey", "MoneyMoves",
    "SalesKey", "_is_new", "account_zone", "ad_sales_between", "ad_sales_for_day", "ad_traffic_between",
    "ad_traffic_for_day", "converted_session_start", "converted_sessions", "customer_key", "day_bounds", "local_day",
    "mark_customers_dirty", "mark_dirty", "mark_order_dirty", "money_moves", "order_credits", "rebuild",
    "recompute_day", "refresh_dirty", "sales_between", "sales_for_day", "traffic_between", "traffic_for_day",
]  # fmt: skip


# --- days in the account's timezone ---------------------------------------------------------------------------------


def account_zone(session: Session, account_id: int) -> ZoneInfo:
    """The account's time zone (its days start there)."""
    return time_zone(execute(session.connection(), _TIMEZONE, {"account_id": account_id}).scalar() or "UTC")


# Statements every paid order's webhook runs, built once (building one costs more than running it), as Core
# statements run on the session's connection: plain rows, none of the ORM's execution (about 0.1 ms each).
_ACCOUNTS, _ORDERS, _PAYMENTS, _REFUNDS = table_of(Account), table_of(Order), table_of(Payment), table_of(Refund)
_SESSIONS = table_of(VisitSession)
_TIMEZONE = sa_select(_ACCOUNTS.c.timezone).where(_ACCOUNTS.c.id == bindparam("account_id"))
# The times an order's money moved (its payments and refunds) and the next order by payment time of the customer
# key it has and of the key it had before (one row of ix_order_customer each: account, customer, paid_at), in one
# statement.


def _next_order(key: str) -> Subquery:
    return (
        sa_select(_ORDERS.c.paid_at)
        .where(
            _ORDERS.c.account_id == bindparam("account_id"),
            _ORDERS.c.customer_key == bindparam(key),
            _ORDERS.c.paid_at > bindparam("paid_at"),
        )
        .order_by(_ORDERS.c.paid_at)
        .limit(1)
        .subquery()
    )


_NEXT_ORDER, _OLD_KEYS_NEXT_ORDER = _next_order("key"), _next_order("old_key")
_ORDER_DAYS = union_all(
    sa_select(_PAYMENTS.c.paid_at).where(_PAYMENTS.c.order_id == bindparam("order_id")),
    sa_select(_REFUNDS.c.refunded_at).where(_REFUNDS.c.order_id == bindparam("order_id")),
    sa_select(_NEXT_ORDER.c.paid_at),
    sa_select(_OLD_KEYS_NEXT_ORDER.c.paid_at),
)
_DIRTY: dict[str, Any] = {}
_CUSTOMER_DIRTY: dict[str, Any] = {}


# --- dirty days -----------------------------------------------------------------------------------------------------


def mark_dirty(session: Session, account_id: int, days: Iterable[date], kind: str) -> None:
    """Mark days for recomputation, in the caller's transaction (an upsert: marking twice is one row)."""
    now = utcnow()
    rows = [{"account_id": account_id, "day": d, "kind": kind, "marked_at": now} for d in sorted(set(days))]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = _DIRTY.get(dialect)
    if statement is None:
        statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table_of(RollupDirty))
        statement = _DIRTY[dialect] = statement.on_conflict_do_update(
            index_elements=["account_id", "day", "kind"], set_={"marked_at": statement.excluded.marked_at}
        )
    _upsert(session, statement, rows)


def mark_customers_dirty(session: Session, account_id: int, keys: Iterable[str]) -> None:
    """Mark customers whose lifetime rows (``services/lifetime``) must be recomputed, in the caller's transaction."""
    now = utcnow()
    rows = [{"account_id": account_id, "customer_key": key, "marked_at": now} for key in sorted(set(keys))]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = _CUSTOMER_DIRTY.get(dialect)
    if statement is None:
        statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table_of(CustomerDirty))
        statement = _CUSTOMER_DIRTY[dialect] = statement.on_conflict_do_update(
            index_elements=["account_id", "customer_key"], set_={"marked_at": statement.excluded.marked_at}
        )
    _upsert(session, statement, rows)


def _upsert(session: Session, statement: Any, rows: list[dict[str, Any]]) -> None:
    """The marks on the session's connection: one row (a webhook's usual case) on the driver's cursor, several in
    one ``executemany`` (app/db.py). Marks depend on nothing the session holds unflushed."""
    if len(rows) == 1:
        execute(session.connection(), statement, rows[0])
    else:
        executemany(session, statement, rows)


def converted_session_start(session: Session, order: Order) -> datetime | None:
    """When the session this order's checkout converted started (see ``converted_sessions``), or None."""
    connection = session.connection()
    if order.session_key:
        found = connection.execute(_SESSION_START, {"account_id": order.account_id, "key": order.session_key})
        return found.scalar()
    if not order.visitor_id:
        return None
    return connection.execute(
        _VISITOR_SESSION_START, {"account_id": order.account_id, "visitor": order.visitor_id, "at": order.created_at}
    ).scalar()


_SESSION_START = sa_select(_SESSIONS.c.started_at).where(
    _SESSIONS.c.account_id == bindparam("account_id"), _SESSIONS.c.session_key == bindparam("key")
)
_VISITOR_SESSION_START = (
    sa_select(_SESSIONS.c.started_at)
    .where(
        _SESSIONS.c.account_id == bindparam("account_id"),
        _SESSIONS.c.visitor_key == bindparam("visitor"),
        _SESSIONS.c.started_at <= bindparam("at"),
    )
    .order_by(_SESSIONS.c.started_at.desc(), _SESSIONS.c.id.desc())
    .limit(1)
)


def mark_order_dirty(session: Session, order: Order) -> None:
    """The days an order's money touches, and the day of the same customer's order it may have turned returning;
    and the traffic day of the session it converted (a payment turns that session into a converted one); and the
    customer (their lifetime value rows).

    A customer is new on their first paid order only (``_new_orders``). Paying this order can take "first" from one
    order at most, the one that held it, which is then the next order by payment time; the orders after it were
    returning and stay so. So one row of the index, not every later order of the customer (a frequent buyer has
    thousands): marking the next order's day when this one is not first is harmless (its figures do not change).

    When the order's customer key changes (an e-mail learnt later moves it from Stripe's customer to the e-mail), the
    order leaves its old key too: if it was that key's first order, the old key's next order becomes its first (a
    new customer), so that order's day is marked as well."""
    session.flush()  # the reads below are Core on the connection: they see what is stored, refunds added included
    connection = session.connection()
    zone = account_zone(session, order.account_id)
    key = customer_key(order)
    old_key = order.customer_key or key
    # The customer's lifetime rows, and those of the key the order had before (an e-mail learnt later moves it).
    mark_customers_dirty(session, order.account_id, {key, old_key})
    if order.customer_key != key:
        order.customer_key = key
        order_rules.save(session, order)
    # An unpaid order has no next order (``paid_at > NULL``); an ``order:`` key is this order's alone. The order is
    # stored under its new key now: the old key's next order is another order.
    moments = execute(
        connection,
        _ORDER_DAYS,
        {"order_id": order.id, "account_id": order.account_id, "key": key, "old_key": old_key,
         "paid_at": order.paid_at},
    ).scalars()  # fmt: skip
    mark_dirty(session, order.account_id, {local_day(at, zone) for at in moments if at is not None}, SALES)
    converted = converted_session_start(session, order)
    if converted is not None:
        mark_dirty(session, order.account_id, [local_day(converted, zone)], TRAFFIC)


# --- recomputing days -----------------------------------------------------------------------------------------------


def recompute_day(session: Session, account_id: int, day: date, kind: str, zone: ZoneInfo | None = None) -> None:
    """Replace one day's rollup rows with what the raw tables say now (in the caller's transaction), the rows by ad
    set and ad included (the last section)."""
    zone = zone or account_zone(session, account_id)
    start, end = day_bounds(day, zone)
    if kind == TRAFFIC:
        session.execute(
            delete(TrafficRollup).where(col(TrafficRollup.account_id) == account_id, col(TrafficRollup.day) == day)
        )
        converted: dict[int, set[int]] = {}  # the ad-level rows count the same converted sessions
        rows = [{"day": day, **row} for row in traffic_between(session, account_id, start, end, orders=converted)]
        if rows:
            session.execute(table_of(TrafficRollup).insert(), rows)
        recompute_ad_day(session, account_id, day, TRAFFIC, zone, converted=converted)
        return
    session.execute(delete(SalesRollup).where(col(SalesRollup.account_id) == account_id, col(SalesRollup.day) == day))
    moves = money_moves(session, account_id, start, end)  # read once for both levels
    sales = sales_between(session, account_id, start, end, moves=moves)
    recompute_ad_day(session, account_id, day, SALES, zone, moves=moves)
    rows = [
        {"account_id": account_id, "day": day, "model": m, "campaign_id": c, "campaign_version_id": v,
         "product_id": product, "price_id": price, "currency": currency, **measures}
        for (m, c, v, product, price, currency), measures in sales.items()
    ]  # fmt: skip
    if rows:
        session.execute(table_of(SalesRollup).insert(), rows)


_MARKED = table_of(RollupDirty)
_MARKS = (
    sa_select(_MARKED.c.account_id, _MARKED.c.day, _MARKED.c.kind, _MARKED.c.marked_at)
    .order_by(_MARKED.c.marked_at)
    .limit(bindparam("limit"))
)
# A day's mark goes unless it was marked again meanwhile.
_CLEAR = _MARKED.delete().where(
    _MARKED.c.account_id == bindparam("account_id"),
    _MARKED.c.day == bindparam("day"),
    _MARKED.c.kind == bindparam("kind"),
    _MARKED.c.marked_at <= bindparam("at"),
)


def refresh_dirty(session: Session, *, limit: int = 500) -> int:
    """Recompute the dirty days (oldest mark first) and clear their marks unless they were marked again meanwhile.
    Returns how many days were recomputed."""
    marks = [(int(a), d, str(k), m) for a, d, k, m in session.execute(_MARKS, {"limit": limit}).all()]
    zones = {account_id: account_zone(session, account_id) for account_id in {mark[0] for mark in marks}}
    session.rollback()  # end the reads before the writes: no connection is held while waiting for the lock
    for account_id, day, kind, marked_at in marks:
        with write_lock:
            recompute_day(session, account_id, day, kind, zones[account_id])
            execute(session.connection(), _CLEAR, {"account_id": account_id, "day": day, "kind": kind, "at": marked_at})
            session.commit()
    return len(marks)


def _backfill_customer_keys(session: Session, account_id: int) -> None:
    """Orders written before ``customer_key`` existed (or by bulk loads) get theirs, in one executemany."""
    rows = session.exec(
        select(Order.id, Order.customer_email, Order.customer_id).where(
            Order.account_id == account_id, col(Order.customer_key).is_(None)
        )
    ).all()
    updates = [
        {"order_id": order_id, "key": customer_key_of(order_id=order_id, email=email, customer_id=customer)}
        for order_id, email, customer in rows
    ]
    if updates:
        table = table_of(Order)
        session.execute(
            table.update().where(table.c.id == bindparam("order_id")).values(customer_key=bindparam("key")), updates
        )


def rebuild(session: Session, account_id: int) -> tuple[int, int]:
    """Recompute every day that has sessions, payments or refunds; returns (traffic days, sales days)."""
    zone = account_zone(session, account_id)
    _backfill_customer_keys(session, account_id)
    session.execute(delete(TrafficRollup).where(col(TrafficRollup.account_id) == account_id))
    session.execute(delete(SalesRollup).where(col(SalesRollup.account_id) == account_id))
    session.execute(delete(RollupDirty).where(col(RollupDirty.account_id) == account_id))
    clear_ad_rollups(session, account_id)
    traffic_days = {
        local_day(at, zone)
        for at in session.exec(select(VisitSession.started_at).where(VisitSession.account_id == account_id))
    }
    sales_days = {
        local_day(at, zone) for at in session.exec(select(Payment.paid_at).where(Payment.account_id == account_id))
    } | {local_day(at, zone) for at in session.exec(select(Refund.refunded_at).where(Refund.account_id == account_id))}
    for day in sorted(traffic_days):
        recompute_day(session, account_id, day, TRAFFIC, zone)
    for day in sorted(sales_days):
        recompute_day(session, account_id, day, SALES, zone)
    session.commit()
    return len(traffic_days), len(sales_days)
