"""The order side of Stripe's objects: find the order an object names, record each payment once, find the payment a
refund or dispute is about; and the readers of fields in both old and new event shapes."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, func, select
from sqlmodel.sql.expression import SelectOfScalar

from app.models import Order, Payment, PaymentKind
from app.services.checkout import META_ORDER


def timestamp(value: Any) -> datetime | None:
    """A Stripe epoch-seconds field as an aware UTC time (``None`` when absent)."""
    return datetime.fromtimestamp(int(value), UTC) if value else None


def id_of(value: Any) -> str | None:
    """An id whether the field holds the id or the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def metadata_order(obj: dict[str, Any]) -> str | None:
    """Our order id as the object's metadata carries it (set when the checkout started)."""
    metadata = obj.get("metadata") or {}
    return metadata.get(META_ORDER) if isinstance(metadata, dict) else None


def latest_charge(obj: dict[str, Any]) -> str | None:
    """A PaymentIntent's latest charge id, from the current or the pre-2022 shape."""
    charge = id_of(obj.get("latest_charge"))
    if charge:
        return charge
    charges = (obj.get("charges") or {}).get("data") or []  # pre-2022 shape
    return id_of(charges[-1]) if charges else None


def session_key(obj: dict[str, Any]) -> str:
    """The payment key of a Checkout Session that names no PaymentIntent or invoice (a free order, an old API
    version). Its id is up to 255 characters, the key at most 64: a digest of it, not the id cut short."""
    return "cs:" + hashlib.sha256(str(obj.get("id")).encode()).hexdigest()[:40]


def find_order(
    session: Session,
    account_id: int,
    *,
    public_id: str | None = None,
    payment_intent: str | None = None,
    subscription: str | None = None,
    checkout_session: str | None = None,
) -> Order | None:
    """The account's order with our public id, else the first that holds one of the Stripe ids."""
    for column, value in (
        ("public_id", public_id),
        ("payment_intent_id", payment_intent),
        ("subscription_id", subscription),
        ("checkout_session_id", checkout_session),
    ):
        if value:
            order = session.exec(_order_by(column), params={"account_id": account_id, "value": value}).first()
            if order is not None:
                return order
    return None


# Statements of the webhook path, built once (building one costs more than running it; app/services/stripe_webhooks).


@functools.cache
def _order_by(column: str) -> SelectOfScalar[Order]:
    return select(Order).where(
        Order.account_id == bindparam("account_id"), getattr(Order, column) == bindparam("value")
    )


@functools.cache
def _payment_by(column: str) -> SelectOfScalar[Payment]:
    return select(Payment).where(
        Payment.account_id == bindparam("account_id"), getattr(Payment, column) == bindparam("value")
    )


_PAYMENT_OF_KIND = select(Payment).where(Payment.order_id == bindparam("order_id"), Payment.kind == bindparam("kind"))
_AMOUNT_PAID = select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.order_id == bindparam("order_id"))


def record_payment(
    session: Session,
    order: Order,
    *,
    kind: PaymentKind,
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
    existing = session.exec(_payment_by("stripe_key"), params={"account_id": order.account_id, "value": key}).first()
    if existing is None and kind in {PaymentKind.ONE_OFF, PaymentKind.FIRST}:
        existing = session.exec(_PAYMENT_OF_KIND, params={"order_id": order.id, "kind": kind}).first()
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
    order.amount_paid = int(session.exec(_AMOUNT_PAID, params={"order_id": order.id}).one())
    return True


def payment_for_charge(
    session: Session, account_id: int, charge: str | None, payment_intent: str | None
) -> Payment | None:
    """The recorded payment a charge (or its PaymentIntent) belongs to."""
    for column, value in (("charge_id", charge), ("payment_intent_id", payment_intent)):
        if value:
            payment = session.exec(_payment_by(column), params={"account_id": account_id, "value": value}).first()
            if payment is not None:
                return payment
    return None
