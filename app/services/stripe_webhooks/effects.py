"""What each Stripe event type does to orders, payments, subscriptions and refunds (``dispatch``), moving state
forward only: order statuses by rank (services/orders.py), subscriptions by the newest event applied, refunds by the
charge's cumulative ``amount_refunded``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from app.lib.formatting import format_money
from app.models import Order, OrderMode, OrderStatus, Payment, PaymentKind, Refund, Subscription, WebhookOutcome
from app.models.base import utcnow
from app.services import orders as order_rules
from app.services.accounts import account_locale
from app.services.checkout import META_ORDER
from app.services.stripe_connection import apply_price, apply_product
from app.services.stripe_webhooks.ledger import (
    find_order,
    id_of,
    latest_charge,
    metadata_order,
    payment_for_charge,
    record_payment,
    session_key,
    timestamp,
)


@dataclass
class Effect:
    """What one event did: its outcome (applied | ignored | unlinked), a sentence for the order's history."""

    outcome: WebhookOutcome
    message: str
    order: Order | None = None
    link_key: str | None = None  # for unlinked events: the Stripe id that would link them to an order


def _amount(session: Session, account_id: int, amount: int, currency: str) -> str:
    """An amount for the order's history, as the account's locale writes it (``€10.00``, ``10,00 €``)."""
    return format_money(amount, currency, account_locale(session, account_id))


def _applied(order: Order | None, message: str) -> Effect:
    return Effect(WebhookOutcome.APPLIED, message, order)


def _ignored(message: str, order: Order | None = None) -> Effect:
    return Effect(WebhookOutcome.IGNORED, message, order)


def _not_ours(kind: str, link_key: str | None = None) -> Effect:
    if link_key:
        return Effect(
            WebhookOutcome.UNLINKED,
            f"No PaidSignal order matches this {kind} yet; it is kept and applied if an order claims {link_key}.",
            link_key=link_key,
        )
    return Effect(
        WebhookOutcome.UNLINKED, f"No PaidSignal order matches this {kind}; it was not started through PaidSignal."
    )


def _note(change: str | None, what: str) -> str:
    return f"{what} Status {change}." if change else f"{what} Status unchanged."


def dispatch(
    session: Session,
    account_id: int,
    event_id: str,
    type_: str,
    obj: dict[str, Any],
    created: int,
    prefetched: dict[str, Any],
) -> Effect:
    """Apply one event's object to the account's records (nothing is committed here)."""
    if not handles(type_):
        return _ignored(ignored_type(type_)[1])
    at = timestamp(created) or utcnow()
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
    return _ignored(ignored_type(type_)[1])  # a type of a handled prefix this function does not read


_HANDLED = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "charge.refunded",
    }
)
_HANDLED_PREFIXES = ("customer.subscription.", "charge.dispute.", "product.", "price.", "plan.")


def handles(type_: str) -> bool:
    """Whether ``dispatch`` reads events of this type (the others are recorded as ignored, and nothing else)."""
    return type_ in _HANDLED or type_.startswith(_HANDLED_PREFIXES)


def ignored_type(type_: str) -> tuple[WebhookOutcome, str]:
    """The outcome and message of an event of a type ``dispatch`` does not read."""
    return WebhookOutcome.IGNORED, f"PaidSignal does not use {type_} events."


def _catalogue(applied: bool, what: str) -> Effect:
    return _applied(None, f"Catalogue: {what} updated.") if applied else _ignored(f"An older snapshot of {what}.")


# --- checkout sessions ----------------------------------------------------------------------------------------------


def _checkout_order(session: Session, account_id: int, obj: dict[str, Any]) -> Order | None:
    order = find_order(
        session,
        account_id,
        public_id=obj.get("client_reference_id") or metadata_order(obj),
        checkout_session=id_of(obj.get("id")),
    )
    if order is not None:
        order.checkout_session_id = order.checkout_session_id or id_of(obj.get("id"))
        order.payment_intent_id = order.payment_intent_id or id_of(obj.get("payment_intent"))
        order.subscription_id = order.subscription_id or id_of(obj.get("subscription"))
        order.customer_id = order.customer_id or id_of(obj.get("customer"))
        email = (obj.get("customer_details") or {}).get("email") or obj.get("customer_email")
        if email and not order.customer_email:
            order.customer_email = str(email)[:320]
    return order


