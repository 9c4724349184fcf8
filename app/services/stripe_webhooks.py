"""Stripe's signed webhooks: verify, record each event id once together with its effect, and move orders,
subscriptions, payments and refunds forward.

Delivery is at least once and in no guaranteed order, so every handler treats the event as a snapshot of the
object at ``event.created`` and only moves state forward: order statuses by rank (see ``orders``), subscriptions
by the newest event applied, refunds by the charge's cumulative ``amount_refunded``. Events of the pinned API
version and older shapes (localstripe sends 2017 events) are read alike.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select, update

from app.db import writing
from app.integrations import stripe as stripe_api
from app.integrations.stripe import BadSignature, MalformedPayload, StripeCallFailed
from app.lib.formatting import format_money
from app.models import Order, Payment, Refund, StripeConnection, StripeEvent, Subscription
from app.models.base import utcnow
from app.services import conversions, rollups
from app.services import orders as order_rules
from app.services.accounts import account_locale
from app.services.checkout import META_ORDER
from app.services.errors import Conflict, ServiceError
from app.services.orders import OrderStatus
from app.services.stripe_connection import apply_price, apply_product, client_for, webhook_secrets
from app.services.stripe_event_shapes import MalformedEvent, check_event

log = logging.getLogger(__name__)
_last_seen: dict[int, float] = {}


class InvalidSignature(ServiceError):
    status_code = 400
    code = "invalid_signature"


class NoWebhookSecret(ServiceError):
    status_code = 400
    code = "webhook_secret_missing"


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    type: str
    outcome: str  # applied | ignored | unlinked | duplicate
    message: str
    order_id: str | None = None


@dataclass
class _Effect:
    outcome: str
    message: str
    order: Order | None = None
    link_key: str | None = None  # for unlinked events: the Stripe id that would link them to an order


def _amount(session: Session, account_id: int, amount: int, currency: str) -> str:
    """An amount for the order's history, as the account's locale writes it (``€10.00``, ``10,00 €``)."""
    return format_money(amount, currency, account_locale(session, account_id))


def _applied(order: Order | None, message: str) -> _Effect:
    return _Effect("applied", message, order)


def _ignored(message: str, order: Order | None = None) -> _Effect:
    return _Effect("ignored", message, order)


# --- entry point ----------------------------------------------------------------------------------------------------


def receive_webhook(
    *, session: Session, account_public_id: str, payload: bytes, signature: str | None
) -> WebhookResult:
    """Verify one delivery and apply it exactly once.

    Raises:
        NotFound: no account with Stripe connected has this id.
        NoWebhookSecret: the shop has not entered the endpoint's signing secret yet.
        InvalidSignature: the signature does not match the raw body, or its time is beyond the tolerance (either
            way).
        MalformedEvent: the body is signed but a field we read has the wrong shape (``field`` names it); nothing
            is written, so a corrected delivery of the same event applies.
        Conflict: another process changed the same records meanwhile; nothing is kept and Stripe's retry applies.
    """
    target = webhook_secrets.get(session, account_public_id)
    if not target.secret:
        raise NoWebhookSecret(
            "This account has no webhook signing secret yet; paste the endpoint's whsec_… in Settings → Stripe."
        )
    try:
        parsed = stripe_api.verify_webhook(payload, signature, target.secret)
    except BadSignature as error:
        raise InvalidSignature(str(error)) from error
    except MalformedPayload as error:
        raise MalformedEvent(str(error)) from error
    event = check_event(parsed)  # before anything is written
    prefetched = _prefetch(session, target.account_id, event)
    # One write transaction at a time per process (app.db.write_lock), waited for holding no connection: the
    # account look-up above ends its read first, so a burst of deliveries cannot hold the pool while they queue.
    with writing(session):
        return apply_event(session=session, account_id=target.account_id, event=event, prefetched=prefetched)


def apply_event(
    *, session: Session, account_id: int, event: dict[str, Any], prefetched: dict[str, Any] | None = None
) -> WebhookResult:
    """Record the event id and its effect in one transaction; a repeat only counts the delivery."""
    event_id = str(event.get("id") or "")
    type_ = str(event.get("type") or "")
    obj = event["data"].get("object") or {}
    created = int(event.get("created") or 0)
    now = utcnow()
    record = StripeEvent(
        account_id=account_id,
        stripe_event_id=event_id[:255],
        type=type_[:80],
        api_version=(str(event.get("api_version")) if event.get("api_version") else None),
        stripe_created=created,
        object_id=str(obj.get("id") or "")[:255] or None,
        outcome="applied",
        received_at=now,
        last_delivery_at=now,
    )
    session.add(record)
    try:
        session.flush()  # the unique (account, event id) claims the event before any effect
    except IntegrityError:
        session.rollback()
        return _duplicate(session, account_id, event_id, type_)
    try:
        effect = _dispatch(session, account_id, event_id, type_, obj, created, prefetched or {})
        record.outcome = effect.outcome
        record.message = effect.message[:2000]
        record.order_id = effect.order.id if effect.order is not None else None
        if effect.outcome == "unlinked" and effect.link_key:
            record.link_key = effect.link_key[:255]
            record.payload = obj
        session.add(record)
        if effect.order is not None:
            session.flush()
            _replay_unlinked(session, account_id, effect.order)
            # The outbox: conversions the order now owes are written in this same transaction.
            conversions.enqueue_for_order(session=session, order=effect.order)
            rollups.mark_order_dirty(session, effect.order)
        stamp = _last_seen.get(account_id, 0.0) < time.monotonic() - 60
        if stamp:
            # "Last webhook received" is shown to the minute: not one more write per event.
            session.exec(
                update(StripeConnection)
                .where(col(StripeConnection.account_id) == account_id)
                .values(last_webhook_at=now)
            )
        session.commit()
    except IntegrityError as error:
        # Not the claim (that failed above): another process wrote the same payment, subscription… between our
        # reads and our writes. Nothing of this event is kept, its id included, so Stripe's retry applies it.
        session.rollback()
        raise Conflict(
            "Another delivery changed the same records at the same moment; nothing of this one was kept. "
            "Stripe retries it, and the retry applies it."
        ) from error
    if stamp:  # only once committed: a rolled-back delivery did not stamp it
        _last_seen[account_id] = time.monotonic()
    order_public_id = effect.order.public_id if effect.order is not None else None
    return WebhookResult(event_id, type_, effect.outcome, effect.message, order_public_id)


def _duplicate(session: Session, account_id: int, event_id: str, type_: str) -> WebhookResult:
    session.exec(
        update(StripeEvent)
        .where(col(StripeEvent.account_id) == account_id, col(StripeEvent.stripe_event_id) == event_id)
        .values(deliveries=StripeEvent.deliveries + 1, last_delivery_at=utcnow())
    )
    session.commit()
    return WebhookResult(event_id, type_, "duplicate", "Already processed; this delivery changed nothing.")


def _dispatch(
    session: Session,
    account_id: int,
    event_id: str,
    type_: str,
    obj: dict[str, Any],
    created: int,
    prefetched: dict[str, Any],
) -> _Effect:
    at = _ts(created) or utcnow()
    if type_ in {"checkout.session.completed", "checkout.session.async_payment_succeeded"}:
        return _checkout_paid_or_pending(session, account_id, obj, at)
    if type_ == "checkout.session.async_payment_failed":
        return _checkout_moved(session, account_id, obj, OrderStatus.FAILED, at, "The delayed payment failed.")
    if type_ == "checkout.session.expired":
        return _checkout_moved(session, account_id, obj, OrderStatus.EXPIRED, at, "The Checkout Session expired.")
    if type_ == "payment_intent.succeeded":
        return _payment_intent_succeeded(session, account_id, obj, at)
    if type_ == "payment_intent.payment_failed":
        return _payment_intent_failed(session, account_id, obj, at)
    if type_.startswith("customer.subscription."):
        return _subscription(session, account_id, obj, created)
    if type_ in {"invoice.paid", "invoice.payment_succeeded"}:
        return _invoice_paid(session, account_id, obj, at, prefetched)
    if type_ == "invoice.payment_failed":
        return _invoice_failed(session, account_id, obj, at)
    if type_ == "charge.refunded":
        return _charge_refunded(session, account_id, event_id, obj, at)
    if type_.startswith("charge.dispute."):
        return _dispute(session, account_id, obj)
    if type_.startswith("product."):
        applied = apply_product(session, account_id, obj, event_created=created, deleted=type_ == "product.deleted")
        return _catalogue(applied, f"product {obj.get('id')}")
    if type_.startswith(("price.", "plan.")):
        applied = apply_price(session, account_id, obj, event_created=created, deleted=type_.endswith(".deleted"))
        return _catalogue(applied, f"price {obj.get('id')}")
    return _ignored(f"PaidSignal does not use {type_} events.")


def _catalogue(applied: bool, what: str) -> _Effect:
    return _applied(None, f"Catalogue: {what} updated.") if applied else _ignored(f"An older snapshot of {what}.")


# --- reading both old and new shapes --------------------------------------------------------------------------------


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _id(value: Any) -> str | None:
    """An id whether the field holds the id or the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def _metadata_order(obj: dict[str, Any]) -> str | None:
    metadata = obj.get("metadata") or {}
    return metadata.get(META_ORDER) if isinstance(metadata, dict) else None


