"""The order side of Stripe's objects: find the order an object names, record each payment once, find the payment a
refund or dispute is about; and the readers of fields in both old and new event shapes."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, inspect
from sqlalchemy import select as sa_select
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, func, select
from sqlmodel.sql.expression import SelectOfScalar

from app.db import execute
from app.models import Order, Payment, PaymentKind
from app.models.base import table_of
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
    """The account's order with our public id, else the first that holds one of the Stripe ids. Read as a Core row
    on the session's connection and attached as a loaded object (``_attached``): the rules and ``orders.save`` work on
    the object, without the ORM's query machinery on every webhook."""
    connection = session.connection()
    for column, value in (
        ("public_id", public_id),
        ("payment_intent_id", payment_intent),
        ("subscription_id", subscription),
        ("checkout_session_id", checkout_session),
    ):
        if value:
            row = execute(connection, _order_by(column), {"account_id": account_id, "value": value}).first()
            if row is not None:
                return _attached(session, row)
    return None


def _attached(session: Session, row: Any) -> Order:
    """The order of a stored row as an object of the session, as a query would give it: the one the session holds
    if any (what this transaction changed wins, the identity map's rule), else one made from the row the way the
    ORM's loading makes it (``make_transient_to_detached``: every field loaded and unchanged, then attached)."""
    held = session.identity_map.get(identity_key(Order, row.id))
    if held is not None:
        return held
    order: Order = inspect(Order).class_manager.new_instance()
    order.__dict__.update(row._asdict())
    make_transient_to_detached(order)
    session.add(order)
    return order


# Statements of the webhook path, built once (building one costs more than running it; app/services/stripe_webhooks).


_ORDERS = table_of(Order)


@functools.cache
def _order_by(column: str) -> Select[Any]:
    return sa_select(_ORDERS).where(
        _ORDERS.c.account_id == bindparam("account_id"), _ORDERS.c[column] == bindparam("value")
    )


@functools.cache
def _payment_by(column: str) -> SelectOfScalar[Payment]:
    return select(Payment).where(
        Payment.account_id == bindparam("account_id"), getattr(Payment, column) == bindparam("value")
    )


_PAYMENTS = table_of(Payment)
_LINKS = ("invoice_id", "payment_intent_id", "charge_id", "subscription_stripe_id", "stripe_key")
_PAYMENT_BY_KEY = select(_PAYMENTS.c.id, *(_PAYMENTS.c[name] for name in _LINKS)).where(
    _PAYMENTS.c.account_id == bindparam("account_id"), _PAYMENTS.c.stripe_key == bindparam("key")
)
_PAYMENT_OF_KIND = (
    select(_PAYMENTS.c.id, *(_PAYMENTS.c[name] for name in _LINKS))
    .where(_PAYMENTS.c.order_id == bindparam("order_id"), _PAYMENTS.c.kind == bindparam("kind"))
    .order_by(_PAYMENTS.c.id)
)
_UPDATE_PAYMENT = _PAYMENTS.update().where(_PAYMENTS.c.id == bindparam("_id"))  # SET from the parameters' names
_INSERT_PAYMENT = _PAYMENTS.insert()
_AMOUNT_PAID = select(func.coalesce(func.sum(_PAYMENTS.c.amount), 0)).where(
    _PAYMENTS.c.order_id == bindparam("order_id")
)


def _filled_links(stored: Mapping[str, Any], key: str, new: Mapping[str, str | None]) -> dict[str, Any]:
    """What a later report of a recorded payment adds: the links it lacks, and a real key for a ``cs:`` one."""
    changes = {name: value for name, value in new.items() if value and not stored[name]}
    if str(stored["stripe_key"]).startswith("cs:") and not key.startswith("cs:"):
        changes["stripe_key"] = key
    return changes


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
    order and a subscription's first invoice have one payment each, even when events name it differently.

    Core statements, no ORM object (the webhook's hot path); a payment the session holds as an object (a refund
    of it applied earlier in the same transaction) is changed through that object, so the two never disagree."""
    # On the session's connection: Session.execute would first flush the ORM's pending changes (the order's).
    connection = session.connection()
    existing = execute(connection, _PAYMENT_BY_KEY, {"account_id": order.account_id, "key": key}).first()
    if existing is None and kind in {PaymentKind.ONE_OFF, PaymentKind.FIRST}:
        existing = execute(connection, _PAYMENT_OF_KIND, {"order_id": order.id, "kind": kind}).first()
    if existing is not None:
        links = {
            "invoice_id": invoice_id,
            "payment_intent_id": payment_intent_id,
            "charge_id": charge_id,
            "subscription_stripe_id": subscription,
        }
        held = session.identity_map.get(identity_key(Payment, existing.id))
        stored = existing._asdict() if held is None else {name: getattr(held, name) for name in _LINKS}
        changes = _filled_links(stored, key, links)
        if changes:
            execute(connection, _UPDATE_PAYMENT, {"_id": existing.id, **changes})
            for name, value in changes.items() if held is not None else ():
                set_committed_value(held, name, value)
        return False
    execute(
        connection,
        _INSERT_PAYMENT,
        {
            "account_id": order.account_id,
            "order_id": order.id,
            "subscription_stripe_id": subscription,
            "stripe_key": key,
            "kind": kind,
            "billing_reason": billing_reason,
            "invoice_id": invoice_id,
            "payment_intent_id": payment_intent_id,
            "charge_id": charge_id,
            "amount": amount,
            "amount_refunded": 0,
            "currency": currency,
            "paid_at": paid_at,
        },
    )
    order.amount_paid = int(execute(connection, _AMOUNT_PAID, {"order_id": order.id}).one()[0])
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