def _checkout_paid_or_pending(session: Session, account_id: int, obj: dict[str, Any], at: datetime) -> Effect:
    order = _checkout_order(session, account_id, obj)
    if order is None:
        return _not_ours("Checkout Session")
    status = obj.get("payment_status")
    if status in {"paid", "no_payment_required"}:
        amount = int(obj.get("amount_total") or 0)
        currency = str(obj.get("currency") or order.currency).upper()
        if order.mode == OrderMode.SUBSCRIPTION:
            invoice = id_of(obj.get("invoice"))
            record_payment(
                session, order, kind=PaymentKind.FIRST, key=invoice or session_key(obj), amount=amount,
                currency=currency, paid_at=at, invoice_id=invoice, subscription=order.subscription_id,
                billing_reason="subscription_create",
            )  # fmt: skip
        else:
            payment_intent = id_of(obj.get("payment_intent"))
            record_payment(
                session, order, kind=PaymentKind.ONE_OFF, key=payment_intent or session_key(obj), amount=amount,
                currency=currency, paid_at=at, payment_intent_id=payment_intent,
            )  # fmt: skip
        change = order_rules.advance(order, OrderStatus.PAID, at)
        order_rules.save(session, order)
        return _applied(order, _note(change, f"Paid {_amount(session, account_id, amount, currency)}."))
    change = order_rules.advance(order, OrderStatus.PENDING, at)
    order_rules.save(session, order)
    return _applied(order, _note(change, f"Checkout completed; payment_status is {status!r}, waiting for the money."))


def _checkout_moved(
    session: Session, account_id: int, obj: dict[str, Any], status: OrderStatus, at: datetime, what: str
) -> Effect:
    order = _checkout_order(session, account_id, obj)
    if order is None:
        return _not_ours("Checkout Session")
    change = order_rules.advance(order, status, at)
    order_rules.save(session, order)
    return _applied(order, _note(change, what)) if change else _ignored(_note(None, what), order)


# --- payments -------------------------------------------------------------------------------------------------------


def _payment_intent_succeeded(session: Session, account_id: int, obj: dict[str, Any], at: datetime) -> Effect:
    order = find_order(session, account_id, public_id=metadata_order(obj), payment_intent=id_of(obj.get("id")))
    if order is None:
        return _not_ours("PaymentIntent", id_of(obj.get("id")))
    if order.mode == OrderMode.SUBSCRIPTION:
        return _ignored("Subscription payments are recorded from their invoices.", order)
    order.payment_intent_id = order.payment_intent_id or id_of(obj.get("id"))
    amount = int(obj.get("amount_received") or obj.get("amount") or 0)
    currency = str(obj.get("currency") or order.currency).upper()
    record_payment(
        session, order, kind=PaymentKind.ONE_OFF, key=str(obj["id"]), amount=amount, currency=currency, paid_at=at,
        payment_intent_id=id_of(obj.get("id")), charge_id=latest_charge(obj),
    )  # fmt: skip
    change = order_rules.advance(order, OrderStatus.PAID, at)
    order_rules.save(session, order)
    return _applied(order, _note(change, f"PaymentIntent succeeded: {_amount(session, account_id, amount, currency)}."))


def _payment_intent_failed(session: Session, account_id: int, obj: dict[str, Any], at: datetime) -> Effect:
    order = find_order(session, account_id, public_id=metadata_order(obj), payment_intent=id_of(obj.get("id")))
    if order is None:
        return _not_ours("PaymentIntent", id_of(obj.get("id")))
    error = obj.get("last_payment_error") or {}
    reason = error.get("message") or error.get("decline_code") or error.get("code") or "no reason given"
    order.payment_intent_id = order.payment_intent_id or id_of(obj.get("id"))
    if order.checkout_session_id:
        # Checkout lets the buyer try another card: a declined attempt does not end the order.
        order_rules.save(session, order)
        return _applied(order, f"A payment attempt was declined ({reason}); the buyer may retry in Checkout.")
    change = order_rules.advance(order, OrderStatus.FAILED, at)
    order_rules.save(session, order)
    return _applied(order, _note(change, f"Payment failed: {reason}."))