def _find_order(
    session: Session,
    account_id: int,
    *,
    public_id: str | None = None,
    payment_intent: str | None = None,
    subscription: str | None = None,
    checkout_session: str | None = None,
) -> Order | None:
    if public_id:
        order = session.exec(select(Order).where(Order.account_id == account_id, Order.public_id == public_id)).first()
        if order is not None:
            return order
    for column, value in (
        (Order.payment_intent_id, payment_intent),
        (Order.subscription_id, subscription),
        (Order.checkout_session_id, checkout_session),
    ):
        if value:
            order = session.exec(select(Order).where(Order.account_id == account_id, column == value)).first()
            if order is not None:
                return order
    return None


def _not_ours(kind: str, link_key: str | None = None) -> _Effect:
    if link_key:
        return _Effect(
            "unlinked",
            f"No PaidSignal order matches this {kind} yet; it is kept and applied if an order claims {link_key}.",
            link_key=link_key,
        )
    return _Effect("unlinked", f"No PaidSignal order matches this {kind}; it was not started through PaidSignal.")


def _replay_unlinked(session: Session, account_id: int, order: Order) -> None:
    """Apply the events that arrived before anything linked them to this order (e.g. a renewal invoice before
    its subscription's first event), once, in the order Stripe created them. A replayed invoice can link a
    PaymentIntent that a waiting refund names, so this repeats until nothing more applies."""
    for _ in range(5):
        keys = {order.subscription_id, order.payment_intent_id}
        keys |= set(session.exec(select(Payment.payment_intent_id).where(Payment.order_id == order.id)).all())
        keys.discard(None)
        if not keys:
            return
        waiting = session.exec(
            select(StripeEvent)
            .where(
                StripeEvent.account_id == account_id,
                StripeEvent.outcome == "unlinked",
                col(StripeEvent.link_key).in_(keys),
            )
            .order_by(col(StripeEvent.stripe_created), col(StripeEvent.id))
        ).all()
        applied = 0
        for record in waiting:
            effect = _dispatch(
                session,
                account_id,
                record.stripe_event_id,
                record.type,
                record.payload or {},
                record.stripe_created,
                {},
            )
            if effect.outcome == "unlinked":
                continue
            applied += 1
            record.outcome = effect.outcome
            record.message = f"Applied once its order was known: {effect.message}"[:2000]
            record.order_id = effect.order.id if effect.order is not None else order.id
            record.payload = None
            session.add(record)
        if not applied:
            return
        session.flush()


