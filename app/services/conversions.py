"""Server-side conversions: one internal conversion per paid order, renewal and refund, and one delivery of it per
pixel, written in the same transaction as the order's change (the outbox). Sending is ``conversion_sender``'s
job; this module decides what is owed, and reads deliveries back for the pages, the API and the CSV export.

Enqueueing is a reconciliation, not a reaction to one event type: given the order as it now stands, every
conversion it owes gets a delivery per pixel, under a unique ``dedup_key``. So whichever Stripe events arrive, in
whatever order and however often, each conversion is enqueued once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlmodel import Session, col, func, select

from app import runtime
from app.db import executemany
from app.integrations.conversion import CampaignCredit, Conversion, ConversionLine
from app.integrations.google_ads import CLICK_ID_PRECEDENCE, click_conversions_csv, click_id
from app.lib.formatting import format_money, to_major
from app.models import (
    Campaign,
    ConversionDelivery,
    ConversionKind,
    DeliveryAttempt,
    Event,
    Order,
    OrderStatus,
    Payment,
    Provider,
    Refund,
    StripePrice,
    StripeProduct,
)
from app.models import DeliveryStatus as DeliveryStatus
from app.models.base import new_public_id, table_of, utcnow
from app.services.accounts import account_locale
from app.services.conversion_checks import CheckItem, checklist, consent_skip
from app.services.currency import format_major
from app.services.errors import NotFound, ValidationFailed
from app.services.orders import payment_status
from app.services.paging import MAX_LIMIT, decode_cursor, encode_cursor
from app.services.permissions import Actor, Permission, require
from app.services.pixels import PixelTarget, pixels_for_campaign
from app.services.rollup_rules import FIRST_PAYMENTS

MAX_PAGE = MAX_LIMIT


STATUSES = tuple(s.value for s in DeliveryStatus)
DUE = (DeliveryStatus.PENDING.value, DeliveryStatus.RETRYING.value)
REPLAYABLE = (DeliveryStatus.DEAD.value, DeliveryStatus.RETRYING.value)
# Providers that take refunds: GA4's ``refund`` event, Google Ads as an adjustment restating the sale's value (the
# Data Manager API, same transactionId), and a webhook receives everything. Meta has no refund event.
REFUND_PROVIDERS = frozenset({Provider.GA4.value, Provider.GOOGLE_ADS.value, Provider.WEBHOOK.value})


def _wake_sender_after_commit(session: Session) -> None:
    """Once the deliveries are committed, wake this process's sender when it has one (app/runtime.py); else the
    sender finds them on its interval."""
    wake = runtime.current().wake_conversion_sender
    if wake is not None:
        sa_event.listen(session, "after_commit", lambda _session: wake(), once=True)


# --- the internal conversion ----------------------------------------------------------------------------------------


def major(amount: int, currency: str) -> float:
    """Minor units as the number providers want (``1999 EUR`` → ``19.99``, ``500 JPY`` → ``500``)."""
    return float(to_major(amount, currency))


def _items(session: Session, order: Order) -> list[ConversionLine]:
    prices = [str(item.get("price")) for item in order.items]
    names = dict(
        session.exec(
            select(StripePrice.stripe_id, StripeProduct.name)
            .join(
                StripeProduct,
                (col(StripeProduct.stripe_id) == col(StripePrice.product_stripe_id))
                & (col(StripeProduct.account_id) == col(StripePrice.account_id)),
            )
            .where(StripePrice.account_id == order.account_id, col(StripePrice.stripe_id).in_(prices))
        ).all()
    )
    return [
        ConversionLine(
            # The price id, as pixel.js's purchase helper uses for the browser's fbq/gtag items: one id space.
            id=str(item.get("price")),
            product_id=item.get("product"),
            name=names.get(str(item.get("price")), ""),
            quantity=int(item.get("quantity") or 1),
            unit_amount=item.get("unit_amount"),
            price=major(int(item.get("unit_amount") or 0), order.currency),
        )
        for item in order.items
    ]


def _browser_hashes(session: Session, order: Order) -> dict[str, list[str]]:
    """The SHA-256 user data the visitor's browser sent with ``identify`` (newest event that carried some)."""
    if not order.visitor_id:
        return {}
    user_data = session.exec(
        select(Event.user_data)
        .where(Event.account_id == order.account_id, Event.visitor_id == order.visitor_id)
        .where(col(Event.user_data).is_not(None))
        .order_by(col(Event.id).desc())
        .limit(1)
    ).first()
    return {k: [v] for k, v in (user_data or {}).items() if v}


