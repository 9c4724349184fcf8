"""Daily rollups: what one calendar day (in the account's timezone) contributes to the dashboard, computed from the
raw tables by one function per kind, and kept in ``rollup_traffic`` / ``rollup_sales`` (and, by ad set and ad, in
``rollup_ad_traffic`` / ``rollup_ad_sales``: the last section).

Incremental without cursors: the transaction that changes raw data (the ingest writer for sessions, a webhook
for payments and refunds) marks the days it touched dirty, and the ``update_rollups`` job recomputes exactly those
days with the same functions a full rebuild uses. So incremental and rebuilt rollups are equal by construction,
whatever order data arrives in, on every database (no id cursor that a late PostgreSQL commit could skip).

Traffic rules: a session counts on the day it started, under the campaign version it was tagged with; it is converted
when a checkout in it got paid (``converted_sessions``), so a payment also marks its session's day. Test events make
no session.

Sales rules (one place; the metrics service reads them through the rollups or calls them on the fly):
- an order's first payment (one-off or a subscription's first invoice) counts as one order on the day it was paid,
  with its amount as gross revenue; renewals count on their own days; refunds on the day they happened;
- credit goes to campaign versions by the attribution model, with the order's snapshot (touches up to checkout);
  counts are split in millionths and money in minor units by the largest-remainder method (exact sums);
- an order's money is split across its items by their catalogue amounts; a product row counts the orders that
  contain the product (an order with two products counts once for each, and once in the order-level row);
- a customer (e-mail, else Stripe customer, else the order) is new on the first order they paid, returning after.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Subquery, and_, bindparam, delete, exists, func, union_all
from sqlalchemy import select as sa_select  # sqlmodel's select types at most four columns
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.db import execute, executemany, write_lock
from app.models import (
    Account,
    AdSalesRollup,
    AdTrafficRollup,
    AttributionModel,
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
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, TouchPoint, credit, split_by_shares
from app.services.days import time_zone
from app.services.orders import customer_key, customer_key_of

MICRO = 1_000_000
TRAFFIC, SALES = "traffic", "sales"
MODELS = tuple(m.value for m in AttributionModel)
SALES_MEASURES = ("orders_micro", "new_customers_micro", "gross", "renewals_micro", "renewal_revenue", "refunds")


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


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` of a local calendar day in UTC (23 or 25 hours on DST changes)."""
    start = datetime.combine(day, time.min, zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, zone).astimezone(UTC)
    return start, end


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


# --- traffic --------------------------------------------------------------------------------------------------------


