"""What one calendar day (in the account's timezone) contributes to the dashboard, computed from the raw tables: the
rules the rollups (``services/rollups``) store per day and the metrics service calls on the fly for the raw path.

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

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func
from sqlalchemy import select as sa_select  # sqlmodel's select types at most four columns
from sqlmodel import Session, col, select

from app.models import (
    AttributionModel,
    Order,
    Payment,
    Refund,
    VisitSession,
)
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, TouchPoint, credit, split_by_shares
from app.services.orders import customer_key

MICRO = 1_000_000
TRAFFIC, SALES = "traffic", "sales"
MODELS = tuple(m.value for m in AttributionModel)
SALES_MEASURES = ("orders_micro", "new_customers_micro", "gross", "renewals_micro", "renewal_revenue", "refunds")


# --- days in the account's timezone ---------------------------------------------------------------------------------


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` of a local calendar day in UTC (23 or 25 hours on DST changes)."""
    start = datetime.combine(day, time.min, zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, zone).astimezone(UTC)
    return start, end


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
            .where(col(Payment.kind).in_(FIRST_PAYMENTS))
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
class Credit:
    campaign_id: int
    version_id: int
    share: Fraction


def order_credits(
    session: Session,
    order: Order,
    model: str,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    version_ids: Callable[[], dict[str, tuple[int | None, int | None]]] | None = None,
) -> list[Credit]:
    """The order's credits under ``model``: the checkout snapshot's for the default lookback, else recomputed from
    the snapshot's touches (they reach 90 days back). Nothing in the snapshot: all to no campaign. An order
    imported from Stripe's history: all to its own bucket (``IMPORTED``), whatever the model. ``version_ids``: the
    account's campaign versions by public id when a caller crediting many orders already has them (else read here,
    and only when there are touches to map)."""
    if order.imported:
        return [Credit(IMPORTED, IMPORTED, Fraction(1))]
    snapshot = order.attribution or {}
    if lookback_days == DEFAULT_LOOKBACK_DAYS and (snapshot.get("models") or {}).get(model) is not None:
        entries = snapshot["models"][model]
        credits = [
            Credit(e.get("campaign_id") or 0, e.get("campaign_version_id") or 0, Fraction(str(e.get("share") or "1")))
            for e in entries
        ]
        return credits or [Credit(0, 0, Fraction(1))]
    touches = snapshot.get("touches") or []
    at = datetime.fromisoformat(snapshot["at"]) if snapshot.get("at") else order.created_at
    ids: dict[str, tuple[int | None, int | None]] = {}
    if touches:  # else nothing to map (``credit`` gives an order without touches to no campaign)
        ids = version_ids() if version_ids is not None else campaign_version_ids(session, order.account_id)
    points = [
        TouchPoint(datetime.fromisoformat(t["at"]), *ids.get(t.get("campaign_version") or "", (None, None)))
        for t in touches
    ]
    recomputed = credit(points, at, model=model, lookback_days=lookback_days)
    return [Credit(c.campaign_id or 0, c.version_id or 0, c.share) for c in recomputed]


def campaign_version_ids(session: Session, account_id: int) -> dict[str, tuple[int | None, int | None]]:
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
    credits: list[Credit],
    currency: str,
    *,
    amount: int,
    money: str,
    count: str | None,
    new: bool = False,
    items: list[tuple[str, str, Fraction]] | None = None,
) -> None:
    """Credit ``amount`` (and one count) of an order to its campaign versions, at order level and per item
    (``items``: the order's ``_item_weights`` when the caller has them)."""
    shares = [c.share for c in credits]
    micros = split_by_shares(MICRO, shares)
    items = _item_weights(order) if items is None else items
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
    # Read or worked out once for the range, whichever level (campaign version, ad set and ad) asks first.
    _credits: dict[tuple[int, str, int], list[Credit]] = field(default_factory=dict, compare=False, repr=False)
    _version_ids: dict[int, dict[str, tuple[int | None, int | None]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def version_ids(self, session: Session, account_id: int) -> dict[str, tuple[int | None, int | None]]:
        """The account's campaign versions by public id (``campaign_version_ids``), read once."""
        if account_id not in self._version_ids:
            self._version_ids[account_id] = campaign_version_ids(session, account_id)
        return self._version_ids[account_id]

    def credits(self, session: Session, order: Order, model: str, lookback_days: int) -> list[Credit]:
        """``order_credits`` of one of the range's orders, worked out once per model and lookback."""
        key = (order.id or 0, model, lookback_days)
        found = self._credits.get(key)
        if found is None:
            found = self._credits[key] = order_credits(
                session, order, model, lookback_days, version_ids=lambda: self.version_ids(session, order.account_id)
            )
        return found


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
        [(orders[p.order_id], p.paid_at) for p in payments if p.kind in FIRST_PAYMENTS and p.order_id in orders],
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

    weights: dict[int, list[tuple[str, str, Fraction]]] = {}

    def credits_of(order: Order, model: str) -> list[Credit]:
        return moves.credits(session, order, model, lookback_days)

    def items_of(order: Order) -> list[tuple[str, str, Fraction]]:  # once per order, not per payment and model
        found = weights.get(order.id or 0)
        if found is None:
            found = weights[order.id or 0] = _item_weights(order)
        return found

    for payment in payments:
        order = orders.get(payment.order_id)
        if order is None:
            continue
        first = payment.kind in FIRST_PAYMENTS
        new = first and (order.id or 0) in new_orders
        for model in models:
            credits = credits_of(order, model)
            if first:
                _add(out, order, model, credits, payment.currency, amount=payment.amount, money="gross",
                     count="orders_micro", new=new, items=items_of(order))  # fmt: skip
            else:
                _add(out, order, model, credits, payment.currency, amount=payment.amount, money="renewal_revenue",
                     count="renewals_micro" if payment.kind == "renewal" else None, items=items_of(order))  # fmt: skip
    for refund in refunds:
        order = orders.get(refund.order_id)
        if order is None:
            continue
        for model in models:
            _add(out, order, model, credits_of(order, model), refund.currency, amount=refund.amount,
                 money="refunds", count=None, items=items_of(order))  # fmt: skip
    return dict(out)