def build_conversion(
    session: Session,
    order: Order,
    *,
    kind: ConversionKind,
    transaction_id: str,
    event_id: str,
    amount: int,
    currency: str,
    at: datetime,
    partial: bool = False,
    invoice: str | None = None,
    items: list[ConversionLine] | None = None,
    hashed: dict[str, list[str]] | None = None,
    refund: RefundFacts | None = None,
) -> Conversion:
    """The one internal conversion every provider's serializer reads (stored with each delivery as JSON).
    ``items`` and ``hashed`` may be passed in when one order builds several conversions; a refund's ``items`` are
    the ones it returned (see ``refunded_units``), and ``refund`` what is left of the sale it refunds."""
    snapshot = order.attribution or {}
    last = ((snapshot.get("models") or {}).get("last_touch") or [{}])[0]
    credits = {
        model: [
            CampaignCredit(campaign=c.get("campaign"), campaign_version=c.get("campaign_version"), share=c.get("share"))
            for c in entries
        ]
        for model, entries in (snapshot.get("models") or {}).items()
    }
    conversion: Conversion = {
        "kind": kind.value,
        "order_id": order.public_id,
        "event_id": event_id,
        "transaction_id": transaction_id,
        "event_time": at.isoformat(),
        "amount": amount,
        "value": major(amount, currency),
        "currency": currency.upper(),
        "items": items if items is not None else _items(session, order),
        "partial": partial,
        "event_source_url": order.success_url,
        "visitor_id": order.visitor_id,
        "subscription": order.subscription_id,
        "invoice": invoice,
        "user": {
            "email": order.customer_email,
            "hashed": hashed if hashed is not None else _browser_hashes(session, order),
            "ip": snapshot.get("ip") or None,
            "user_agent": snapshot.get("user_agent") or None,
            "fbc": snapshot.get("fbc"),
            "fbp": snapshot.get("fbp"),
        },
        # checkout_at: the buyer's last hit before Stripe, from which GA4's session times out (ga4.in_session).
        "ga": {
            "client_id": snapshot.get("ga_client_id"),
            "session_id": snapshot.get("ga_session_id"),
            "checkout_at": snapshot.get("at"),
        },
        "clicks": {k: snapshot.get(k) for k in ("gclid", "gbraid", "wbraid") if snapshot.get(k)},
        "click_at": click_time(snapshot),
        "consent": dict(order.consent or {}),
        "campaign": {
            "campaign": last.get("campaign"),
            "campaign_name": last.get("campaign_name"),
            "campaign_version": last.get("campaign_version"),
            "version_number": last.get("version_number"),
        },
        "credits": credits,
    }
    if refund is not None:
        conversion["remaining"] = refund.remaining
        conversion["remaining_value"] = major(refund.remaining, currency)
        conversion["sale_time"] = refund.sale_time.isoformat()
        conversion["items_note"] = refund.items_note
    return conversion


@dataclass(frozen=True)
class RefundFacts:
    """What a refund conversion knows of the sale it refunds: the money left on it after this refund, the sale's
    time (a Google adjustment repeats it), and why no items are named, if none are."""

    remaining: int
    sale_time: datetime
    items_note: str = ""


def click_time(snapshot: dict[str, Any]) -> str | None:
    """When the visitor clicked the Google ad whose click id the order carries: the snapshot's touch that carried
    it (the first one with that id; snapshots taken before touches kept the id: the latest touch of its kind)."""
    chosen = click_id(snapshot)
    if chosen is None:
        return None
    touches = [t for t in snapshot.get("touches") or [] if t.get("at")]
    ids = {str(snapshot[k]) for k in CLICK_ID_PRECEDENCE if snapshot.get(k)}
    carried = [t["at"] for t in touches if t.get("click_id") in ids]
    if carried:
        return str(min(carried, key=datetime.fromisoformat))
    same_kind = [t["at"] for t in touches if t.get("click_id_type") == chosen[0]]
    return str(max(same_kind, key=datetime.fromisoformat)) if same_kind else None


