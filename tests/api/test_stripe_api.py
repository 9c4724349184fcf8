"""The Stripe-facing HTTP API through the whole ASGI app: checkout sessions from a shop's browser, the webhook
endpoint, and the orders API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.models import Order, Touch
from app.services import campaigns
from app.services.checkout import META_ACCOUNT, META_EVENT, META_ORDER, META_VISITOR
from app.services.ingest import IngestContext, Source, ingest_now
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import make_owner
from tests.utils.payments import ORIGIN, WEBHOOK_SECRET, Shop, make_shop, session_of
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event, stripe_object


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def _checkout(client: TestClient, shop: Shop, body: dict[str, Any], *, origin: str = ORIGIN) -> Any:
    payload = {
        "items": [{"price": shop.price_one_off, "quantity": 2}],
        "success_url": f"{ORIGIN}/thanks",
        "cancel_url": f"{ORIGIN}/cart",
        **body,
    }
    return client.post(
        f"/api/v1/checkout/sessions?key={shop.publishable_key}",
        content=json.dumps(payload),
        headers={"Content-Type": "text/plain", "Origin": origin, "User-Agent": DESKTOP_UA},
    )


def test_browser_checkout_creates_order_and_session_with_our_ids(client: TestClient, db: Session, shop: Shop) -> None:
    response = _checkout(client, shop, {"visitor_id": "v1", "event_id": "evt-checkout-1", "customer_email": "a@b.co"})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    body = response.json()
    assert body["event_id"] == "evt-checkout-1" and body["checkout_url"].startswith("https://")

    created = shop.recorder.requests_to("/v1/checkout/sessions", "POST")
    assert len(created) == 1
    params = created[0].params
    ours = {META_ORDER: body["order_id"], META_EVENT: "evt-checkout-1", META_VISITOR: "v1",
            META_ACCOUNT: shop.account.public_id}  # fmt: skip
    assert params["client_reference_id"] == body["order_id"]
    assert params["metadata"] == ours and params["payment_intent_data"]["metadata"] == ours
    assert params["line_items"] == [{"price": shop.price_one_off, "quantity": "2"}]
    assert params["customer_email"] == "a@b.co"
    assert created[0].stripe_version == "2026-10-28.endive"
    assert created[0].idempotency_key and created[0].idempotency_key.startswith("paidsignal-")

    order = db.exec(select(Order).where(Order.public_id == body["order_id"])).one()
    assert (order.status, order.amount_expected, order.currency) == ("created", 9_800, "EUR")
    assert order.attribution["user_agent"] == DESKTOP_UA


def test_the_same_request_twice_is_one_order_and_one_session(client: TestClient, db: Session, shop: Shop) -> None:
    first = _checkout(client, shop, {"event_id": "same"}).json()
    second = _checkout(client, shop, {"event_id": "same"}).json()
    assert first == second
    assert len(db.exec(select(Order)).all()) == 1
    assert len(shop.recorder.requests_to("/v1/checkout/sessions", "POST")) == 1


def test_one_attempt_id_is_one_order_whatever_else_the_retry_carries(
    client: TestClient, db: Session, shop: Shop
) -> None:
    first = _checkout(client, shop, {"event_id": "attempt-1", "fbp": "fb.1.1700000000000.1"}).json()
    again = _checkout(client, shop, {"event_id": "attempt-1", "fbp": "fb.1.1700000000000.2"}).json()
    assert again == first
    assert len(db.exec(select(Order)).all()) == 1
    assert len(shop.recorder.requests_to("/v1/checkout/sessions", "POST")) == 1


@pytest.mark.parametrize(
    ("field", "words"),
    [("items", "other items"), ("success_url", "other success url"), ("customer_email", "other customer email")],
)
def test_an_attempt_id_sent_with_another_cart_is_a_409(
    client: TestClient, db: Session, shop: Shop, field: str, words: str
) -> None:
    started = _checkout(client, shop, {"event_id": "attempt-2"})
    assert started.status_code == 200, started.text
    change = {
        "items": [{"price": shop.price_one_off, "quantity": 3}],
        "success_url": f"{ORIGIN}/other-thanks",
        "customer_email": "someone@example.com",
    }[field]
    response = _checkout(client, shop, {"event_id": "attempt-2", field: change})
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["field"] == "event_id" and words in error["message"] and "new event_id" in error["message"]
    assert response.headers["access-control-allow-origin"] == ORIGIN  # the shop's page can read why
    assert len(db.exec(select(Order)).all()) == 1
    assert len(shop.recorder.requests_to("/v1/checkout/sessions", "POST")) == 1


def test_a_failed_stripe_call_is_retried_with_the_same_idempotency_key(
    client: TestClient, db: Session, shop: Shop
) -> None:
    shop.recorder.fail_next("/v1/checkout/sessions", 500, times=3)
    failed = _checkout(client, shop, {"event_id": "retry-me"})
    assert failed.status_code == 503, failed.text
    assert "Stripe did not answer" in failed.json()["error"]["message"]
    again = _checkout(client, shop, {"event_id": "retry-me"})
    assert again.status_code == 200
    keys = {r.idempotency_key for r in shop.recorder.requests_to("/v1/checkout/sessions", "POST")}
    assert len(keys) == 1
    assert len(db.exec(select(Order)).all()) == 1


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"items": [{"price": "price_nope"}]}, 422, "items.0.price", "Stripe has no price"),
        ({"items": []}, 422, "items", "at least 1"),
        ({"success_url": "/thanks"}, 422, "success_url", "absolute"),
        ({"success_url": "https://evil.example.net/x"}, 422, "success_url", "allowed origins"),
        ({"mode": "subscription"}, 422, "items.0.price", "one-time"),
        ({"mode": "rent"}, 422, "mode", None),
        ({"customer_email": "not-an-email"}, 422, "customer_email", None),
        ({"surprise": 1}, 422, "surprise", None),
    ],
)
def test_bad_checkout_requests_say_what_is_wrong(
    client: TestClient, shop: Shop, body: dict[str, Any], status: int, field: str, words: str | None
) -> None:
    response = _checkout(client, shop, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field
    if words:
        assert words in error["message"]
    # Readable by the shop's page, so the pixel does not retry a request that can never succeed.
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_checkout_without_stripe_connected_is_409(client: TestClient, db: Session) -> None:
    from app.services import keys

    _, _, owner = make_owner(db)
    key = keys.create_key(session=db, actor=owner, kind="publishable", origins=[ORIGIN]).plaintext
    db.commit()
    response = client.post(
        f"/api/v1/checkout/sessions?key={key}",
        content=json.dumps({"items": [{"price": "price_x"}], "success_url": ORIGIN, "cancel_url": ORIGIN}),
        headers={"Content-Type": "text/plain", "Origin": ORIGIN},
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stripe_not_connected"


def test_checkout_from_an_origin_the_key_does_not_allow_is_refused(client: TestClient, shop: Shop) -> None:
    response = _checkout(client, shop, {}, origin="https://evil.example.net")
    assert response.status_code == 403


def test_checkout_rate_limit_per_key_and_client(client: TestClient, shop: Shop, monkeypatch: Any) -> None:
    from app.settings import get_settings

    monkeypatch.setattr(get_settings(), "checkout_rate_limit", "2/minute")
    codes = [_checkout(client, shop, {"event_id": f"e{n}"}).status_code for n in range(3)]
    assert codes == [200, 200, 429]


def _spring_campaign(db: Session, shop: Shop) -> Any:
    """A live campaign that takes sessions with ``utm_campaign=spring``; returns its published version."""
    row = campaigns.create_campaign(
        session=db, actor=shop.actor, name="Spring", channel="meta",
        config={"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": "spring"}]}]},
    )  # fmt: skip
    version = campaigns.publish_draft(session=db, actor=shop.actor, campaign_public_id=row.public_id)
    db.commit()
    return version


def test_checkout_snapshots_the_campaign_version_that_brought_the_visitor(
    client: TestClient, db: Session, shop: Shop
) -> None:
    version = _spring_campaign(db, shop)
    ingest_now(
        [event(visitor_id="v-spring", session_id="s1", utm_source="facebook", utm_campaign="spring",
               fbclid="AbC123", ga_client_id="111.222")],
        IngestContext(account_id=shop.account.id or 0, source=Source.BROWSER, user_agent=DESKTOP_UA),
    )  # fmt: skip
    assert db.exec(select(Touch)).first() is not None

    body = _checkout(client, shop, {"visitor_id": "v-spring", "session_id": "s1"}).json()
    order = db.exec(select(Order).where(Order.public_id == body["order_id"])).one()
    assert order.campaign_version_id is not None
    snapshot = order.attribution
    assert snapshot["models"]["last_touch"][0]["campaign_version"] == version.public_id
    assert snapshot["touches"][0]["utm_campaign"] == "spring"
    assert snapshot["fbc"].startswith("fb.1.") and snapshot["fbc"].endswith(".AbC123")
    assert snapshot["ga_client_id"] == "111.222"


def test_checkout_derives_its_visitors_events_before_the_snapshot(
    client: TestClient, db: Session, shop: Shop, monkeypatch: Any
) -> None:
    """Events are answered once committed and derived later; a checkout right after them must still see their
    touches and click ids (it derives its own visitor first), and leaves other visitors' events to the deriver."""
    from app.settings import get_settings

    monkeypatch.setattr(get_settings(), "ingest_derive_delay_seconds", 60)  # the writer's pass cannot come first
    version = _spring_campaign(db, shop)
    sent = client.post(
        f"/api/v1/events?key={shop.publishable_key}",
        content=json.dumps({"events": [
            event(visitor_id="v-now", session_id="s-now", utm_source="facebook", utm_campaign="spring",
                  fbclid="Fresh1"),
            event(visitor_id="v-other", session_id="s-other", utm_campaign="spring"),
        ]}),
        headers={"Content-Type": "text/plain", "Origin": ORIGIN, "User-Agent": DESKTOP_UA},
    )  # fmt: skip
    assert sent.status_code == 200 and sent.json()["accepted"] == 2
    assert db.exec(select(Touch)).first() is None  # answered before derivation

    body = _checkout(client, shop, {"visitor_id": "v-now"}).json()
    order = db.exec(select(Order).where(Order.public_id == body["order_id"])).one()
    assert order.campaign_version_id is not None
    assert order.attribution["models"]["last_touch"][0]["campaign_version"] == version.public_id
    assert order.attribution["touches"][0]["utm_campaign"] == "spring"
    assert order.attribution["fbc"].endswith(".Fresh1")
    assert [t.visitor_key for t in db.exec(select(Touch))] == ["v-now"]


