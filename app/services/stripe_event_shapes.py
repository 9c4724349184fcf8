"""The shapes of the Stripe webhook fields PaidSignal reads, checked before anything is written.

A delivery with a valid signature can still be malformed (a broken proxy, a hand-made test event, a Stripe API
version we do not know): every field the handlers in ``stripe_webhooks`` read is checked here for its type and
range, in the old shapes (localstripe's 2017 events) and the pinned version alike, and the first wrong one is
named (``data.object.amount_total``). Fields we do not read are not checked, except that no string anywhere may
hold a NUL or a lone surrogate (no database can store them) and the body may not nest deeper than Stripe's objects.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from app.services.errors import ServiceError

MAX_DEPTH = 32  # Stripe's deepest expanded objects nest about ten levels
MAX_AMOUNT = 10**15  # minor units: far above any Stripe amount, far below what a BIGINT sum can hold
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class MalformedEvent(ServiceError):
    """A signed delivery that is not a Stripe event we can read; ``field`` names the first wrong field."""

    status_code = 400
    code = "malformed_event"


def _ref(limit: int) -> AfterValidator:
    """A Stripe reference: the id itself, or the expanded object carrying it."""

    def check(value: Any) -> Any:
        found = value.get("id") if isinstance(value, dict) else value
        if isinstance(value, dict) and found is None:
            return value
        if not isinstance(found, str) or not 0 < len(found) <= limit:
            raise ValueError(f"must be an id (a string of 1 to {limit} characters) or an object with such an id")
        return value

    return AfterValidator(check)


Ref = Annotated[Any, _ref(64)]
LongRef = Annotated[Any, _ref(255)]  # Checkout Session ids are longer than the rest
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
LongId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(max_length=5000)]
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
Timestamp = Annotated[int, Field(ge=0, le=MAX_TIMESTAMP)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")]
Metadata = dict[str, str]


class _Shape(BaseModel):
    # strict: "123" is not an integer and 0 is not a boolean; other keys are Stripe's business, not ours.
    model_config = ConfigDict(extra="ignore", strict=True)


class _Object(_Shape):
    id: LongId | None = None


class _Typed(_Object):
    id: Id  # every object we act on names itself
    metadata: Metadata | None = None


class _CustomerDetails(_Shape):
    email: Text | None = None


class CheckoutSessionShape(_Typed):
    id: LongId
    client_reference_id: LongId | None = None
    payment_intent: Ref | None = None
    subscription: Ref | None = None
    customer: Ref | None = None
    invoice: Ref | None = None
    customer_details: _CustomerDetails | None = None
    customer_email: Text | None = None
    payment_status: Text | None = None
    amount_total: Amount | None = None
    currency: Currency | None = None


class _RefList(_Shape):
    data: list[Ref] | None = None


class _PaymentError(_Shape):
    message: Text | None = None
    decline_code: Text | None = None
    code: Text | None = None


class PaymentIntentShape(_Typed):
    amount: Amount | None = None
    amount_received: Amount | None = None
    currency: Currency | None = None
    latest_charge: Ref | None = None
    charges: _RefList | None = None  # before 2022-11-15
    last_payment_error: _PaymentError | None = None


class _SubscriptionItem(_Shape):
    price: Ref | None = None
    plan: Ref | None = None
    current_period_end: Timestamp | None = None


class _SubscriptionItems(_Shape):
    data: list[_SubscriptionItem] | None = None


class SubscriptionShape(_Typed):
    status: Annotated[str, StringConstraints(max_length=24)] | None = None
    customer: Ref | None = None
    items: _SubscriptionItems | None = None
    plan: Ref | None = None
    current_period_end: Timestamp | None = None
    cancel_at_period_end: bool | None = None
    canceled_at: Timestamp | None = None
    ended_at: Timestamp | None = None


class _SubscriptionDetails(_Shape):
    subscription: Ref | None = None
    metadata: Metadata | None = None


class _InvoiceParent(_Shape):
    subscription_details: _SubscriptionDetails | None = None


class _InvoiceLine(_Shape):
    metadata: Metadata | None = None


class _InvoiceLines(_Shape):
    data: list[_InvoiceLine] | None = None


class _PaymentLinks(_Shape):
    payment_intent: Ref | None = None
    charge: Ref | None = None


class _InvoicePayment(_Shape):
    payment: _PaymentLinks | None = None


class _InvoicePayments(_Shape):
    data: list[_InvoicePayment] | None = None


class _StatusTransitions(_Shape):
    paid_at: Timestamp | None = None


class InvoiceShape(_Typed):
    parent: _InvoiceParent | None = None
    subscription_details: _SubscriptionDetails | None = None
    subscription: Ref | None = None
    lines: _InvoiceLines | None = None
    payment_intent: Ref | None = None
    charge: Ref | None = None
    payments: _InvoicePayments | None = None
    billing_reason: Annotated[str, StringConstraints(max_length=40)] | None = None
    amount_paid: Amount | None = None
    currency: Currency | None = None
    status_transitions: _StatusTransitions | None = None


class ChargeShape(_Typed):
    payment_intent: Ref | None = None
    invoice: Ref | None = None
    amount_refunded: Amount | None = None
    currency: Currency | None = None


class DisputeShape(_Typed):
    charge: Ref | None = None
    payment_intent: Ref | None = None
    status: Text | None = None
    reason: Text | None = None


class ProductShape(_Typed):
    name: Text | None = None
    active: bool | None = None
    deleted: bool | None = None
    updated: Timestamp | None = None
    created: Timestamp | None = None


class _Recurring(_Shape):
    interval: Annotated[str, StringConstraints(max_length=8)] | None = None
    interval_count: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None


class PriceShape(_Typed):
    object: Text | None = None
    product: Ref | None = None  # expanded, it is also checked as a product (check_event)
    recurring: _Recurring | None = None
    interval: Annotated[str, StringConstraints(max_length=8)] | None = None  # legacy plans
    interval_count: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    unit_amount: Amount | None = None
    amount: Amount | None = None
    nickname: Text | None = None
    currency: Currency | None = None
    active: bool | None = None
    deleted: bool | None = None
    updated: Timestamp | None = None
    created: Timestamp | None = None


class _Data(_Shape):
    object: dict[str, Any]


class EventShape(_Shape):
    id: LongId
    object: Literal["event"]
    type: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    created: Timestamp
    api_version: Annotated[str, StringConstraints(max_length=40)] | None = None
    data: _Data


def _object_shape(type_: str) -> type[_Object]:
    prefixes: tuple[tuple[tuple[str, ...], type[_Object]], ...] = (
        (("checkout.session.",), CheckoutSessionShape),
        (("payment_intent.",), PaymentIntentShape),
        (("customer.subscription.",), SubscriptionShape),
        (("invoice.",), InvoiceShape),
        (("charge.dispute.",), DisputeShape),
        (("charge.",), ChargeShape),
        (("product.",), ProductShape),
        (("price.", "plan."), PriceShape),
    )
    return next((shape for starts, shape in prefixes if type_.startswith(starts)), _Object)


def check_event(event: Any) -> dict[str, Any]:
    """``event`` (parsed JSON) if it is a Stripe event whose fields we read have the right shapes.

    Raises:
        MalformedEvent: the first field that is wrong, by its path (``data.object.metadata``) and what is wrong.
    """
    _check_storable(event)
    try:
        envelope = EventShape.model_validate(event)
    except ValidationError as error:
        raise _malformed(error, ()) from error
    obj = envelope.data.object
    shape = _object_shape(envelope.type)
    try:
        shape.model_validate(obj)
    except ValidationError as error:
        raise _malformed(error, ("data", "object")) from error
    if shape is PriceShape and isinstance(obj.get("product"), dict):
        try:
            ProductShape.model_validate(obj["product"])
        except ValidationError as error:
            raise _malformed(error, ("data", "object", "product")) from error
    return dict(event)


def _check_storable(value: Any) -> None:
    """No string a database cannot store, no nesting deeper than MAX_DEPTH (iteratively: the depth is the input's)."""
    if _storable(value):
        return
    _find_unstorable(value)


def _storable(value: Any) -> bool:
    """True only if ``_find_unstorable`` would find nothing: the same walk, but the strings searched at once and no
    path built per node (every webhook passes here; a path is only needed to say where a bad event is wrong)."""
    if not isinstance(value, dict | list):
        return False
    texts: list[str] = []
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if not node:
            continue
        if depth >= MAX_DEPTH:  # its children are deeper than MAX_DEPTH
            return False
        if isinstance(node, dict):
            texts.extend(node)
            node = node.values()
        for child in node:
            if isinstance(child, str):
                texts.append(child)
            elif isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return _UNSTORABLE.search("".join(texts)) is None


def _find_unstorable(value: Any) -> None:
    """Raise for the first string a database cannot store or nesting deeper than MAX_DEPTH, by its path."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise MalformedEvent(
                f"The event is signed but nests more than {MAX_DEPTH} levels deep; Stripe's events do not.",
                field=_path(path[:MAX_DEPTH]),
            )
        if isinstance(node, dict):
            for key, child in node.items():
                if _UNSTORABLE.search(key):
                    raise MalformedEvent(_unstorable((*path, key)), field=_path((*path, key)))
                stack.append((child, (*path, key)))
        elif isinstance(node, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(node))
        elif isinstance(node, str) and _UNSTORABLE.search(node):
            raise MalformedEvent(_unstorable(path), field=_path(path))


def _unstorable(path: tuple[str | int, ...]) -> str:
    return f"The event is signed but {_path(path) or 'the body'} holds a NUL character or a lone surrogate."


def _path(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _malformed(error: ValidationError, prefix: tuple[str, ...]) -> MalformedEvent:
    first = error.errors(include_url=False)[0]
    field = _path((*prefix, *first["loc"]))
    got = repr(first.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    what = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        return MalformedEvent(f"The event is signed but has no {field}.", field=field)
    return MalformedEvent(f"The event is signed but {field} is wrong: {what} (got {got}).", field=field)