def refunded_units(items: list[ConversionLine], left: list[int], amount: int) -> list[int] | None:
    """How many units of each line a refund of ``amount`` (minor units) returned, when the amount says so
    unambiguously; else None.

    Stripe refunds amounts, not items. The amount is read as items only when it is exactly every unit still
    unrefunded (``left``: quantities per line), or whole units of exactly one line (2 × 25.00 of one line); any
    other amount (10.00 of a 25.00 item, or one that two lines could explain) names no items.
    """
    units = [int(item.get("unit_amount") or 0) for item in items]
    if any(left) and amount == sum(u * q for u, q in zip(units, left, strict=True)):
        return list(left)
    lines = [
        index
        for index, unit in enumerate(units)
        if unit > 0 and amount % unit == 0 and 1 <= amount // unit <= left[index]
    ]
    if len(lines) != 1:
        return None
    return [amount // units[index] if index == lines[0] else 0 for index in range(len(items))]


# --- the outbox -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Owed:
    kind: ConversionKind
    source_key: str
    conversion: Conversion
    at: datetime


def _owed(session: Session, order: Order) -> list[_Owed]:
    """Every conversion the order owes as it stands: its purchase, each renewal, each refund."""
    if payment_status(order) != OrderStatus.PAID:  # refunded orders stay paid on the payment ladder
        return []
    payments = session.exec(select(Payment).where(Payment.order_id == order.id).order_by(col(Payment.id))).all()
    first = next((p for p in payments if p.kind in FIRST_PAYMENTS), None)
    owed: list[_Owed] = []
    items, hashed = _items(session, order), _browser_hashes(session, order)
    if first is not None:
        at = order.paid_at or first.paid_at
        conversion = build_conversion(
            session, order, kind=ConversionKind.PURCHASE, transaction_id=order.public_id, event_id=order.event_id,
            amount=first.amount, currency=first.currency, at=at, invoice=first.invoice_id, items=items, hashed=hashed,
        )  # fmt: skip
        owed.append(_Owed(ConversionKind.PURCHASE, order.public_id, conversion, at))
    # Per payment: its transaction id, amount and time (the sale a refund of it restates).
    transactions: dict[int, tuple[str, int, datetime]] = {}
    if first is not None and first.id is not None:
        transactions[first.id] = (order.public_id, first.amount, order.paid_at or first.paid_at)
    for payment in payments:
        if payment.kind != "renewal" or payment.id is None:
            continue
        transaction = f"{order.public_id}.{payment.stripe_key}"
        transactions[payment.id] = (transaction, payment.amount, payment.paid_at)
        conversion = build_conversion(
            session, order, kind=ConversionKind.RENEWAL, transaction_id=transaction,
            event_id=f"{order.event_id}.{payment.stripe_key}", amount=payment.amount, currency=payment.currency,
            at=payment.paid_at, invoice=payment.invoice_id, items=items, hashed=hashed,
        )  # fmt: skip
        owed.append(_Owed(ConversionKind.RENEWAL, payment.stripe_key, conversion, payment.paid_at))
    refunds = session.exec(select(Refund).where(Refund.order_id == order.id).order_by(col(Refund.id))).all()
    refunded: Counter[str] = Counter()
    left: dict[str, list[int]] = {}
    for refund in refunds:
        transaction, paid, sold_at = transactions.get(
            refund.payment_id or -1, (order.public_id, order.amount_paid, order.paid_at or refund.refunded_at)
        )
        refunded[transaction] += refund.amount
        # Partial while money is left on the transaction; the refund that completes it is a full refund.
        partial = refunded[transaction] < paid
        quantities = left.setdefault(transaction, [int(item["quantity"]) for item in items])
        # Items only when the amount is whole units (GA4 would otherwise count items as refunded that were not).
        returned = refunded_units(items, quantities, refund.amount)
        note = ""
        if returned is None:
            note = (
                f"{format_money(refund.amount, refund.currency, account_locale(session, order.account_id))} is not "
                "whole units of the order's items: sent as a "
                "value only, so GA4's item reports count no item as refunded."
            )
            returned = [0] * len(quantities)
        quantities[:] = [q - r for q, r in zip(quantities, returned, strict=True)]
        returned_items: list[ConversionLine] = [
            {**item, "quantity": r} for item, r in zip(items, returned, strict=True) if r
        ]
        conversion = build_conversion(
            session, order, kind=ConversionKind.REFUND, transaction_id=transaction,
            event_id=f"{order.event_id}.refund.{refund.id}", amount=refund.amount, currency=refund.currency,
            at=refund.refunded_at, partial=partial, hashed=hashed, items=returned_items,
            refund=RefundFacts(max(0, paid - refunded[transaction]), sold_at, note),
        )  # fmt: skip
        owed.append(_Owed(ConversionKind.REFUND, f"re{refund.id}", conversion, refund.refunded_at))
    return owed


def _wants(pixel: PixelTarget, kind: ConversionKind) -> bool:
    if kind is ConversionKind.PURCHASE:
        return "purchase" in pixel.events
    if kind is ConversionKind.RENEWAL:
        return "renewal" in pixel.events
    return "purchase" in pixel.events and pixel.provider in REFUND_PROVIDERS


# Built once: app.db compiles a statement once per process and keeps it (a new one per call would be compiled again).
_INSERT_DELIVERY = insert(table_of(ConversionDelivery))


def enqueue_for_order(*, session: Session, order: Order) -> int:
    """Add the deliveries the order owes and does not have yet; returns how many. Runs inside the caller's
    transaction (the webhook's), so a delivery exists exactly when the change that owes it was committed.
    An order imported from Stripe's history owes nothing: it is never sent to an ad platform."""
    if order.imported:
        return 0
    pixels = pixels_for_campaign(session=session, account_id=order.account_id, campaign_id=order.campaign_id)
    if not pixels:
        return 0
    owed = _owed(session, order)
    if not owed:
        return 0
    have = set(session.exec(select(ConversionDelivery.dedup_key).where(ConversionDelivery.order_id == order.id)).all())
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for item in owed:
        for pixel in pixels:
            key = f"{pixel.id}:{item.kind.value}:{item.source_key}"
            if key in have or not _wants(pixel, item.kind):
                continue
            reason = consent_skip(pixel.provider, item.conversion["consent"])
            rows.append(
                {
                    "public_id": new_public_id("cvd"),
                    "account_id": order.account_id,
                    "order_id": order.id,
                    "pixel_id": pixel.id,
                    "pixel_name": pixel.name,
                    "provider": pixel.provider,
                    "kind": item.kind,
                    "dedup_key": key,
                    "campaign_id": order.campaign_id,
                    "conversion": dict(item.conversion),
                    "event_time": item.at,
                    "test": pixel.test_mode,
                    "status": DeliveryStatus.SKIPPED if reason else DeliveryStatus.PENDING,
                    "reason": reason or "",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            have.add(key)
    # One Core statement compiled once, not ORM objects for the next flush to insert (a paying webhook's writer spent
    # ~0.3 ms of its time in that flush for two deliveries: bench/conversions.py).
    executemany(session, _INSERT_DELIVERY, rows)
    added = len(rows)
    if added:
        _wake_sender_after_commit(session)
    return added


def replay(*, session: Session, actor: Actor, delivery_public_id: str) -> DeliveryRow:
    """Send a dead or retrying delivery again now (after fixing the pixel's token, say)."""
    require(actor, Permission.EDIT_MARKETING)
    delivery = _get(session, actor.account_id, delivery_public_id)
    if delivery.status not in REPLAYABLE:
        raise ValidationFailed(
            f"Only dead or retrying deliveries can be sent again; this one is {delivery.status}.", field="delivery"
        )
    delivery.status = DeliveryStatus.PENDING
    delivery.reason = "Sent again on request."
    delivery.next_attempt_at = utcnow()
    delivery.updated_at = utcnow()
    session.add(delivery)
    _wake_sender_after_commit(session)
    session.commit()
    return _rows(session, [delivery])[0]


# --- reading deliveries back ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryRow:
    delivery_id: str
    order_id: str
    provider: str
    pixel_name: str
    kind: str
    status: str
    reason: str
    attempts: int
    value: str  # "19.99 EUR": plain, for the API (pages format amount and currency in the account's locale)
    amount: int  # minor units
    currency: str
    campaign: str
    test: bool
    event_time: datetime
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[DeliveryRow]
    total: int
    totals: dict[str, int]
    next_cursor: str | None


@dataclass(frozen=True)
class AttemptRow:
    number: int
    started_at: datetime
    duration_ms: int | None
    outcome: str
    response_status: int | None
    response_body: str
    message: str
    request: dict[str, Any]


@dataclass(frozen=True)
class DeliveryDetail:
    row: DeliveryRow
    conversion: dict[str, Any]
    attempts: list[AttemptRow] = field(default_factory=list)
    checklist: list[CheckItem] = field(default_factory=list)


def _get(session: Session, account_id: int, delivery_public_id: str) -> ConversionDelivery:
    delivery = session.exec(
        select(ConversionDelivery).where(
            ConversionDelivery.public_id == delivery_public_id, ConversionDelivery.account_id == account_id
        )
    ).first()
    if delivery is None:
        raise NotFound("No conversion delivery with this id.", field="delivery")
    return delivery


def _plain_value(amount: int, currency: str) -> str:
    return f"{format_major(amount, currency)} {currency.upper()}".strip()


def _rows(session: Session, deliveries: list[ConversionDelivery]) -> list[DeliveryRow]:
    order_ids = {d.order_id for d in deliveries if d.order_id}
    campaign_ids = {d.campaign_id for d in deliveries if d.campaign_id}
    orders = dict(session.exec(select(Order.id, Order.public_id).where(col(Order.id).in_(order_ids))).all())
    names = dict(session.exec(select(Campaign.id, Campaign.name).where(col(Campaign.id).in_(campaign_ids))).all())
    due = set(DUE)
    return [
        DeliveryRow(
            delivery_id=d.public_id,
            order_id=str(orders.get(d.order_id, "")) if d.order_id else "",
            provider=d.provider,
            pixel_name=d.pixel_name,
            kind=d.kind,
            status=d.status,
            reason=d.reason,
            attempts=d.attempts,
            value=_plain_value(int(d.conversion.get("amount") or 0), str(d.conversion.get("currency") or "")),
            amount=int(d.conversion.get("amount") or 0),
            currency=str(d.conversion.get("currency") or ""),
            campaign=str(names.get(d.campaign_id, "")) if d.campaign_id else "",
            test=d.test,
            event_time=d.event_time,
            created_at=d.created_at,
            sent_at=d.sent_at,
            next_attempt_at=d.next_attempt_at if d.status in due else None,
        )
        for d in deliveries
    ]


def list_deliveries(
    *,
    session: Session,
    account_id: int,
    provider: str | None = None,
    status: str | None = None,
    campaign_public_id: str | None = None,
    order_public_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> DeliveryPage:
    """Newest first, with the count per status under the same filters (status aside) for the totals bar."""
    if provider and provider not in {p.value for p in Provider}:
        raise ValidationFailed(f"provider must be one of {', '.join(p.value for p in Provider)}.", field="provider")
    if status and status not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}.", field="status")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
    filters: list[Any] = [col(ConversionDelivery.account_id) == account_id]
    if provider:
        filters.append(col(ConversionDelivery.provider) == provider)
    if campaign_public_id:
        campaign_id = session.exec(
            select(Campaign.id).where(Campaign.account_id == account_id, Campaign.public_id == campaign_public_id)
        ).first()
        if campaign_id is None:
            raise NotFound("No campaign with this id.", field="campaign")
        filters.append(col(ConversionDelivery.campaign_id) == campaign_id)
    if order_public_id:
        order_id = session.exec(
            select(Order.id).where(Order.account_id == account_id, Order.public_id == order_public_id)
        ).first()
        filters.append(col(ConversionDelivery.order_id) == (order_id or -1))
    if since is not None:
        filters.append(col(ConversionDelivery.created_at) >= since)
    if until is not None:
        filters.append(col(ConversionDelivery.created_at) < until)
    counts = session.exec(
        select(ConversionDelivery.status, func.count()).where(*filters).group_by(col(ConversionDelivery.status))
    ).all()
    totals = dict.fromkeys(STATUSES, 0) | {str(s): int(n) for s, n in counts}
    if status:
        filters.append(col(ConversionDelivery.status) == status)
    total = totals.get(status, 0) if status else sum(totals.values())
    query = select(ConversionDelivery).where(*filters)
    if cursor:
        at, row_id = decode_cursor(cursor, datetime.fromisoformat)
        query = query.where(
            (col(ConversionDelivery.created_at) < at)
            | ((col(ConversionDelivery.created_at) == at) & (col(ConversionDelivery.id) < row_id))
        )
    found = list(
        session.exec(
            query.order_by(col(ConversionDelivery.created_at).desc(), col(ConversionDelivery.id).desc()).limit(
                limit + 1
            )
        ).all()
    )
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if found else None
    next_cursor = encode_cursor(last.created_at, last.id) if more and last and last.id else None
    return DeliveryPage(_rows(session, found), total, totals, next_cursor)


def _attempts(session: Session, delivery_id: int) -> list[AttemptRow]:
    attempts = session.exec(
        select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(col(DeliveryAttempt.id))
    ).all()
    return [
        AttemptRow(
            a.number, a.started_at, a.duration_ms, a.outcome, a.response_status, a.response_body, a.message, a.request
        )
        for a in attempts
    ]


def delivery_detail(*, session: Session, account_id: int, delivery_public_id: str) -> DeliveryDetail:
    delivery = _get(session, account_id, delivery_public_id)
    assert delivery.id is not None
    return DeliveryDetail(
        _rows(session, [delivery])[0],
        delivery.conversion,
        _attempts(session, delivery.id),
        checklist(session=session, delivery=delivery),
    )


def order_deliveries(*, session: Session, account_id: int, order_public_id: str) -> list[DeliveryDetail]:
    """Every delivery of one order, with attempts and checklist: the order page's "Conversions sent"."""
    page = list_deliveries(session=session, account_id=account_id, order_public_id=order_public_id, limit=MAX_PAGE)
    return [
        delivery_detail(session=session, account_id=account_id, delivery_public_id=row.delivery_id)
        for row in reversed(page.rows)
    ]


def google_ads_csv(
    *, session: Session, account_id: int, since: datetime, until: datetime, conversion_name: str = "Purchase"
) -> str:
    """Paid orders with a Google click id in ``[since, until)``, as Google Ads' offline click-conversion CSV: one
    row per order for its first payment, valued net of that payment's refunds (fully refunded ones are left out)."""
    conversion_name = " ".join((conversion_name or "").split())
    if not conversion_name:
        raise ValidationFailed(
            "Give the conversion action's name exactly as in Google Ads (e.g. Purchase).", field="conversion_name"
        )
    if until - since > timedelta(days=92):
        raise ValidationFailed("Export at most 92 days at a time (Google Ads takes clicks of the last 90).")
    # The conversion is the order's first payment (a one-off sale, or a subscription's first invoice): its own
    # amount net of its own refunds, at its own time. Renewals are later payments, not this click's conversion.
    found = session.exec(
        select(Order, Payment)
        .join(Payment, col(Payment.order_id) == col(Order.id))
        .where(Order.account_id == account_id, col(Payment.kind).in_(FIRST_PAYMENTS))
        .where(col(Order.paid_at) >= since, col(Order.paid_at) < until)
        .order_by(col(Order.paid_at), col(Payment.id))
    ).all()
    rows = []
    seen: set[int] = set()
    for order, payment in found:
        net = payment.amount - payment.amount_refunded
        if order.id in seen or net <= 0 or order.paid_at is None:
            continue
        seen.add(order.id or 0)
        snapshot = order.attribution or {}
        rows.append(
            {
                **{kind: snapshot.get(kind) for kind in CLICK_ID_PRECEDENCE},
                "time": order.paid_at,
                "value": format_major(net, payment.currency),
                "currency": payment.currency,
                "order_id": order.public_id,
            }
        )
    return click_conversions_csv(rows, conversion_name=conversion_name)