# --- webhook endpoint -----------------------------------------------------------------------------------------------


def _webhook(client: TestClient, account: str, body: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(f"/api/v1/stripe/webhook/{account}", content=body, headers=headers)


def test_webhook_endpoint_verifies_the_raw_body(client: TestClient, db: Session, shop: Shop) -> None:
    order_id = _checkout(client, shop, {}).json()["order_id"]
    checkout = session_of(shop, db, order_id)
    body = stripe_event("checkout.session.completed", shop.recorder.complete_session(checkout["id"]))
    account = shop.account.public_id

    forged = _webhook(client, account, body, sign(body, "whsec_forged_00000000"))
    assert forged.status_code == 400
    assert forged.json()["error"]["code"] == "invalid_signature"
    # Re-serialised JSON is not the signed body.
    reserialised = json.dumps(json.loads(body)).encode()
    assert _webhook(client, account, reserialised, sign(body, WEBHOOK_SECRET)).status_code == 400

    good = _webhook(client, account, body, sign(body, WEBHOOK_SECRET))
    assert good.status_code == 200 and good.json()["outcome"] == "applied"
    repeat = _webhook(client, account, body, sign(body, WEBHOOK_SECRET))
    assert repeat.status_code == 200 and repeat.json()["outcome"] == "duplicate"

    assert _webhook(client, "acc_unknown", body, sign(body, WEBHOOK_SECRET)).status_code == 404
    too_big = b'{"x": "' + b"a" * (3 * 1024 * 1024) + b'"}'
    assert _webhook(client, account, too_big, sign(too_big, WEBHOOK_SECRET)).status_code == 413


def test_webhook_before_the_secret_is_entered_is_refused_with_a_reason(
    client: TestClient, db: Session, stripe_api: StripeRecorder
) -> None:
    from app.services import stripe_connection

    account, _, owner = make_owner(db)
    stripe_connection.connect_stripe(session=db, actor=owner, secret_key="sk_test_abcdefgh12345678")
    body = stripe_event("customer.created", stripe_object("customer"))
    response = _webhook(client, account.public_id, body, sign(body, WEBHOOK_SECRET))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_secret_missing"


# --- orders API -----------------------------------------------------------------------------------------------------


def test_orders_api_with_secret_and_publishable_keys(client: TestClient, db: Session, shop: Shop) -> None:
    order_id = _checkout(client, shop, {"visitor_id": "buyer-1"}).json()["order_id"]
    checkout = session_of(shop, db, order_id)
    body = stripe_event("checkout.session.completed", shop.recorder.complete_session(checkout["id"]))
    _webhook(client, shop.account.public_id, body, sign(body, WEBHOOK_SECRET))
    secret = {"Authorization": f"Bearer {shop.secret_key}"}

    full = client.get(f"/api/v1/orders/{order_id}", headers=secret).json()
    assert (full["status"], full["amount_paid"], full["currency"]) == ("paid", 9_800, "EUR")
    assert [e["title"] for e in full["timeline"]] == ["Checkout started", "checkout.session.completed"]
    assert full["attribution"] is not None and full["payments"][0]["amount"] == 9_800

    listed = client.get("/api/v1/orders?status=paid", headers=secret).json()
    assert [o["order_id"] for o in listed["orders"]] == [order_id] and listed["total"] == 1
    assert client.get("/api/v1/orders?status=nope", headers=secret).status_code == 422

    browser = {"Origin": ORIGIN}
    own = client.get(f"/api/v1/orders/{order_id}?key={shop.publishable_key}&visitor_id=buyer-1", headers=browser)
    assert own.status_code == 200 and own.json()["status"] == "paid"
    assert own.json()["attribution"] is None
    assert own.headers["access-control-allow-origin"] == ORIGIN
    other = client.get(f"/api/v1/orders/{order_id}?key={shop.publishable_key}&visitor_id=someone", headers=browser)
    assert other.status_code == 404
    assert client.get(f"/api/v1/orders/{order_id}?key={shop.publishable_key}", headers=browser).status_code == 404
