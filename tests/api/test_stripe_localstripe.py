"""localstripe as a real Stripe server: it creates the PaymentIntents and the Plan subscription with their
invoices, and delivers its own signed webhooks (2017-shaped events, concurrently, about a second after each call)
to our real webhook endpoint over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import stripe
from sqlmodel import Session, select

from app.models import Order, Payment, StripeEvent, Subscription
from app.services.checkout import META_ORDER
from tests.utils.payments import WEBHOOK_SECRET, Shop, make_shop, start_checkout
from tests.utils.stripe_fakes import LocalStripe, StripeRecorder


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder, localstripe: LocalStripe, live_api: str) -> Shop:
    localstripe.reset()
    shop = make_shop(db, stripe_api)
    localstripe.register_webhook(
        "paidsignal", f"{live_api}/api/v1/stripe/webhook/{shop.account.public_id}", WEBHOOK_SECRET
    )
    return shop


def _wait(db: Session, check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        db.expire_all()
        db.rollback()
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _order(db: Session, order_id: str) -> Order:
    return db.exec(select(Order).where(Order.public_id == order_id)).one()


def test_a_payment_confirmed_by_stripe_marks_the_order_paid(shop: Shop, db: Session, localstripe: LocalStripe) -> None:
    order_id = start_checkout(shop, db)
    client = localstripe.client()
    intent = client.v1.payment_intents.create(
        params={
            "amount": 4_900,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {META_ORDER: order_id},
        }
    )
    assert _wait(db, lambda: _order(db, order_id).status == "paid"), "payment_intent.succeeded never applied"
    order = _order(db, order_id)
    assert (order.amount_paid, order.payment_intent_id) == (4_900, intent.id)
    event = db.exec(select(StripeEvent).where(StripeEvent.type == "payment_intent.succeeded")).one()
    assert (event.api_version, event.outcome) == ("2017-08-15", "applied")


def test_a_declined_card_is_on_the_timeline_and_the_buyer_may_retry(
    shop: Shop, db: Session, localstripe: LocalStripe
) -> None:
    order_id = start_checkout(shop, db)
    client = localstripe.client()
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.create(
            params={
                "amount": 4_900,
                "currency": "eur",
                "payment_method": "pm_card_chargeCustomerFail",
                "confirm": True,
                "metadata": {META_ORDER: order_id},
            }
        )
    failed = _wait(
        db, lambda: db.exec(select(StripeEvent).where(StripeEvent.type == "payment_intent.payment_failed")).first()
    )
    assert failed is not None and failed.outcome == "applied" and "declined" in failed.message
    assert _order(db, order_id).status == "created"


def test_a_plan_subscription_first_payment_and_two_renewals(shop: Shop, db: Session, localstripe: LocalStripe) -> None:
    order_id = start_checkout(shop, db, mode="subscription")
    client = localstripe.client()
    product = client.v1.products.create(params={"name": "Sock club"})
    plan = client.v1.plans.create(
        params={
            "id": "sock-club-monthly",
            "product": product.id,
            "amount": 1_500,
            "currency": "eur",
            "interval": "month",
        }
    )
    token = client.v1.tokens.create(
        params={"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    customer = client.v1.customers.create(params={"email": "buyer@example.com", "source": token.id})
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"plan": plan.id}], "metadata": {META_ORDER: order_id}}
    )

    def payments() -> list[Payment]:
        return list(db.exec(select(Payment).order_by(Payment.paid_at, Payment.id)).all())

    assert _wait(db, lambda: len(payments()) == 1), "the first invoice was never applied"
    for expected in (2, 3):
        invoice = client.v1.invoices.create(params={"customer": customer.id, "subscription": subscription.id})
        client.v1.invoices.pay(invoice.id)
        assert _wait(db, lambda n=expected: len(payments()) == n), f"renewal {expected - 1} was never applied"

    assert [p.kind for p in payments()] == ["first", "renewal", "renewal"]
    assert all(p.amount == 1_500 and p.payment_intent_id for p in payments())
    order = _order(db, order_id)
    assert (order.status, order.amount_paid, order.subscription_id) == ("paid", 4_500, subscription.id)
    assert db.exec(select(Subscription.status)).one() == "active"
    # The plan localstripe announced is in the catalogue too.
    assert _wait(db, lambda: db.exec(select(StripeEvent).where(StripeEvent.type == "plan.created")).first())
