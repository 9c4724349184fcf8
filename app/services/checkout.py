"""Start a Stripe Checkout: create our order with its attribution snapshot, then the Checkout Session.

The order is committed before Stripe is called, so no database transaction waits on the network. One checkout
attempt is one order: the attempt's ``event_id`` (kept by pixel.js from the click until the redirect or an error)
maps to one order and, through Stripe's idempotency key, one Checkout Session, however often it is sent (a double
click, a retried fetch). The same id with another cart is refused, not silently answered with the first cart.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import ada_url
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, ValidationError, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.integrations import stripe as stripe_api
from app.integrations.stripe import StripeCallFailed
from app.models import Order, OrderMode, StripePrice, Visitor, VisitSession
from app.models.base import new_public_id, utcnow
from app.services import attribution, ratelimit
from app.services.errors import Conflict, ValidationFailed, validation_failed
from app.services.events_schema import Consent, Id
from app.services.keys import KeyIdentity
from app.services.sessions import derive_all_pending
from app.services.stripe_connection import client_for, fetch_price, require_connection, stripe_error
from app.settings import get_settings

MAX_ITEMS = 100
# Our ids in Stripe metadata (keys ≤ 40 chars, values ≤ 500); no PII, no secrets.
META_ORDER = "paidsignal_order_id"
META_VISITOR = "paidsignal_visitor_id"
META_EVENT = "paidsignal_event_id"
META_ACCOUNT = "paidsignal_account_id"
# In success_url, replaced by the new order's id so the thank-you page knows it (Stripe fills {CHECKOUT_SESSION_ID}).
ORDER_ID_PLACEHOLDER = "{PAIDSIGNAL_ORDER_ID}"

PriceId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=255),
    Field(json_schema_extra={"pattern": r"^\s*\S[\s\S]+\S\s*$"}),  # declared: 3 characters once stripped
]
Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2048),
    Field(
        # Declared as return_url_origin checks it: no user info, backslash, percent-escape, whitespace or control
        # character (tests/api/test_schema_fuzz.py holds the server to what the schema says).
        json_schema_extra={"pattern": r"^\s*https?://[^/?#\s\[\]@\\%]+([/?#][^\s\x00-\x1f\x7f\\]*)?\s*$"}
    ),
]


class CheckoutItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price: PriceId = Field(description="a Stripe price id (price_…)")
    quantity: int = Field(default=1, ge=1, le=999)


class CheckoutRequest(BaseModel):
    """Body of ``POST /api/v1/checkout/sessions``."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, description="publishable key (browsers), instead of ?key=")
    items: list[CheckoutItem] = Field(min_length=1, max_length=MAX_ITEMS)
    mode: Literal["payment", "subscription"] = "payment"
    success_url: Url
    cancel_url: Url
    customer_email: EmailStr | None = None
    visitor_id: Id | None = None
    session_id: Id | None = None
    event_id: Id | None = Field(
        default=None,
        description="the checkout attempt: also the begin_checkout/purchase event id. The same id returns the same "
        "order and Checkout Session (a double click); generated if absent",
    )
    consent: Consent | None = None
    fbc: Annotated[str, StringConstraints(strip_whitespace=True, max_length=600)] | None = None
    fbp: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    ga_client_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    ga_session_id: Annotated[str, StringConstraints(max_length=100)] | None = None

    @field_validator("success_url", "cancel_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        return_url_origin(value)
        return value


@dataclass(frozen=True)
class CheckoutStarted:
    order_id: str
    checkout_url: str
    event_id: str
    checkout_session_id: str


def parse_request(payload: object) -> CheckoutRequest:
    if not isinstance(payload, dict):
        raise ValidationFailed("The body must be a JSON object with items, success_url and cancel_url.")
    try:
        return CheckoutRequest.model_validate(payload)
    except ValidationError as error:
        raise validation_failed(error) from error


def request_key(account_id: int, event_id: str) -> str:
    """One checkout attempt (an account's event id) always gives the same key, whatever else the request says."""
    return hashlib.sha256(f"{account_id}:checkout:{event_id}".encode()).hexdigest()[:48]


def _check_same_attempt(order: Order, request: CheckoutRequest) -> None:
    """A repeated attempt id must repeat the cart it started, or the buyer would pay for the first cart.

    Raises:
        Conflict: the attempt id was used for another cart, mode, return URL or e-mail.
    """
    asked = {
        "items": [(item.price, item.quantity) for item in request.items],
        "mode": request.mode,
        "success_url": request.success_url.replace(ORDER_ID_PLACEHOLDER, order.public_id),
        "cancel_url": request.cancel_url,
        "customer_email": str(request.customer_email) if request.customer_email else None,
    }
    started = {
        "items": [(item["price"], item["quantity"]) for item in order.items],
        "mode": order.mode,
        "success_url": order.success_url,
        "cancel_url": order.cancel_url,
        "customer_email": order.customer_email,
    }
    changed = [name for name in asked if asked[name] != started[name]]
    if changed:
        raise Conflict(
            f"The event_id {order.event_id!r} already started a checkout with other {changed[0].replace('_', ' ')}; "
            "send a new event_id for a new checkout.",
            field="event_id",
        )


_SCHEME = re.compile(r"^https?://", re.IGNORECASE)
_AUTHORITY_END = re.compile(r"[/?#]")


def return_url_origin(url: str) -> str:
    """The origin a browser goes to after Checkout for ``url``, which must be a plain absolute http(s) URL.

    The origin is the one the WHATWG URL standard gives (ada, the parser of Node.js; browsers parse alike), not
    Python's ``urlsplit``: the two disagree on spellings such as ``http://evil.example\\@localhost:8801/`` (a
    browser goes to evil.example). Spellings on which parsers may differ are refused outright: control
    characters, whitespace (a browser drops tabs and newlines anywhere), backslashes, user info (``user@``), a
    scheme without ``//`` or with more slashes, and percent-escapes in the host.

    Raises:
        ValueError: what is wrong with the URL, in words.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c.isspace() for c in url):
        raise ValueError("must not contain spaces, tabs, line breaks or control characters")
    if "\\" in url:
        raise ValueError("must not contain a backslash (browsers read it as /)")
    if not _SCHEME.match(url):
        raise ValueError("must be an absolute http(s) URL, e.g. https://shop.example.com/thanks")
    rest = url.split("//", 1)[1]
    authority = _AUTHORITY_END.split(rest, 1)[0]
    if not authority:
        raise ValueError("must name a host right after the scheme, e.g. https://shop.example.com/thanks")
    if "@" in authority:
        raise ValueError("must not contain user info (user@ before the host)")
    if "%" in authority:
        raise ValueError("must not percent-encode the host")
    try:
        return str(ada_url.URL(url).origin)
    except ValueError as error:
        raise ValueError("is not a valid URL (as a browser reads it)") from error


def _browser_origin(origin: str) -> str:
    """An allowed origin as a browser writes it (an IDN host in punycode)."""
    try:
        return str(ada_url.URL(origin).origin)
    except ValueError:
        return origin


def _check_redirects(request: CheckoutRequest, identity: KeyIdentity) -> None:
    """A publishable key is public: without this anyone could send the shop's buyers to their own site after
    paying. Browser checkouts may only return to the key's allowed origins, compared as a browser reads the URL."""
    if not identity.allowed_origins:
        return
    allowed = {_browser_origin(origin) for origin in identity.allowed_origins}
    for field in ("success_url", "cancel_url"):
        if return_url_origin(getattr(request, field)) not in allowed:
            raise ValidationFailed(
                f"{field} must be on one of this key's allowed origins ({', '.join(identity.allowed_origins)}).",
                field=field,
            )


def _prices(
    session: Session, account_id: int, request: CheckoutRequest, connection: Any
) -> list[tuple[CheckoutItem, StripePrice]]:
    wanted = {item.price for item in request.items}
    known = {
        p.stripe_id: p
        for p in session.exec(
            select(StripePrice).where(StripePrice.account_id == account_id, col(StripePrice.stripe_id).in_(wanted))
        )
    }
    resolved: list[tuple[CheckoutItem, StripePrice]] = []
    currencies: set[str] = set()
    for index, item in enumerate(request.items):
        field = f"items.{index}.price"
        price = known.get(item.price)
        if price is None:
            price = fetch_price(session, connection, item.price)
            if price is None:
                raise ValidationFailed(f"Stripe has no price {item.price!r} on the connected account.", field=field)
            known[item.price] = price
        if price.deleted or not price.active:
            raise ValidationFailed(f"The price {item.price!r} is archived in Stripe; it cannot be sold.", field=field)
        if request.mode == "subscription" and not price.recurring_interval:
            raise ValidationFailed(
                f"The price {item.price!r} is one-time; subscription checkouts need recurring prices.", field=field
            )
        if request.mode == "payment" and price.recurring_interval:
            raise ValidationFailed(
                f"The price {item.price!r} is recurring; use mode 'subscription' for it.", field=field
            )
        currencies.add(price.currency)
        resolved.append((item, price))
    if len(currencies) > 1:
        raise ValidationFailed(
            f"All items must share one currency; got {', '.join(sorted(currencies))}.", field="items"
        )
    return resolved


def _click_data(session: Session, account_id: int, request: CheckoutRequest) -> dict[str, Any]:
    """fbc/fbp, Google click ids and GA ids: what the request carries, else what the visit recorded."""
    visitor = None
    visit = None
    if request.visitor_id:
        visitor = session.exec(
            select(Visitor).where(Visitor.account_id == account_id, Visitor.visitor_key == request.visitor_id)
        ).first()
        query = select(VisitSession).where(VisitSession.account_id == account_id)
        if request.session_id:
            query = query.where(VisitSession.session_key == request.session_id)
        else:
            query = query.where(VisitSession.visitor_key == request.visitor_id)
        visit = session.exec(query.order_by(col(VisitSession.last_event_at).desc()).limit(1)).first()

    def pick(name: str) -> str | None:
        given: str | None = getattr(request, name, None)
        if given:
            return given
        for source in (visit, visitor):
            value: str | None = getattr(source, name, None) if source is not None else None
            if value:
                return value
        return None

    return {name: pick(name) for name in ("fbc", "fbp", "gclid", "gbraid", "wbraid", "ga_client_id", "ga_session_id")}


def _metadata(order: Order, account_public_id: str) -> dict[str, str]:
    data = {META_ORDER: order.public_id, META_EVENT: order.event_id, META_ACCOUNT: account_public_id}
    if order.visitor_id:
        data[META_VISITOR] = order.visitor_id
    return data


def start_checkout(
    *,
    session: Session,
    identity: KeyIdentity,
    request: CheckoutRequest,
    user_agent: str = "",
    ip: str = "",
) -> CheckoutStarted:
    """Create (or find again) the order, then the Stripe Checkout Session; returns where to send the buyer."""
    connection = require_connection(session, identity.account_id)
    _check_redirects(request, identity)
    event_id = request.event_id or str(uuid.uuid4())
    key = request_key(identity.account_id, event_id)
    order = session.exec(select(Order).where(Order.request_key == key)).first()
    if order is None:
        order = _create_order(session, identity, request, connection, key, event_id, user_agent, ip)
    _check_same_attempt(order, request)
    if order.checkout_url and order.checkout_session_id:
        return CheckoutStarted(order.public_id, order.checkout_url, order.event_id, order.checkout_session_id)
    params: dict[str, Any] = {
        "mode": order.mode,
        "line_items": [{"price": i["price"], "quantity": i["quantity"]} for i in order.items],
        "success_url": order.success_url,
        "cancel_url": order.cancel_url,
        "client_reference_id": order.public_id,
        "metadata": _metadata(order, identity.account_public_id),
    }
    if order.customer_email:
        params["customer_email"] = order.customer_email
    carrier = "payment_intent_data" if order.mode == "payment" else "subscription_data"
    params[carrier] = {"metadata": _metadata(order, identity.account_public_id)}
    client = client_for(connection)
    try:
        created = stripe_api.call(
            client.v1.checkout.sessions.create,
            params=params,
            options={"idempotency_key": f"paidsignal-{order.public_id}"},
        )
    except StripeCallFailed as error:
        field = "items" if error.param.startswith("line_items") else None
        raise stripe_error(error, field=field) from error
    checkout = stripe_api.as_dict(created)
    order.checkout_session_id = str(checkout.get("id") or "")
    order.checkout_url = str(checkout.get("url") or "")
    if checkout.get("amount_total") is not None:
        order.amount_expected = int(checkout["amount_total"])
    session.add(order)
    session.commit()
    return CheckoutStarted(order.public_id, order.checkout_url, order.event_id, order.checkout_session_id)


def _create_order(
    session: Session,
    identity: KeyIdentity,
    request: CheckoutRequest,
    connection: Any,
    key: str,
    event_id: str,
    user_agent: str,
    ip: str,
) -> Order:
    prices = _prices(session, identity.account_id, request, connection)
    now = utcnow()
    expected: int | None = 0
    for item, price in prices:
        if price.unit_amount is None or expected is None:
            expected = None
        else:
            expected += price.unit_amount * item.quantity
    if request.visitor_id:
        # Visitors, sessions and touches are derived after the events' commit: bring this visitor's up to date, in
        # this transaction, so the snapshot and the click ids include the events sent just before checkout.
        derive_all_pending(session, account_id=identity.account_id, visitor_key=request.visitor_id)
    snapshot = attribution.snapshot(
        session=session, account_id=identity.account_id, visitor_key=request.visitor_id, at=now
    )
    last_touch = snapshot["models"][attribution.AttributionModel.LAST_TOUCH][0]
    consent = request.consent.model_dump(exclude_none=True) if request.consent else None
    snapshot.update(_click_data(session, identity.account_id, request))
    snapshot.update({"user_agent": user_agent[:512], "ip": ip[:64], "consent": consent})
    public_id = new_public_id("ord")
    order = Order(
        public_id=public_id,
        account_id=identity.account_id,
        request_key=key,
        mode=OrderMode(request.mode),
        currency=prices[0][1].currency,
        amount_expected=expected,
        items=[
            {
                "price": price.stripe_id,
                "product": price.product_stripe_id,
                "quantity": item.quantity,
                "unit_amount": price.unit_amount,
            }
            for item, price in prices
        ],
        event_id=event_id,
        visitor_id=request.visitor_id,
        session_key=request.session_id,
        customer_email=str(request.customer_email) if request.customer_email else None,
        campaign_id=last_touch["campaign_id"],
        campaign_version_id=last_touch["campaign_version_id"],
        attribution=snapshot,
        consent=consent,
        success_url=request.success_url.replace(ORDER_ID_PLACEHOLDER, public_id),
        cancel_url=request.cancel_url,
        created_at=now,
        status_changed_at=now,
    )
    session.add(order)
    try:
        session.commit()
    except IntegrityError:
        # The same request raced us: use the order it created.
        session.rollback()
        existing = session.exec(select(Order).where(Order.request_key == key)).first()
        if existing is None:
            raise
        return existing
    return order


def check_rate(key_id: int, ip: str) -> None:
    """``CHECKOUT_RATE_LIMIT`` per key and client IP, per process: a public key cannot flood the shop's Stripe
    account with sessions."""
    ratelimit.hit(
        get_settings().checkout_rate_limit,
        "checkout",
        str(key_id),
        ip,
        message="Too many checkouts from this client (limit {limit}); retry after {retry_after} s.",
    )