def _note(change: str | None, what: str) -> str:
    return f"{what} Status {change}." if change else f"{what} Status unchanged."


# --- checkout sessions ----------------------------------------------------------------------------------------------


def _checkout_order(session: Session, account_id: int, obj: dict[str, Any]) -> Order | None:
    order = _find_order(
        session,
        account_id,
        public_id=obj.get("client_reference_id") or _metadata_order(obj),
        checkout_session=_id(obj.get("id")),
    )
    if order is not None:
        order.checkout_session_id = order.checkout_session_id or _id(obj.get("id"))
        order.payment_intent_id = order.payment_intent_id or _id(obj.get("payment_intent"))
        order.subscription_id = order.subscription_id or _id(obj.get("subscription"))
        order.customer_id = order.customer_id or _id(obj.get("customer"))
        email = (obj.get("customer_details") or {}).get("email") or obj.get("customer_email")
        if email and not order.customer_email:
            order.customer_email = str(email)[:320]
    return order


def _checkout_paid_or_pending(session: Session, account_id: int, obj: dict[str, Any], at: datetime) -> _Effect:
    order = _checkout_order(session, account_id, obj)
    if order is None:
        return _not_ours("Checkout Session")
    status = obj.get("payment_status")
    if status in {"paid", "no_payment_required"}:
        amount = int(obj.get("amount_total") or 0)
        currency = str(obj.get("currency") or order.currency).upper()
        if order.mode == "subscription":
            invoice = _id(obj.get("invoice"))
            _record_payment(
                session, order, kind="first", key=invoice or _session_key(obj), amount=amount,
                currency=currency, paid_at=at, invoice_id=invoice, subscription=order.subscription_id,
                billing_reason="subscription_create",
            )  # fmt: skip
        else:
            payment_intent = _id(obj.get("payment_intent"))
            _record_payment(
                session, order, kind="one_off", key=payment_intent or _session_key(obj), amount=amount,
                currency=currency, paid_at=at, payment_intent_id=payment_intent,
            )  # fmt: skip
        change = order_rules.advance(order, OrderStatus.PAID, at)
        session.add(order)
        return _applied(order, _note(change, f"Paid {_amount(session, account_id, amount, currency)}."))
    change = order_rules.advance(order, OrderStatus.PENDING, at)
    session.add(order)
    return _applied(order, _note(change, f"Checkout completed; payment_status is {status!r}, waiting for the money."))


