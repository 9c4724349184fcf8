"""Orders: the status rules (forward only, whatever order Stripe's events arrive in) and the read models for the
orders list, the order page and the orders API.

Status: ``created → pending → paid | failed | expired``, then ``partially_refunded | refunded`` from the refunded
amount. A status only moves to a later one (by rank); refunds are amounts, so a refund that arrives before the
payment is kept and shows once the order is paid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, inspect
from sqlmodel import Session, col, func, select

from app.db import execute
from app.models import (
    Account,
    Campaign,
    CampaignVersion,
    Order,
    Payment,
    Refund,
    StripeEvent,
    StripePrice,
    StripeProduct,
    Subscription,
)
from app.models import OrderStatus as OrderStatus
from app.models.base import table_of
from app.services.days import check_day
from app.services.errors import NotFound, ValidationFailed
from app.services.paging import MAX_LIMIT, decode_cursor, encode_cursor

MAX_PAGE = MAX_LIMIT


# Payment progress only moves up this ladder. Paid outranks failed and expired: if Stripe says money arrived (a
# card retried after a decline), it arrived.
_RANK: dict[OrderStatus, int] = {
    OrderStatus.CREATED: 0,
    OrderStatus.PENDING: 1,
    OrderStatus.FAILED: 2,
    OrderStatus.EXPIRED: 3,
    OrderStatus.PAID: 4,
}
STATUSES = tuple(s.value for s in OrderStatus)


def payment_status(order: Order) -> OrderStatus:
    """The order's position on the payment ladder (a refunded order is paid)."""
    return order.status if order.status in _RANK else OrderStatus.PAID


def display_status(base: OrderStatus, amount_paid: int, amount_refunded: int) -> OrderStatus:
    if base != OrderStatus.PAID or amount_refunded <= 0:
        return base
    return OrderStatus.REFUNDED if amount_refunded >= amount_paid else OrderStatus.PARTIALLY_REFUNDED


def advance(order: Order, candidate: OrderStatus, at: datetime) -> str | None:
    """Move the order to ``candidate`` if that is further along; returns "old → new" when the status changed."""
    base = payment_status(order)
    if _RANK[candidate] > _RANK[base]:
        base = candidate
        if candidate == OrderStatus.PAID and order.paid_at is None:
            order.paid_at = at
    return settle(order, base, at)


def settle(order: Order, base: OrderStatus | None = None, at: datetime | None = None) -> str | None:
    """Recompute the shown status from the payment status and the amounts; "old → new" when it changed."""
    new = display_status(base or payment_status(order), order.amount_paid, order.amount_refunded)
    if new == order.status:
        return None
    old = order.status
    order.status = new
    if at is not None:
        order.status_changed_at = at
    return f"{old} → {new}"


class OrderMoved(Exception):
    """Another transaction changed the order's status after this one read it (PostgreSQL, several processes):
    nothing of this transaction should be kept; its caller rolls back and the work is done again."""


def save(session: Session, order: Order) -> None:
    """Write the fields of a loaded order that the rules above (and the webhook effects) changed, as one UPDATE
    guarded by the status the transaction last saw: a status is only ever computed from the one stored, so a
    concurrent move cannot be undone (``OrderMoved``). Cheaper than the ORM's flush (no unit of work); the object
    then reads as stored. An order not stored yet is added for the ORM to insert."""
    state = inspect(order)
    if not state.persistent or order.id is None:
        session.add(order)
        return
    key = customer_key(order)
    if order.customer_key != key:
        # Who bought follows the e-mail and Stripe customer the effects set (the sales rollups count customers by
        # it): written in this same UPDATE, not one more.
        order.customer_key = key
    changed = state.committed_state
    if not changed:
        return
    seen = changed.get("status", order.status)
    values = {key: getattr(order, key) for key in changed}
    # On the session's connection: Session.execute would first flush the ORM's pending changes, this order's too.
    if execute(session.connection(), _SAVE_ORDER, {"_id": order.id, "_seen": seen, **values}).rowcount != 1:
        raise OrderMoved(f"order {order.public_id} changed status meanwhile")
    # Every changed field is stored now: the object reads as loaded, as after a flush. Not set_committed_value per
    # field: it leaves the object flagged modified, so each later autoflush and the commit ran the unit of work
    # over it for nothing (~0.15 ms per paying webhook). ``_commit_all`` is what the flush itself calls.
    state._commit_all(state.dict, session.identity_map)


