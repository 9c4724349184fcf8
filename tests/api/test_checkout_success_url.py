"""``{PAIDSIGNAL_ORDER_ID}`` in a checkout's success_url: the thank-you page learns the order id from its URL."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.models import Order
from tests.utils.payments import ORIGIN, Shop, make_shop
from tests.utils.stripe_fakes import StripeRecorder


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def _checkout(client: TestClient, shop: Shop, success_url: str) -> dict[str, str]:
    payload = {
        "items": [{"price": shop.price_one_off, "quantity": 1}],
        "success_url": success_url,
        "cancel_url": f"{ORIGIN}/cart",
        "event_id": "evt-thanks-1",
    }
    response = client.post(
        f"/api/v1/checkout/sessions?key={shop.publishable_key}",
        content=json.dumps(payload),
        headers={"Content-Type": "text/plain", "Origin": ORIGIN},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_order_id_placeholder_is_filled_before_stripe_sees_the_url(
    client: TestClient, db: Session, shop: Shop
) -> None:
    asked = f"{ORIGIN}/thanks?order={{PAIDSIGNAL_ORDER_ID}}&session={{CHECKOUT_SESSION_ID}}"
    order_id = _checkout(client, shop, asked)["order_id"]

    expected = f"{ORIGIN}/thanks?order={order_id}&session={{CHECKOUT_SESSION_ID}}"  # Stripe's own placeholder kept
    [created] = shop.recorder.requests_to("/v1/checkout/sessions", "POST")
    assert created.params["success_url"] == expected
    assert created.params["cancel_url"] == f"{ORIGIN}/cart"
    order = db.exec(select(Order).where(Order.public_id == order_id)).one()
    assert order.success_url == expected

    # The same request again is the same order and session, not a new id in the URL.
    assert _checkout(client, shop, asked)["order_id"] == order_id
    assert len(shop.recorder.requests_to("/v1/checkout/sessions", "POST")) == 1


def test_a_success_url_without_the_placeholder_is_kept_as_given(client: TestClient, db: Session, shop: Shop) -> None:
    order_id = _checkout(client, shop, f"{ORIGIN}/thanks?session={{CHECKOUT_SESSION_ID}}")["order_id"]
    [created] = shop.recorder.requests_to("/v1/checkout/sessions", "POST")
    assert created.params["success_url"] == f"{ORIGIN}/thanks?session={{CHECKOUT_SESSION_ID}}"
    assert db.exec(select(Order).where(Order.public_id == order_id)).one().success_url == created.params["success_url"]