def _session_key(obj: dict[str, Any]) -> str:
    """The payment key of a Checkout Session that names no PaymentIntent or invoice (a free order, an old API
    version). Its id is up to 255 characters, the key at most 64: a digest of it, not the id cut short."""
    return "cs:" + hashlib.sha256(str(obj.get("id")).encode()).hexdigest()[:40]


def _checkout_moved(
    session: Session, account_id: int, obj: dict[str, Any], status: OrderStatus, at: datetime, what: str
) -> _Effect:
    order = _checkout_order(session, account_id, obj)
    if order is None:
        return _not_ours("Checkout Session")
    change = order_rules.advance(order, status, at)
    session.add(order)
    return _applied(order, _note(change, what)) if change else _ignored(_note(None, what), order)


# --- payments -------------------------------------------------------------------------------------------------------


def _record_payment(
    session: Session,
    order: Order,
    *,
    kind: str,
    key: str,
    amount: int,
    currency: str,
    paid_at: datetime,
    invoice_id: str | None = None,
    payment_intent_id: str | None = None,
    charge_id: str | None = None,
    subscription: str | None = None,
    billing_reason: str | None = None,
) -> bool:
    """Record money once, whichever event reports it first; later reports only fill in missing links. A one-off
    order and a subscription's first invoice have one payment each, even when events name it differently."""
    existing = session.exec(
        select(Payment).where(Payment.account_id == order.account_id, Payment.stripe_key == key)
    ).first()
    if existing is None and kind in {"one_off", "first"}:
        existing = session.exec(select(Payment).where(Payment.order_id == order.id, Payment.kind == kind)).first()
    if existing is not None:
        existing.invoice_id = existing.invoice_id or invoice_id
        existing.payment_intent_id = existing.payment_intent_id or payment_intent_id
        existing.charge_id = existing.charge_id or charge_id
        existing.subscription_stripe_id = existing.subscription_stripe_id or subscription
        if existing.stripe_key.startswith("cs:") and not key.startswith("cs:"):
            existing.stripe_key = key
        session.add(existing)
        return False
    session.add(
        Payment(
            account_id=order.account_id,
            order_id=order.id,
            subscription_stripe_id=subscription,
            stripe_key=key,
            kind=kind,
            billing_reason=billing_reason,
            invoice_id=invoice_id,
            payment_intent_id=payment_intent_id,
            charge_id=charge_id,
            amount=amount,
            currency=currency,
            paid_at=paid_at,
        )
    )
    session.flush()
    order.amount_paid = int(
        session.exec(select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.order_id == order.id)).one()
    )
    return True


def _latest_charge(obj: dict[str, Any]) -> str | None:
    charge = _id(obj.get("latest_charge"))
    if charge:
        return charge
    charges = (obj.get("charges") or {}).get("data") or []  # pre-2022 shape
    return _id(charges[-1]) if charges else None