def customer_key(order: Order) -> str:
    return customer_key_of(order_id=order.id, email=order.customer_email, customer_id=order.customer_id)


def customer_key_of(*, order_id: int | None, email: str | None, customer_id: str | None) -> str:
    """Who bought: the e-mail, else Stripe's customer, else the order alone."""
    if email:
        return f"email:{email.strip().lower()}"
    if customer_id:
        return f"customer:{customer_id}"
    return f"order:{order_id}"


_ORDERS = table_of(Order)
# SET from the parameters' names (each set of changed fields is compiled once and cached by SQLAlchemy).
_SAVE_ORDER = _ORDERS.update().where(_ORDERS.c.id == bindparam("_id"), _ORDERS.c.status == bindparam("_seen"))


# --- read models ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    status: str
    mode: str
    currency: str
    amount: int | None  # paid amount once paid, else what the items cost at checkout
    amount_refunded: int
    products: str
    campaign: str
    campaign_version: str
    customer_email: str | None
    created_at: datetime
    paid_at: datetime | None
    imported: bool = False  # from Stripe's history: its own bucket, never a campaign's


# What an imported order shows where a campaign would be, and the campaign filter that lists them.
IMPORTED_LABEL = "Imported from Stripe"
IMPORTED_FILTER = "imported"


@dataclass(frozen=True)
class OrderPage:
    orders: list[OrderRow]
    next_cursor: str | None
    total: int


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # order | stripe
    title: str
    outcome: str
    message: str
    deliveries: int = 1
    stripe_event_id: str = ""


@dataclass(frozen=True)
class PaymentRow:
    kind: str
    amount: int
    amount_refunded: int
    currency: str
    paid_at: datetime
    invoice_id: str | None
    payment_intent_id: str | None


@dataclass(frozen=True)
class OrderDetail:
    row: OrderRow
    items: list[dict[str, Any]]
    amount_expected: int | None
    amount_paid: int
    event_id: str
    visitor_id: str | None
    checkout_session_id: str | None
    payment_intent_id: str | None
    subscription_id: str | None
    subscription_status: str | None
    disputed: bool
    dispute_status: str | None
    attribution: dict[str, Any]
    payments: list[PaymentRow] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)


def line_total(item: Mapping[str, Any]) -> int | None:
    """An order line's amount in minor units: unit amount × quantity (None when Stripe's price has no unit amount,
    e.g. tiered or custom-amount prices)."""
    unit = item.get("unit_amount")
    return None if unit is None else int(unit) * int(item.get("quantity") or 1)


def _product_names(session: Session, account_id: int, orders: list[Order]) -> dict[str, str]:
    price_ids = {item.get("price") for order in orders for item in order.items if item.get("price")}
    if not price_ids:
        return {}
    rows = session.exec(
        select(StripePrice.stripe_id, StripeProduct.name)
        .join(
            StripeProduct,
            (col(StripeProduct.account_id) == col(StripePrice.account_id))
            & (col(StripeProduct.stripe_id) == col(StripePrice.product_stripe_id)),
        )
        .where(StripePrice.account_id == account_id, col(StripePrice.stripe_id).in_(price_ids))
    ).all()
    return dict(rows)