# --- subscriptions and invoices -------------------------------------------------------------------------------------

_TERMINAL_SUBSCRIPTION = {"canceled", "incomplete_expired"}


def _subscription(session: Session, account_id: int, obj: dict[str, Any], created: int) -> Effect:
    stripe_id = id_of(obj.get("id"))
    if not stripe_id:
        return _ignored("The event carries no subscription id.")
    order = find_order(session, account_id, public_id=metadata_order(obj), subscription=stripe_id)
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
        order.customer_id = order.customer_id or id_of(obj.get("customer"))
        order_rules.save(session, order)
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
    row.customer_id = id_of(obj.get("customer")) or row.customer_id
    row.price_stripe_id = id_of(price) or row.price_stripe_id
    row.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
    row.current_period_end = timestamp(period_end) or row.current_period_end
    row.canceled_at = timestamp(obj.get("canceled_at") or obj.get("ended_at")) or row.canceled_at
    row.last_event_created = created
    row.updated_at = utcnow()
    session.add(row)
    change = f"{old} → {row.status}" if old and old != row.status else row.status
    return _applied(order, f"Subscription {stripe_id}: {change}.")


def _invoice_subscription(obj: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The invoice's subscription id and that subscription's metadata, from the new (``parent``) or old shape."""
    details = ((obj.get("parent") or {}).get("subscription_details")) or obj.get("subscription_details") or {}
    subscription = id_of(details.get("subscription")) or id_of(obj.get("subscription"))
    metadata = dict(details.get("metadata") or {})
    if not metadata.get(META_ORDER):
        for line in (obj.get("lines") or {}).get("data") or []:
            if (line.get("metadata") or {}).get(META_ORDER):
                metadata = dict(line["metadata"])
                break
    return subscription, metadata


def invoice_payment_links(obj: dict[str, Any], prefetched: dict[str, Any]) -> tuple[str | None, str | None]:
    """(PaymentIntent id, charge id) of an invoice: old shapes carry them; new ones list ``payments``; else what
    was fetched from Stripe before the transaction."""
    payment_intent = id_of(obj.get("payment_intent"))
    charge = id_of(obj.get("charge"))
    if payment_intent or charge:
        return payment_intent, charge
    payments = (obj.get("payments") or {}).get("data") or prefetched.get("invoice_payments") or []
    for entry in payments:
        payment = entry.get("payment") or {}
        if payment.get("payment_intent") or payment.get("charge"):
            return id_of(payment.get("payment_intent")), id_of(payment.get("charge"))
    return None, None


def _invoice_order(session: Session, account_id: int, obj: dict[str, Any]) -> tuple[Order | None, str | None]:
    subscription, metadata = _invoice_subscription(obj)
    order = find_order(session, account_id, public_id=metadata.get(META_ORDER), subscription=subscription)
    if order is None and subscription:
        row = session.exec(
            select(Subscription).where(Subscription.account_id == account_id, Subscription.stripe_id == subscription)
        ).first()
        if row is not None and row.order_id:
            order = session.get(Order, row.order_id)
    return order, subscription


def _invoice_paid(
    session: Session, account_id: int, obj: dict[str, Any], at: datetime, prefetched: dict[str, Any]
) -> Effect:
    order, subscription = _invoice_order(session, account_id, obj)
    if order is None:
        return _not_ours("invoice", subscription)
    invoice_id = str(obj.get("id"))
    reason = str(obj.get("billing_reason") or "")
    if reason:
        kind = {"subscription_create": PaymentKind.FIRST, "subscription_cycle": PaymentKind.RENEWAL}.get(
            reason, PaymentKind.ADJUSTMENT
        )
    else:
        # API versions before 2018 have no billing_reason: the subscription's first invoice is its first payment.
        has_first = session.exec(
            select(Payment.id).where(
                Payment.order_id == order.id,
                Payment.kind == PaymentKind.FIRST,
                col(Payment.invoice_id).is_not(None),
                Payment.invoice_id != invoice_id,
            )
        ).first()
        kind = PaymentKind.RENEWAL if has_first else PaymentKind.FIRST
    amount = int(obj.get("amount_paid") or 0)
    currency = str(obj.get("currency") or order.currency).upper()
    paid_at = timestamp((obj.get("status_transitions") or {}).get("paid_at")) or at
    payment_intent, charge = invoice_payment_links(obj, prefetched)
    order.subscription_id = order.subscription_id or subscription
    new = record_payment(
        session, order, kind=kind, key=invoice_id, amount=amount, currency=currency, paid_at=paid_at,
        invoice_id=invoice_id, payment_intent_id=payment_intent, charge_id=charge, subscription=subscription,
        billing_reason=reason or None,
    )  # fmt: skip
    change = (
        order_rules.advance(order, OrderStatus.PAID, at) if kind == PaymentKind.FIRST else order_rules.settle(order)
    )
    order_rules.save(session, order)
    label = {PaymentKind.FIRST: "First payment", PaymentKind.RENEWAL: "Renewal"}.get(
        kind, f"Invoice ({reason or 'other'})"
    )
    what = f"{label} {invoice_id}: {_amount(session, account_id, amount, currency)}" + (
        "." if new else ", already recorded."
    )
    if not payment_intent and not charge:
        what += " Stripe did not say which payment paid it; refunds of it cannot be matched yet."
    return _applied(order, _note(change, what))


def _invoice_failed(session: Session, account_id: int, obj: dict[str, Any], at: datetime) -> Effect:
    order, subscription = _invoice_order(session, account_id, obj)
    if order is None:
        return _not_ours("invoice", subscription)
    reason = str(obj.get("billing_reason") or "")
    what = f"Invoice {obj.get('id')} ({reason or 'other'}) payment failed."
    change = order_rules.advance(order, OrderStatus.FAILED, at) if reason == "subscription_create" else None
    order_rules.save(session, order)
    return _applied(order, _note(change, what))


# --- refunds and disputes -------------------------------------------------------------------------------------------


def _charge_refunded(session: Session, account_id: int, event_id: str, obj: dict[str, Any], at: datetime) -> Effect:
    charge_id = id_of(obj.get("id")) or ""
    payment_intent = id_of(obj.get("payment_intent"))
    payment = payment_for_charge(session, account_id, charge_id, payment_intent)
    order = session.get(Order, payment.order_id) if payment is not None and payment.order_id else None
    if order is None:
        order = find_order(session, account_id, public_id=metadata_order(obj), payment_intent=payment_intent)
    if order is None and obj.get("invoice"):
        payment = session.exec(
            select(Payment).where(Payment.account_id == account_id, Payment.invoice_id == id_of(obj.get("invoice")))
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
    order_rules.save(session, order)
    return _applied(
        order,
        _note(
            change,
            f"Refunded {_amount(session, account_id, delta, currency)}; "
            f"{_amount(session, account_id, cumulative, currency)} in total on {charge_id}.",
        ),
    )


def _dispute(session: Session, account_id: int, obj: dict[str, Any]) -> Effect:
    payment = payment_for_charge(session, account_id, id_of(obj.get("charge")), id_of(obj.get("payment_intent")))
    order = session.get(Order, payment.order_id) if payment is not None and payment.order_id else None
    if order is None:
        order = find_order(session, account_id, payment_intent=id_of(obj.get("payment_intent")))
    if order is None:
        return _not_ours("dispute", id_of(obj.get("payment_intent")))
    order.disputed = True
    order.dispute_status = str(obj.get("status") or "")[:32] or order.dispute_status
    order_rules.save(session, order)
    reason = obj.get("reason") or "no reason given"
    return _applied(order, f"Dispute {obj.get('id')} ({reason}): {order.dispute_status}.")