def _payment_intent_succeeded(session: Session, account_id: int, obj: dict[str, Any], at: datetime) -> _Effect:
    order = _find_order(session, account_id, public_id=_metadata_order(obj), payment_intent=_id(obj.get("id")))
    if order is None:
        return _not_ours("PaymentIntent", _id(obj.get("id")))
    if order.mode == "subscription":
        return _ignored("Subscription payments are recorded from their invoices.", order)
    order.payment_intent_id = order.payment_intent_id or _id(obj.get("id"))
    amount = int(obj.get("amount_received") or obj.get("amount") or 0)
    currency = str(obj.get("currency") or order.currency).upper()
    _record_payment(
        session, order, kind="one_off", key=str(obj["id"]), amount=amount, currency=currency, paid_at=at,
        payment_intent_id=_id(obj.get("id")), charge_id=_latest_charge(obj),
    )  # fmt: skip
    change = order_rules.advance(order, OrderStatus.PAID, at)
    session.add(order)
    return _applied(order, _note(change, f"PaymentIntent succeeded: {_amount(session, account_id, amount, currency)}."))


def _payment_intent_failed(session: Session, account_id: int, obj: dict[str, Any], at: datetime) -> _Effect:
    order = _find_order(session, account_id, public_id=_metadata_order(obj), payment_intent=_id(obj.get("id")))
    if order is None:
        return _not_ours("PaymentIntent", _id(obj.get("id")))
    error = obj.get("last_payment_error") or {}
    reason = error.get("message") or error.get("decline_code") or error.get("code") or "no reason given"
    order.payment_intent_id = order.payment_intent_id or _id(obj.get("id"))
    if order.checkout_session_id:
        # Checkout lets the buyer try another card: a declined attempt does not end the order.
        session.add(order)
        return _applied(order, f"A payment attempt was declined ({reason}); the buyer may retry in Checkout.")
    change = order_rules.advance(order, OrderStatus.FAILED, at)
    session.add(order)
    return _applied(order, _note(change, f"Payment failed: {reason}."))


# --- subscriptions and invoices -------------------------------------------------------------------------------------

_TERMINAL_SUBSCRIPTION = {"canceled", "incomplete_expired"}


def _subscription(session: Session, account_id: int, obj: dict[str, Any], created: int) -> _Effect:
    stripe_id = _id(obj.get("id"))
    if not stripe_id:
        return _ignored("The event carries no subscription id.")
    order = _find_order(session, account_id, public_id=_metadata_order(obj), subscription=stripe_id)
    row = session.exec(
        select(Subscription).where(Subscription.account_id == account_id, Subscription.stripe_id == stripe_id)
    ).first()
    if order is None and row is None:
        return _not_ours("subscription", stripe_id)
    if row is None:
        row = Subscription(account_id=account_id, stripe_id=stripe_id, status=str(obj.get("status") or "incomplete"))
    if order is not None:
        row.order_id = row.order_id or order.id
        order.subscription_id = order.subscription_id or stripe_id
        order.customer_id = order.customer_id or _id(obj.get("customer"))
        session.add(order)
    status = str(obj.get("status") or "")
    if created < row.last_event_created:
        session.add(row)
        return _ignored(f"An older snapshot ({status}) than the one applied ({row.status}); kept {row.status}.", order)
    if row.status in _TERMINAL_SUBSCRIPTION and status != row.status and row.last_event_created:
        session.add(row)
        return _ignored(f"The subscription is already {row.status}; {status} cannot follow.", order)
    old = row.status if row.last_event_created else None
    items = (obj.get("items") or {}).get("data") or []
    first_item = items[0] if items else {}
    price = first_item.get("price") or first_item.get("plan") or obj.get("plan")
    period_end = obj.get("current_period_end") or first_item.get("current_period_end")
    row.status = status or row.status
    row.customer_id = _id(obj.get("customer")) or row.customer_id
    row.price_stripe_id = _id(price) or row.price_stripe_id
    row.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
    row.current_period_end = _ts(period_end) or row.current_period_end
    row.canceled_at = _ts(obj.get("canceled_at") or obj.get("ended_at")) or row.canceled_at
    row.last_event_created = created
    row.updated_at = utcnow()
    session.add(row)
    change = f"{old} → {row.status}" if old and old != row.status else row.status
    return _applied(order, f"Subscription {stripe_id}: {change}.")