def _labels(session: Session, orders: list[Order]) -> dict[int, tuple[str, str]]:
    version_ids = {o.campaign_version_id for o in orders if o.campaign_version_id}
    campaign_ids = {o.campaign_id for o in orders if o.campaign_id}
    names = dict(session.exec(select(Campaign.id, Campaign.name).where(col(Campaign.id).in_(campaign_ids))).all())
    numbers = dict(
        session.exec(
            select(CampaignVersion.id, CampaignVersion.number).where(col(CampaignVersion.id).in_(version_ids))
        ).all()
    )
    return {
        o.id: (
            str(names.get(o.campaign_id, "")) if o.campaign_id else "",
            f"v{numbers[o.campaign_version_id]}" if o.campaign_version_id in numbers else "",
        )
        for o in orders
        if o.id is not None
    }


def _rows(session: Session, account_id: int, orders: list[Order]) -> list[OrderRow]:
    products = _product_names(session, account_id, orders)
    labels = _labels(session, orders)
    rows = []
    for order in orders:
        names = [
            f"{products.get(i.get('price', ''), i.get('price', ''))}"
            + (f" × {i['quantity']}" if i.get("quantity", 1) > 1 else "")
            for i in order.items
        ]
        campaign, version = labels.get(order.id or 0, ("", ""))
        rows.append(
            OrderRow(
                order_id=order.public_id,
                status=order.status,
                mode=order.mode,
                currency=order.currency,
                amount=order.amount_paid if order.paid_at else order.amount_expected,
                amount_refunded=order.amount_refunded,
                products=", ".join(names),
                campaign=IMPORTED_LABEL if order.imported else campaign,
                campaign_version="" if order.imported else version,
                customer_email=order.customer_email,
                created_at=order.created_at,
                paid_at=order.paid_at,
                imported=order.imported,
            )
        )
    return rows


def day_range(
    account_id: int, session: Session, since: date | None, until: date | None
) -> tuple[datetime | None, datetime | None]:
    """Calendar days in the account's timezone as UTC bounds: ``[since 00:00, until+1 00:00)``."""
    check_day(since, "since")
    check_day(until, "until")
    tz_name = session.exec(select(Account.timezone).where(Account.id == account_id)).first() or "UTC"
    tz = ZoneInfo(tz_name)
    start = datetime.combine(since, time.min, tz) if since else None
    end = datetime.combine(until + timedelta(days=1), time.min, tz) if until else None
    if start and end and end <= start:
        raise ValidationFailed("The end date is before the start date.", field="until")
    return start, end


def list_orders(
    *,
    session: Session,
    account_id: int,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    campaign_public_id: str | None = None,
    visitor_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> OrderPage:
    """Newest first, filtered; ``next_cursor`` continues the list."""
    if status and status not in STATUSES:
        raise ValidationFailed(f"Unknown status {status!r}; one of {', '.join(STATUSES)}.", field="status")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
    conditions: list[Any] = [Order.account_id == account_id]
    if status:
        conditions.append(Order.status == status)
    if since:
        conditions.append(Order.created_at >= since)
    if until:
        conditions.append(Order.created_at < until)
    if visitor_id:
        conditions.append(Order.visitor_id == visitor_id)
    if campaign_public_id == IMPORTED_FILTER:
        conditions.append(col(Order.imported).is_(True))
    elif campaign_public_id:
        campaign_id = session.exec(
            select(Campaign.id).where(Campaign.account_id == account_id, Campaign.public_id == campaign_public_id)
        ).first()
        if campaign_id is None:
            raise NotFound("No campaign with this id in this account.", field="campaign")
        conditions.append(Order.campaign_id == campaign_id)
    total = session.exec(select(func.count()).select_from(Order).where(*conditions)).one()
    query = select(Order).where(*conditions)
    if cursor:
        at, last_id = decode_cursor(cursor, datetime.fromisoformat)
        query = query.where((col(Order.created_at) < at) | ((col(Order.created_at) == at) & (col(Order.id) < last_id)))
    orders = list(session.exec(query.order_by(col(Order.created_at).desc(), col(Order.id).desc()).limit(limit + 1)))
    more = len(orders) > limit
    orders = orders[:limit]
    next_cursor = encode_cursor(orders[-1].created_at, orders[-1].id or 0) if more and orders else None
    return OrderPage(_rows(session, account_id, orders), next_cursor, int(total))


def get_order(session: Session, account_id: int, order_public_id: str) -> Order:
    order = session.exec(
        select(Order).where(Order.account_id == account_id, Order.public_id == order_public_id)
    ).first()
    if order is None:
        raise NotFound("No order with this id in this account.", field="order_id")
    return order


def _timeline(session: Session, order: Order) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            at=order.created_at,
            kind="order",
            title="Checkout started",
            outcome="created",
            message=(
                f"Stripe Checkout Session {order.checkout_session_id}"
                if order.checkout_session_id
                else "The Stripe Checkout Session was not created (see the API answer)."
            ),
        )
    ]
    events = session.exec(
        select(StripeEvent).where(StripeEvent.order_id == order.id).order_by(col(StripeEvent.received_at))
    ).all()
    entries.extend(
        TimelineEntry(
            at=event.received_at,
            kind="stripe",
            title=event.type,
            outcome=event.outcome,
            message=event.message,
            deliveries=event.deliveries,
            stripe_event_id=event.stripe_event_id,
        )
        for event in events
    )
    return entries