def traffic_for_day(session: Session, account_id: int, day: date, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Sessions and distinct visitors per campaign version on one day."""
    start, end = day_bounds(day, zone)
    return [{"day": day, **row} for row in traffic_between(session, account_id, start, end)]


FIRST_PAYMENTS = ("one_off", "first")


def converted_sessions(
    session: Session,
    account_id: int,
    start: datetime,
    end: datetime,
    *,
    product: str | None = None,
    orders: dict[int, set[int]] | None = None,
    version_id: int | None = None,
) -> list[tuple[datetime, int, int]]:
    """The sessions that started in ``[start, end)`` and converted, as (start, campaign, version; 0: none).

    A session converted when a checkout started in it and its order got paid (a one-off payment or a subscription's
    first invoice; a later refund does not undo it). The checkout names its session (``session_id``); one that names
    none converted the visitor's latest session started at or before the checkout. With ``product``, only orders
    containing that product count. Each session counts once however many orders it brought: the conversion rate
    (converted sessions / sessions) counts one population and can never pass 100 %. ``orders``, when given, gets
    the ids of the orders each converted session (by its id) brought. ``version_id`` reads only the range's
    sessions of that campaign version for the candidates (a visitor's latest session may still be another one's).
    """
    paid = exists().where(col(Payment.order_id) == col(Order.id), col(Payment.kind).in_(FIRST_PAYMENTS))
    in_range = (
        col(VisitSession.account_id) == account_id,
        col(VisitSession.started_at) >= start,
        col(VisitSession.started_at) < end,
    ) + (() if version_id is None else (col(VisitSession.campaign_version_id) == version_id,))

    def wanted(items: list[dict[str, Any]] | None) -> bool:
        return product is None or any(str(i.get("product") or "") == product for i in items or [])

    found: dict[int, tuple[datetime, int, int]] = {}
    named = (
        sa_select(
            col(VisitSession.id),
            col(VisitSession.started_at),
            col(VisitSession.campaign_id),
            col(VisitSession.campaign_version_id),
            col(Order.items),
            col(Order.id),
        )
        .join(Order, and_(col(Order.account_id) == account_id, col(Order.session_key) == col(VisitSession.session_key)))
        .where(*in_range, paid)
    )
    by_session: dict[int, set[int]] = defaultdict(set)
    for session_id, started_at, campaign_id, version_id, items, order_id in session.execute(named).all():
        if wanted(items):
            found[int(session_id or 0)] = (started_at, campaign_id or 0, version_id or 0)
            by_session[int(session_id or 0)].add(int(order_id))

    # Checkouts that named no session: the visitor's latest session started at or before the checkout. Shops whose
    # checkouts always name their session (the pixel's do) skip this after one indexed look. The range's sessions
    # are joined to their visitors' paid orders by the (account, visitor) index, the time and "named no session"
    # tests done here: given them in SQL, SQLite (no table statistics) planned the join by a time range, which made
    # it quadratic.
    checkouts: set[tuple[str, datetime, int]] = set()
    unnamed = session.exec(
        select(Order.id)
        .where(col(Order.account_id) == account_id, col(Order.session_key).is_(None))
        .where(col(Order.visitor_id).is_not(None), col(Order.created_at) >= start)
        .limit(1)
    ).first()
    if unnamed is not None:
        by_visitor = (
            sa_select(
                col(VisitSession.visitor_key),
                col(VisitSession.started_at),
                col(Order.created_at),
                col(Order.session_key),
                col(Order.items),
                col(Order.id),
            )
            .join(
                Order, and_(col(Order.account_id) == account_id, col(Order.visitor_id) == col(VisitSession.visitor_key))
            )
            .where(*in_range, paid)
        )
        for visitor, started_at, created_at, session_key, items, order_id in session.execute(by_visitor).all():
            if not session_key and created_at >= started_at and wanted(items):
                checkouts.add((str(visitor), created_at, int(order_id)))
    buyers = sorted({visitor for visitor, _, _ in checkouts})
    visits: dict[str, list[tuple[datetime, int, int, int]]] = defaultdict(list)
    for at in range(0, len(buyers), 500):
        for visitor, session_id, started_at, campaign_id, version_id in session.execute(
            sa_select(
                col(VisitSession.visitor_key),
                col(VisitSession.id),
                col(VisitSession.started_at),
                col(VisitSession.campaign_id),
                col(VisitSession.campaign_version_id),
            ).where(
                col(VisitSession.account_id) == account_id, col(VisitSession.visitor_key).in_(buyers[at : at + 500])
            )
        ).all():
            visits[str(visitor)].append((started_at, int(session_id or 0), campaign_id or 0, version_id or 0))
    for visitor, created_at, order_id in checkouts:
        before = [visit for visit in visits[visitor] if visit[0] <= created_at]
        if before:
            started_at, session_id, campaign_id, version_id = max(before)  # the latest (ties: the newest row)
            if start <= started_at < end:
                found[session_id] = (started_at, campaign_id, version_id)
                by_session[session_id].add(order_id)
    if orders is not None:
        orders.update(by_session)
    return list(found.values())


def traffic_between(
    session: Session, account_id: int, start: datetime, end: datetime, *, orders: dict[int, set[int]] | None = None
) -> list[dict[str, Any]]:
    """Sessions that started in ``[start, end)``, their distinct visitors and the sessions among them that converted,
    per campaign version (counted in SQL: a week of a busy shop is 150k sessions); ``orders``, when given, gets the
    converted sessions' ids (as ``converted_sessions`` gives them)."""
    rows = session.exec(
        select(
            col(VisitSession.campaign_id),
            col(VisitSession.campaign_version_id),
            func.count(),
            func.count(func.distinct(func.nullif(VisitSession.visitor_key, ""))),
        )
        .where(VisitSession.account_id == account_id)
        .where(col(VisitSession.started_at) >= start, col(VisitSession.started_at) < end)
        .group_by(col(VisitSession.campaign_id), col(VisitSession.campaign_version_id))
    ).all()
    merged: dict[tuple[int, int], tuple[int, int]] = {}
    for campaign_id, version_id, sessions, visitors in rows:  # NULL and 0 both mean "none": merge them
        key = (campaign_id or 0, version_id or 0)
        before = merged.get(key, (0, 0))
        merged[key] = (before[0] + int(sessions), before[1] + int(visitors))
    converted: dict[tuple[int, int], int] = defaultdict(int)
    for _started, campaign_id, version_id in converted_sessions(session, account_id, start, end, orders=orders):
        converted[(campaign_id, version_id)] += 1
    return [
        {"account_id": account_id, "campaign_id": c, "campaign_version_id": v, "sessions": n, "visitors": u,
         "converted_sessions": converted.get((c, v), 0)}
        for (c, v), (n, u) in sorted(merged.items())
    ]  # fmt: skip


# --- sales ----------------------------------------------------------------------------------------------------------


def _new_orders(session: Session, account_id: int, firsts: Sequence[tuple[Order, datetime]]) -> set[int]:
    """The orders among ``firsts`` (an order, the time of its first payment) whose customer had no other order with
    an earlier first payment (ties: the lower order id first), i.e. new customers. One query per 500 customers."""
    keys = sorted({key for order, _ in firsts if not (key := customer_key(order)).startswith("order:")})
    seen: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for at in range(0, len(keys), 500):
        rows = session.exec(
            select(Order.customer_key, Payment.paid_at, Order.id)
            .join(Payment, col(Payment.order_id) == col(Order.id))
            .where(Order.account_id == account_id, col(Order.customer_key).in_(keys[at : at + 500]))
            .where(col(Payment.kind).in_(("one_off", "first")))
        ).all()
        for customer, paid_at, order_id in rows:
            seen[str(customer)].append((paid_at, int(order_id or 0)))
    new = set()
    for order, first_paid in firsts:
        key = customer_key(order)
        mine = (first_paid, order.id or 0)
        if key.startswith("order:") or not any(other < mine for other in seen.get(key, []) if other[1] != order.id):
            new.add(order.id or 0)
    return new


def _is_new(session: Session, order: Order, first_paid: datetime) -> bool:
    """No other order of the same customer had its first payment earlier (ties: the lower order id first)."""
    return (order.id or 0) in _new_orders(session, order.account_id, [(order, first_paid)])


@dataclass(frozen=True)
class _Credit:
    campaign_id: int
    version_id: int
    share: Fraction


def order_credits(
    session: Session, order: Order, model: str, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> list[_Credit]:
    """The order's credits under ``model``: the checkout snapshot's for the default lookback, else recomputed from
    the snapshot's touches (they reach 90 days back). Nothing in the snapshot: all to no campaign. An order
    imported from Stripe's history: all to its own bucket (``IMPORTED``), whatever the model."""
    if order.imported:
        return [_Credit(IMPORTED, IMPORTED, Fraction(1))]
    snapshot = order.attribution or {}
    if lookback_days == DEFAULT_LOOKBACK_DAYS and (snapshot.get("models") or {}).get(model) is not None:
        entries = snapshot["models"][model]
        credits = [
            _Credit(e.get("campaign_id") or 0, e.get("campaign_version_id") or 0, Fraction(str(e.get("share") or "1")))
            for e in entries
        ]
        return credits or [_Credit(0, 0, Fraction(1))]
    touches = snapshot.get("touches") or []
    at = datetime.fromisoformat(snapshot["at"]) if snapshot.get("at") else order.created_at
    ids = _version_ids(session, order.account_id)
    points = [
        TouchPoint(datetime.fromisoformat(t["at"]), *ids.get(t.get("campaign_version") or "", (None, None)))
        for t in touches
    ]
    recomputed = credit(points, at, model=model, lookback_days=lookback_days)
    return [_Credit(c.campaign_id or 0, c.version_id or 0, c.share) for c in recomputed]


def _version_ids(session: Session, account_id: int) -> dict[str, tuple[int | None, int | None]]:
    from app.models import CampaignVersion

    rows = session.exec(
        select(CampaignVersion.public_id, CampaignVersion.campaign_id, CampaignVersion.id).where(
            CampaignVersion.account_id == account_id
        )
    ).all()
    return {public_id: (campaign_id, version_id) for public_id, campaign_id, version_id in rows}


def _item_weights(order: Order) -> list[tuple[str, str, Fraction]]:
    """(product, price, share of the order's money) per item, by catalogue amount (equal when unknown)."""
    items = order.items or []
    amounts = [int(i.get("unit_amount") or 0) * int(i.get("quantity") or 1) for i in items]
    total = sum(amounts)
    if not items:
        return []
    if total <= 0:
        return [(str(i.get("product") or ""), str(i.get("price") or ""), Fraction(1, len(items))) for i in items]
    return [
        (str(i.get("product") or ""), str(i.get("price") or ""), Fraction(a, total))
        for i, a in zip(items, amounts, strict=True)
    ]


# The campaign and version id under which orders imported from Stripe's history are counted: never a campaign's.
IMPORTED = -1

SalesKey = tuple[str, int, int, str, str, str]  # model, campaign, version, product, price, currency


def _add(
    out: dict[SalesKey, dict[str, int]],
    order: Order,
    model: str,
    credits: list[_Credit],
    currency: str,
    *,
    amount: int,
    money: str,
    count: str | None,
    new: bool = False,
) -> None:
    """Credit ``amount`` (and one count) of an order to its campaign versions, at order level and per item."""
    shares = [c.share for c in credits]
    micros = split_by_shares(MICRO, shares)
    items = _item_weights(order)
    item_amounts = split_by_shares(amount, [w for _, _, w in items]) if items else []
    targets: list[tuple[str, str, int]] = [("", "", amount)] + [
        (product, price, part) for (product, price, _), part in zip(items, item_amounts, strict=True)
    ]
    for product, price, total in targets:
        for c, micro, part in zip(credits, micros, split_by_shares(total, shares), strict=True):
            row = out[(model, c.campaign_id, c.version_id, product, price, currency)]
            row[money] += part
            if count:
                row[count] += micro
            if new:
                row["new_customers_micro"] += micro


def sales_for_day(
    session: Session,
    account_id: int,
    day: date,
    zone: ZoneInfo,
    *,
    models: Sequence[str] = MODELS,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> dict[SalesKey, dict[str, int]]:
    """What one day adds to each (model, version, product, price, currency): see the module docstring."""
    start, end = day_bounds(day, zone)
    return sales_between(session, account_id, start, end, models=models, lookback_days=lookback_days)


@dataclass(frozen=True)
class MoneyMoves:
    """The payments and refunds of a time range, their orders by id, and which of those orders' first payments made
    a new customer: what the sales rules (by campaign version, and by ad set and ad) count."""

    payments: Sequence[Payment]
    refunds: Sequence[Refund]
    orders: dict[int | None, Order]
    new_orders: set[int]


def money_moves(session: Session, account_id: int, start: datetime, end: datetime) -> MoneyMoves:
    """The payments and refunds in ``[start, end)`` with their orders, and the new customers' orders among them."""
    payments = session.exec(
        select(Payment)
        .where(Payment.account_id == account_id, col(Payment.order_id).is_not(None))
        .where(col(Payment.paid_at) >= start, col(Payment.paid_at) < end)
    ).all()
    refunds = session.exec(
        select(Refund)
        .where(Refund.account_id == account_id, col(Refund.order_id).is_not(None))
        .where(col(Refund.refunded_at) >= start, col(Refund.refunded_at) < end)
    ).all()
    order_ids = {p.order_id for p in payments} | {r.order_id for r in refunds}
    orders = {o.id: o for o in session.exec(select(Order).where(col(Order.id).in_(order_ids))).all()}
    new_orders = _new_orders(
        session,
        account_id,
        [(orders[p.order_id], p.paid_at) for p in payments if p.kind in {"one_off", "first"} and p.order_id in orders],
    )
    return MoneyMoves(payments, refunds, orders, new_orders)


def sales_between(
    session: Session,
    account_id: int,
    start: datetime,
    end: datetime,
    *,
    models: Sequence[str] = MODELS,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    moves: MoneyMoves | None = None,
) -> dict[SalesKey, dict[str, int]]:
    """What payments and refunds in ``[start, end)`` add to each (model, version, product, price, currency), by the
    same rules as a day (alerts use it for windows of hours); ``moves``: that range's, when already read."""
    moves = moves or money_moves(session, account_id, start, end)
    payments, refunds, orders, new_orders = moves.payments, moves.refunds, moves.orders, moves.new_orders
    out: dict[SalesKey, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SALES_MEASURES, 0))
    credits_cache: dict[tuple[int, str], list[_Credit]] = {}

    def credits_of(order: Order, model: str) -> list[_Credit]:
        key = (order.id or 0, model)
        if key not in credits_cache:
            credits_cache[key] = order_credits(session, order, model, lookback_days)
        return credits_cache[key]

    for payment in payments:
        order = orders.get(payment.order_id)
        if order is None:
            continue
        first = payment.kind in {"one_off", "first"}
        new = first and (order.id or 0) in new_orders
        for model in models:
            credits = credits_of(order, model)
            if first:
                _add(out, order, model, credits, payment.currency, amount=payment.amount, money="gross",
                     count="orders_micro", new=new)  # fmt: skip
            else:
                _add(out, order, model, credits, payment.currency, amount=payment.amount, money="renewal_revenue",
                     count="renewals_micro" if payment.kind == "renewal" else None)  # fmt: skip
    for refund in refunds:
        order = orders.get(refund.order_id)
        if order is None:
            continue
        for model in models:
            _add(out, order, model, credits_of(order, model), refund.currency, amount=refund.amount,
                 money="refunds", count=None)  # fmt: skip
    return dict(out)


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
        _recompute_ad_day(session, account_id, day, TRAFFIC, zone, converted=converted)
        return
    session.execute(delete(SalesRollup).where(col(SalesRollup.account_id) == account_id, col(SalesRollup.day) == day))
    moves = money_moves(session, account_id, start, end)  # read once for both levels
    sales = sales_between(session, account_id, start, end, moves=moves)
    _recompute_ad_day(session, account_id, day, SALES, zone, moves=moves)
    rows = [
        {"account_id": account_id, "day": day, "model": m, "campaign_id": c, "campaign_version_id": v,
         "product_id": product, "price_id": price, "currency": currency, **measures}
        for (m, c, v, product, price, currency), measures in sales.items()
    ]  # fmt: skip
    if rows:
        session.execute(table_of(SalesRollup).insert(), rows)


def refresh_dirty(session: Session, *, limit: int = 500) -> int:
    """Recompute the dirty days (oldest mark first) and clear their marks unless they were marked again meanwhile.
    Returns how many days were recomputed."""
    marks = [
        (mark.account_id, mark.day, mark.kind, mark.marked_at)
        for mark in session.exec(select(RollupDirty).order_by(col(RollupDirty.marked_at)).limit(limit)).all()
    ]
    zones = {account_id: account_zone(session, account_id) for account_id in {mark[0] for mark in marks}}
    session.rollback()  # end the reads before the writes: no connection is held while waiting for the lock
    for account_id, day, kind, marked_at in marks:
        with write_lock:
            recompute_day(session, account_id, day, kind, zones[account_id])
            session.execute(
                delete(RollupDirty).where(
                    col(RollupDirty.account_id) == account_id,
                    col(RollupDirty.day) == day,
                    col(RollupDirty.kind) == kind,
                    col(RollupDirty.marked_at) <= marked_at,
                )
            )
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
    _clear_ad_rollups(session, account_id)
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


# --- ad sets and ads ------------------------------------------------------------------------------------------------
# ``rollup_ad_traffic`` / ``rollup_ad_sales``: what the metrics' ``ad_set`` and ``ad`` dimensions read, apart from the
# campaign-level rollups so the overview's reads stay small; recomputed with them (same dirty days, same rebuild).
#
# The ids are the ad platforms' own, from the landing URL templates (Meta ``utm_term={{adset.id}}`` and
# ``utm_content={{ad.id}}``, Google ``utm_term={adgroupid}`` and ``utm_content={creative}``): a session counts under
# the ids it landed with, an order under those of the touches its credit came from. Platform ids are numbers: a
# ``utm_term`` / ``utm_content`` that is not (a keyword, free text) counts as none (""). Whether the touch's campaign is
# mapped to a platform campaign is decided when the figures are read (``services/metrics/ads``), so mapping a campaign
# later needs no rebuild. Sales: order level only, each campaign version's credit of an order (split exactly as in
# ``_add``) split again across the ad sets and ads of its touches, by the same model per touch: per campaign, the
# ad-level rows sum to the campaign-level rollup exactly.

_PLATFORM_ID = re.compile(r"[0-9]{1,40}")
NO_AD = ""  # no ad set / no ad
AdKey = tuple[str, str]  # ad set id, ad id
AdSalesKey = tuple[str, int, str, str, str]  # model, campaign, ad set, ad, currency


def ad_ids(term: Any, content: Any) -> AdKey:
    """The (ad set, ad) ids a landing's ``utm_term`` / ``utm_content`` carry: platform ids are numbers, else none."""

    def clean(value: Any) -> str:
        text = str(value or "").strip()
        return text if _PLATFORM_ID.fullmatch(text) else NO_AD

    return clean(term), clean(content)


def ad_traffic_between(
    session: Session, account_id: int, start: datetime, end: datetime, *, converted: dict[int, set[int]] | None = None
) -> list[dict[str, Any]]:
    """Sessions that started in ``[start, end)``, their distinct visitors and converted sessions, per campaign, ad set
    and ad (the session's own landing ids, as its campaign is its own tag)."""
    grouped = session.execute(
        sa_select(
            col(VisitSession.campaign_id),
            col(VisitSession.utm_term),
            col(VisitSession.utm_content),
            col(VisitSession.visitor_key),
            func.count(),
        )
        .where(col(VisitSession.account_id) == account_id)
        .where(col(VisitSession.started_at) >= start, col(VisitSession.started_at) < end)
        .group_by(
            col(VisitSession.campaign_id),
            col(VisitSession.utm_term),
            col(VisitSession.utm_content),
            col(VisitSession.visitor_key),
        )
    ).all()
    sessions: dict[tuple[int, str, str], int] = defaultdict(int)
    visitors: dict[tuple[int, str, str], set[str]] = defaultdict(set)
    for campaign_id, term, content, visitor, count in grouped:
        key = (campaign_id or 0, *ad_ids(term, content))
        sessions[key] += int(count)
        if visitor:
            visitors[key].add(str(visitor))
    counts: dict[tuple[int, str, str], int] = defaultdict(int)
    if converted is None:  # else already read (by the campaign-level rows of the same range)
        converted = {}
        converted_sessions(session, account_id, start, end, orders=converted)
    ids = sorted(converted)
    for at in range(0, len(ids), 500):
        for campaign_id, term, content in session.execute(
            sa_select(col(VisitSession.campaign_id), col(VisitSession.utm_term), col(VisitSession.utm_content)).where(
                col(VisitSession.id).in_(ids[at : at + 500])
            )
        ).all():
            counts[(campaign_id or 0, *ad_ids(term, content))] += 1
    return [
        {"account_id": account_id, "campaign_id": c, "adset_id": adset, "ad_id": ad, "sessions": n,
         "visitors": len(visitors.get((c, adset, ad), ())), "converted_sessions": counts.get((c, adset, ad), 0)}
        for (c, adset, ad), n in sorted(sessions.items())
    ]  # fmt: skip


@dataclass(frozen=True)
class _AdTouches:
    """An order's snapshot touches as the ad-level split needs them: when it converted, and per touch its time,
    campaign version id (0: none) and (ad set, ad) ids. ``readable`` False: times that cannot be read (no split)."""

    at: datetime
    times: list[datetime]
    versions: list[int]
    keys: list[AdKey]
    readable: bool = True


def _ad_touches(order: Order, version_ids: dict[str, tuple[int | None, int | None]]) -> _AdTouches:
    snapshot = order.attribution if isinstance(order.attribution, dict) else {}
    touches = [t for t in snapshot.get("touches") or [] if isinstance(t, dict) and t.get("at")]
    versions = [version_ids.get(str(t.get("campaign_version") or ""), (None, None))[1] or 0 for t in touches]
    keys = [ad_ids(t.get("utm_term"), t.get("utm_content")) for t in touches]
    try:
        at = datetime.fromisoformat(snapshot["at"]) if snapshot.get("at") else order.created_at
        times = [datetime.fromisoformat(str(t["at"])) for t in touches]
        if any(moment.tzinfo is None for moment in [at, *times]):
            raise ValueError("naive time")
    except (TypeError, ValueError):  # stored data never makes a read fail: no split, no ad set
        return _AdTouches(order.created_at, [], [], [], readable=False)
    return _AdTouches(at, times, versions, keys)


def _touch_splits(
    touches: _AdTouches, model: str, lookback_days: int, credits: Sequence[_Credit]
) -> list[list[tuple[AdKey, Fraction]]]:
    """For each of the order's credits (campaign versions): its ad sets and ads with their shares of that credit,
    from the touches of that version in the lookback window, weighted by the model per touch. A credit with no such
    touch (direct, imported, an old snapshot without touches) goes whole to no ad set."""
    none = [((NO_AD, NO_AD), Fraction(1))]
    if not touches.readable:
        return [none for _ in credits]
    window = touches.at - timedelta(days=lookback_days)
    counting = [i for i, moment in enumerate(touches.times) if window <= moment <= touches.at]
    per_touch: dict[int, Fraction] | None = None
    splits = []
    for c in credits:
        mine = [i for i in counting if touches.versions[i] == c.version_id] if c.campaign_id > 0 else []
        keys = {touches.keys[i] for i in mine}
        if len(keys) <= 1:  # one ad set and ad (or none): no need to weigh the touches
            splits.append([(keys.pop(), Fraction(1))] if keys else none)
            continue
        if per_touch is None:  # the model per touch: each touch its own "version" (ids 1…n)
            points = [TouchPoint(moment, i + 1, i + 1) for i, moment in enumerate(touches.times)]
            per_touch = {
                (found.version_id or 0) - 1: found.share
                for found in credit(points, touches.at, model=model, lookback_days=lookback_days)
                if found.version_id is not None
            }
        weights: dict[AdKey, Fraction] = defaultdict(Fraction)
        for i in mine:
            weights[touches.keys[i]] += per_touch.get(i, Fraction(0))
        total = sum(weights.values(), Fraction(0))
        splits.append([(key, w / total) for key, w in weights.items() if w] if total else none)
    return splits


def ad_sales_between(
    session: Session,
    account_id: int,
    start: datetime,
    end: datetime,
    *,
    models: Sequence[str] = MODELS,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    moves: MoneyMoves | None = None,
) -> dict[AdSalesKey, dict[str, int]]:
    """What payments and refunds in ``[start, end)`` add to each (model, campaign, ad set, ad, currency); ``moves``:
    that range's, when already read."""
    moves = moves or money_moves(session, account_id, start, end)
    out: dict[AdSalesKey, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SALES_MEASURES, 0))
    version_ids = _version_ids(session, account_id)
    cache: dict[tuple[int, str], tuple[list[_Credit], list[list[tuple[AdKey, Fraction]]]]] = {}
    touches_of: dict[int, _AdTouches] = {}

    def add(order: Order, model: str, currency: str, amount: int, money: str, count: str | None, new: bool) -> None:
        key = (order.id or 0, model)
        if key not in cache:
            if key[0] not in touches_of:
                touches_of[key[0]] = _ad_touches(order, version_ids)
            credits = order_credits(session, order, model, lookback_days)
            cache[key] = (credits, _touch_splits(touches_of[key[0]], model, lookback_days, credits))
        credits, splits = cache[key]
        shares = [c.share for c in credits]
        # As _add splits the order-level row, then each credit's part across its ad sets and ads.
        for c, micro, part, split in zip(
            credits, split_by_shares(MICRO, shares), split_by_shares(amount, shares), splits, strict=True
        ):
            if len(split) == 1:
                parts: Iterable[tuple[AdKey, int, int]] = [(split[0][0], micro, part)]
            else:
                subshares = [s for _, s in split]
                parts = zip(
                    [k for k, _ in split], split_by_shares(micro, subshares), split_by_shares(part, subshares),
                    strict=True,
                )  # fmt: skip
            for (adset, ad), sub_micro, sub_part in parts:
                row = out[(model, c.campaign_id, adset, ad, currency)]
                row[money] += sub_part
                if count:
                    row[count] += sub_micro
                if new:
                    row["new_customers_micro"] += sub_micro

    for payment in moves.payments:
        order = moves.orders.get(payment.order_id)
        if order is None:
            continue
        first = payment.kind in FIRST_PAYMENTS
        new = first and (order.id or 0) in moves.new_orders
        for model in models:
            if first:
                add(order, model, payment.currency, payment.amount, "gross", "orders_micro", new)
            else:
                count = "renewals_micro" if payment.kind == "renewal" else None
                add(order, model, payment.currency, payment.amount, "renewal_revenue", count, False)
    for refund in moves.refunds:
        order = moves.orders.get(refund.order_id)
        if order is not None:
            for model in models:
                add(order, model, refund.currency, refund.amount, "refunds", None, False)
    return dict(out)


def ad_traffic_for_day(session: Session, account_id: int, day: date, zone: ZoneInfo) -> list[dict[str, Any]]:
    start, end = day_bounds(day, zone)
    return [{"day": day, **row} for row in ad_traffic_between(session, account_id, start, end)]


def ad_sales_for_day(
    session: Session,
    account_id: int,
    day: date,
    zone: ZoneInfo,
    *,
    models: Sequence[str] = MODELS,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> dict[AdSalesKey, dict[str, int]]:
    start, end = day_bounds(day, zone)
    return ad_sales_between(session, account_id, start, end, models=models, lookback_days=lookback_days)


def _recompute_ad_day(
    session: Session,
    account_id: int,
    day: date,
    kind: str,
    zone: ZoneInfo,
    *,
    converted: dict[int, set[int]] | None = None,
    moves: MoneyMoves | None = None,
) -> None:
    """Replace one day's ad-level rows of ``kind`` (traffic | sales), in the caller's transaction, with what the
    campaign-level rows of that day already read (its converted sessions, its payments and refunds)."""
    start, end = day_bounds(day, zone)
    if kind == TRAFFIC:
        session.execute(
            delete(AdTrafficRollup).where(
                col(AdTrafficRollup.account_id) == account_id, col(AdTrafficRollup.day) == day
            )
        )
        rows = [{"day": day, **row} for row in ad_traffic_between(session, account_id, start, end, converted=converted)]
        if rows:
            session.execute(table_of(AdTrafficRollup).insert(), rows)
        return
    session.execute(
        delete(AdSalesRollup).where(col(AdSalesRollup.account_id) == account_id, col(AdSalesRollup.day) == day)
    )
    sales = [
        {"account_id": account_id, "day": day, "model": m, "campaign_id": c, "adset_id": adset, "ad_id": ad,
         "currency": currency, **measures}
        for (m, c, adset, ad, currency), measures in ad_sales_between(
            session, account_id, start, end, moves=moves
        ).items()
    ]  # fmt: skip
    if sales:
        session.execute(table_of(AdSalesRollup).insert(), sales)


def _clear_ad_rollups(session: Session, account_id: int) -> None:
    """Every ad-level row of the account (a rebuild recomputes them)."""
    session.execute(delete(AdTrafficRollup).where(col(AdTrafficRollup.account_id) == account_id))
    session.execute(delete(AdSalesRollup).where(col(AdSalesRollup.account_id) == account_id))
