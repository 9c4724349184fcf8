"""Builders for payment tests: a shop with Stripe connected, checkouts, and signed webhook deliveries, all through
the app's own services (Stripe itself is the recording server from ``stripe_fakes``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from app.models import Account, KeyKind
from app.services import checkout, keys, stripe_connection, stripe_webhooks
from app.services.keys import KeyIdentity
from app.services.permissions import Actor
from tests.utils.factories import make_owner
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event

ORIGIN = "https://shop.example.com"
STRIPE_KEY = "sk_test_51PaidSignalTestKey000000"
WEBHOOK_SECRET = "whsec_test_paidsignal_0123456789abcdef"
BUYER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
BUYER_IP = "203.0.113.7"


@dataclass
class Shop:
    account: Account
    actor: Actor
    browser: KeyIdentity  # a publishable key allowed on ORIGIN
    recorder: StripeRecorder
    price_one_off: str
    price_monthly: str
    publishable_key: str
    secret_key: str


def make_shop(db: Session, recorder: StripeRecorder, *, name: str | None = None) -> Shop:
    """An account with Stripe connected (key checked against the recorder), a catalogue of a one-off price and a
    monthly price, and a publishable key."""
    account, _, actor = make_owner(db, name=name)
    product = recorder.add_product(name="Sneakers")
    one_off = recorder.add_price(product=product["id"], unit_amount=4_900, currency="eur")
    plan = recorder.add_product(name="Sock club")
    monthly = recorder.add_price(product=plan["id"], unit_amount=1_500, currency="eur", recurring={"interval": "month"})
    stripe_connection.connect_stripe(session=db, actor=actor, secret_key=STRIPE_KEY, webhook_secret=WEBHOOK_SECRET)
    created = keys.create_key(session=db, actor=actor, kind=KeyKind.PUBLISHABLE.value, origins=[ORIGIN])
    identity = keys.authenticate_publishable_key(session=db, raw=created.plaintext, origin=ORIGIN)
    secret = keys.create_key(session=db, actor=actor, kind=KeyKind.SECRET.value).plaintext
    db.commit()
    return Shop(account, actor, identity, recorder, one_off["id"], monthly["id"], created.plaintext, secret)


def start_checkout(shop: Shop, db: Session, *, mode: str = "payment", quantity: int = 1, **fields: Any) -> str:
    """A checkout through the service; returns the order id (the Checkout Session is in ``recorder.sessions``)."""
    price = shop.price_one_off if mode == "payment" else shop.price_monthly
    request = checkout.parse_request(
        {
            "items": [{"price": price, "quantity": quantity}],
            "mode": mode,
            "success_url": f"{ORIGIN}/thanks",
            "cancel_url": f"{ORIGIN}/cart",
            **fields,
        }
    )
    started = checkout.start_checkout(
        session=db, identity=shop.browser, request=request, user_agent=BUYER_UA, ip=BUYER_IP
    )
    return started.order_id


def session_of(shop: Shop, db: Session, order_id: str) -> dict[str, Any]:
    from app.services.orders import get_order

    order = get_order(db, shop.account.id or 0, order_id)
    return dict(shop.recorder.sessions[order.checkout_session_id or ""])


def deliver(
    shop: Shop,
    db: Session,
    type: str,
    obj: dict[str, Any],
    *,
    created: int | None = None,
    event_id: str | None = None,
    payload: bytes | None = None,
    api_version: str | None = None,
) -> stripe_webhooks.WebhookResult:
    """Sign an event with the shop's secret and hand it to the webhook service, as the endpoint does."""
    extra = {"api_version": api_version} if api_version else {}
    body = payload or stripe_event(type, obj, created=created, event_id=event_id, **extra)
    return stripe_webhooks.receive_webhook(
        session=db,
        account_public_id=shop.account.public_id,
        payload=body,
        signature=sign(body, WEBHOOK_SECRET),
    )