def order_detail(*, session: Session, account_id: int, order_public_id: str) -> OrderDetail:
    order = get_order(session, account_id, order_public_id)
    payments = session.exec(select(Payment).where(Payment.order_id == order.id).order_by(col(Payment.paid_at))).all()
    subscription_status = None
    if order.subscription_id:
        subscription_status = session.exec(
            select(Subscription.status).where(
                Subscription.account_id == account_id, Subscription.stripe_id == order.subscription_id
            )
        ).first()
    refunded_by_charge: dict[str, int] = {}
    for charge_id, amount in session.exec(
        select(Refund.charge_id, func.sum(Refund.amount)).where(Refund.order_id == order.id).group_by(Refund.charge_id)
    ).all():
        refunded_by_charge[charge_id] = int(amount or 0)
    products = _product_names(session, account_id, [order])
    items = [{**item, "product": products.get(item.get("price", ""), "")} for item in order.items]
    return OrderDetail(
        row=_rows(session, account_id, [order])[0],
        items=items,
        amount_expected=order.amount_expected,
        amount_paid=order.amount_paid,
        event_id=order.event_id,
        visitor_id=order.visitor_id,
        checkout_session_id=order.checkout_session_id,
        payment_intent_id=order.payment_intent_id,
        subscription_id=order.subscription_id,
        subscription_status=subscription_status,
        disputed=order.disputed,
        dispute_status=order.dispute_status,
        attribution=order.attribution,
        payments=[
            PaymentRow(
                kind=p.kind,
                amount=p.amount,
                amount_refunded=refunded_by_charge.get(p.charge_id or "", p.amount_refunded),
                currency=p.currency,
                paid_at=p.paid_at,
                invoice_id=p.invoice_id,
                payment_intent_id=p.payment_intent_id,
            )
            for p in payments
        ],
        timeline=_timeline(session, order),
    )


def buyer_order(*, session: Session, account_id: int, order_public_id: str, visitor_id: str | None) -> OrderDetail:
    """What the buyer's own browser (a publishable key) may read: only its own order (same ``visitor_id``), and
    without attribution, campaign, payments or Stripe's messages."""
    detail = order_detail(session=session, account_id=account_id, order_public_id=order_public_id)
    if not visitor_id or visitor_id != detail.visitor_id:
        raise NotFound("No order with this id for this visitor.", field="order_id")
    return replace(
        detail,
        row=replace(detail.row, campaign="", campaign_version=""),
        attribution={},
        payments=[],
        timeline=[replace(entry, message="") for entry in detail.timeline],
    )