def _invoice_subscription(obj: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The invoice's subscription id and that subscription's metadata, from the new (``parent``) or old shape."""
    details = ((obj.get("parent") or {}).get("subscription_details")) or obj.get("subscription_details") or {}
    subscription = _id(details.get("subscription")) or _id(obj.get("subscription"))
    metadata = dict(details.get("metadata") or {})
    if not metadata.get(META_ORDER):
        for line in (obj.get("lines") or {}).get("data") or []:
            if (line.get("metadata") or {}).get(META_ORDER):
                metadata = dict(line["metadata"])
                break
    return subscription, metadata


def _invoice_payment_links(obj: dict[str, Any], prefetched: dict[str, Any]) -> tuple[str | None, str | None]:
    """(PaymentIntent id, charge id) of an invoice: old shapes carry them; new ones list ``payments``; else what
    was fetched from Stripe before the transaction."""
    payment_intent = _id(obj.get("payment_intent"))
    charge = _id(obj.get("charge"))
    if payment_intent or charge:
        return payment_intent, charge
    payments = (obj.get("payments") or {}).get("data") or prefetched.get("invoice_payments") or []
    for entry in payments:
        payment = entry.get("payment") or {}
        if payment.get("payment_intent") or payment.get("charge"):
            return _id(payment.get("payment_intent")), _id(payment.get("charge"))
    return None, None


def _invoice_order(session: Session, account_id: int, obj: dict[str, Any]) -> tuple[Order | None, str | None]:
    subscription, metadata = _invoice_subscription(obj)
    order = _find_order(session, account_id, public_id=metadata.get(META_ORDER), subscription=subscription)
    if order is None and subscription:
        row = session.exec(
            select(Subscription).where(Subscription.account_id == account_id, Subscription.stripe_id == subscription)
        ).first()
        if row is not None and row.order_id:
            order = session.get(Order, row.order_id)
    return order, subscription


def _invoice_paid(
    session: Session, account_id: int, obj: dict[str, Any], at: datetime, prefetched: dict[str, Any]
) -> _Effect:
    order, subscription = _invoice_order(session, account_id, obj)
    if order is None:
        return _not_ours("invoice", subscription)
    invoice_id = str(obj.get("id"))
    reason = str(obj.get("billing_reason") or "")
    if reason:
        kind = {"subscription_create": "first", "subscription_cycle": "renewal"}.get(reason, "adjustment")
    else:
        # API versions before 2018 have no billing_reason: the subscription's first invoice is its first payment.
        has_first = session.exec(
            select(Payment.id).where(
                Payment.order_id == order.id,
                Payment.kind == "first",
                col(Payment.invoice_id).is_not(None),
                Payment.invoice_id != invoice_id,
            )
        ).first()
        kind = "renewal" if has_first else "first"
    amount = int(obj.get("amount_paid") or 0)
    currency = str(obj.get("currency") or order.currency).upper()
    paid_at = _ts((obj.get("status_transitions") or {}).get("paid_at")) or at
    payment_intent, charge = _invoice_payment_links(obj, prefetched)
    order.subscription_id = order.subscription_id or subscription
    new = _record_payment(
        session, order, kind=kind, key=invoice_id, amount=amount, currency=currency, paid_at=paid_at,
        invoice_id=invoice_id, payment_intent_id=payment_intent, charge_id=charge, subscription=subscription,
        billing_reason=reason or None,
    )  # fmt: skip
    change = order_rules.advance(order, OrderStatus.PAID, at) if kind == "first" else order_rules.settle(order)
    session.add(order)
    label = {"first": "First payment", "renewal": "Renewal"}.get(kind, f"Invoice ({reason or 'other'})")
    what = f"{label} {invoice_id}: {_amount(session, account_id, amount, currency)}" + (
        "." if new else ", already recorded."
    )
    if not payment_intent and not charge:
        what += " Stripe did not say which payment paid it; refunds of it cannot be matched yet."
    return _applied(order, _note(change, what))


def _invoice_failed(session: Session, account_id: int, obj: dict[str, Any], at: datetime) -> _Effect:
    order, subscription = _invoice_order(session, account_id, obj)
    if order is None:
        return _not_ours("invoice", subscription)
    reason = str(obj.get("billing_reason") or "")
    what = f"Invoice {obj.get('id')} ({reason or 'other'}) payment failed."
    change = order_rules.advance(order, OrderStatus.FAILED, at) if reason == "subscription_create" else None
    session.add(order)
    return _applied(order, _note(change, what))


# --- refunds and disputes -------------------------------------------------------------------------------------------


def _payment_for_charge(
    session: Session, account_id: int, charge: str | None, payment_intent: str | None
) -> Payment | None:
    for column, value in ((Payment.charge_id, charge), (Payment.payment_intent_id, payment_intent)):
        if value:
            payment = session.exec(select(Payment).where(Payment.account_id == account_id, column == value)).first()
            if payment is not None:
                return payment
    return None


def _charge_refunded(session: Session, account_id: int, event_id: str, obj: dict[str, Any], at: datetime) -> _Effect:
    charge_id = _id(obj.get("id")) or ""
    payment_intent = _id(obj.get("payment_intent"))
    payment = _payment_for_charge(session, account_id, charge_id, payment_intent)
    order = session.get(Order, payment.order_id) if payment is not None and payment.order_id else None
    if order is None:
        order = _find_order(session, account_id, public_id=_metadata_order(obj), payment_intent=payment_intent)
    if order is None and obj.get("invoice"):
        payment = session.exec(
            select(Payment).where(Payment.account_id == account_id, Payment.invoice_id == _id(obj.get("invoice")))
        ).first()
        order = session.get(Order, payment.order_id) if payment is not None and payment.order_id else None
    if order is None:
        return _not_ours("charge", payment_intent)
    if payment is not None and not payment.charge_id:
        payment.charge_id = charge_id
    cumulative = int(obj.get("amount_refunded") or 0)
    recorded = int(
        session.exec(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.account_id == account_id, Refund.charge_id == charge_id
            )
        ).one()
    )
    currency = str(obj.get("currency") or order.currency).upper()
    if cumulative <= recorded:
        return _ignored(
            f"Refunds of {_amount(session, account_id, recorded, currency)} on {charge_id} are already recorded "
            f"(the event says {_amount(session, account_id, cumulative, currency)} in total).",
            order,
        )
    delta = cumulative - recorded
    session.add(
        Refund(
            account_id=account_id,
            order_id=order.id,
            payment_id=payment.id if payment is not None else None,
            charge_id=charge_id,
            stripe_event_id=event_id[:64],
            amount=delta,
            currency=currency,
            refunded_at=at,
        )
    )
    if payment is not None:
        payment.amount_refunded = cumulative
        session.add(payment)
    order.amount_refunded += delta
    change = order_rules.settle(order, at=at)
    session.add(order)
    return _applied(
        order,
        _note(
            change,
            f"Refunded {_amount(session, account_id, delta, currency)}; "
            f"{_amount(session, account_id, cumulative, currency)} in total on {charge_id}.",
        ),
    )


def _dispute(session: Session, account_id: int, obj: dict[str, Any]) -> _Effect:
    payment = _payment_for_charge(session, account_id, _id(obj.get("charge")), _id(obj.get("payment_intent")))
    order = session.get(Order, payment.order_id) if payment is not None and payment.order_id else None
    if order is None:
        order = _find_order(session, account_id, payment_intent=_id(obj.get("payment_intent")))
    if order is None:
        return _not_ours("dispute", _id(obj.get("payment_intent")))
    order.disputed = True
    order.dispute_status = str(obj.get("status") or "")[:32] or order.dispute_status
    session.add(order)
    reason = obj.get("reason") or "no reason given"
    return _applied(order, f"Dispute {obj.get('id')} ({reason}): {order.dispute_status}.")


# --- what must be fetched from Stripe before the transaction --------------------------------------------------------


def _prefetch(session: Session, account_id: int, event: dict[str, Any]) -> dict[str, Any]:
    """Invoices of recent API versions may not say which payment paid them. Ask Stripe for the invoice's payments,
    only then, and outside the transaction so no lock waits on the network. Failure is not fatal: the payment is
    recorded without the link (the order's timeline says so)."""
    if event.get("type") not in {"invoice.paid", "invoice.payment_succeeded"}:
        return {}
    obj = event["data"].get("object") or {}
    if _invoice_payment_links(obj, {}) != (None, None):
        return {}
    connection = session.exec(select(StripeConnection).where(StripeConnection.account_id == account_id)).first()
    if connection is None:
        return {}
    try:
        client = client_for(connection)
        listed = stripe_api.call(client.v1.invoice_payments.list, params={"invoice": str(obj.get("id")), "limit": 10})
        return {"invoice_payments": stripe_api.as_dict(listed).get("data") or []}
    except StripeCallFailed as error:
        log.warning("could not fetch the payments of invoice %s: %s", obj.get("id"), error)
        return {}
    finally:
        session.rollback()  # end the read transaction before the write one


def reset_caches() -> None:
    """Forget when each account last had a webhook (tests reuse account ids)."""
    _last_seen.clear()
