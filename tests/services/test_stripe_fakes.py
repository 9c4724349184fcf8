"""Self-test of the Stripe test counterparts in ``tests/utils/stripe_fakes.py``."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest
import stripe

from tests.utils.stripe_fakes import (
    LocalStripe,
    StripeRecorder,
    WebhookReceiver,
    sign,
    stripe_event,
    stripe_object,
    unflatten,
)

SECRET = "whsec_test_fakes"


@pytest.fixture
def recorder() -> Iterator[StripeRecorder]:
    fake = StripeRecorder()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    fake = WebhookReceiver()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def localstripe() -> Iterator[LocalStripe]:
    server = LocalStripe()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_signed_event_is_accepted_and_tampering_rejected() -> None:
    session = stripe_object("checkout.session", client_reference_id="ord_1", metadata={"order_id": "ord_1"})
    payload = stripe_event("checkout.session.completed", session, event_id="evt_test_1", created=1_700_000_000)
    body = json.loads(payload)
    assert body["id"] == "evt_test_1" and body["api_version"] == stripe.api_version and body["livemode"] is False

    event = stripe.Webhook.construct_event(payload, sign(payload, SECRET), SECRET)
    assert event.type == "checkout.session.completed"
    assert event.data.object.client_reference_id == "ord_1"

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload.replace(b"ord_1", b"ord_2"), sign(payload, SECRET), SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign(payload, "whsec_other"), SECRET)
    with pytest.raises(stripe.SignatureVerificationError):  # older than the 300 s tolerance
        stripe.Webhook.construct_event(payload, sign(payload, SECRET, timestamp=int(time.time()) - 600), SECRET)
    rotating = sign(payload, "whsec_old", extra_secrets=["whsec_new"])
    assert rotating.count("v1=") == 2
    assert stripe.Webhook.construct_event(payload, rotating, "whsec_new").id == "evt_test_1"


def test_stripe_object_is_a_fresh_copy() -> None:
    first = stripe_object("invoice", id="in_1")
    first["lines"]["data"].clear()
    second = stripe_object("invoice")
    assert first["id"] == "in_1" and second["id"] != "in_1" and second["lines"]["data"]
    with pytest.raises(KeyError):
        stripe_object("no.such.thing")


def test_unflatten_nests_bracket_form() -> None:
    flat = {"metadata[order_id]": "o1", "line_items[1][price]": "p2", "line_items[0][price]": "p1", "expand[]": ["a"]}
    assert unflatten(flat) == {
        "metadata": {"order_id": "o1"},
        "line_items": [{"price": "p1"}, {"price": "p2"}],
        "expand": ["a"],
    }


def test_recorder_checkout_session_is_parsed_recorded_and_idempotent(recorder: StripeRecorder) -> None:
    recorder.add_product(id="prod_1", name="T-shirt")
    recorder.add_price(id="price_1", product="prod_1", unit_amount=2500, currency="eur")
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": recorder.url})
    params: stripe.checkout.SessionCreateParams = {
        "mode": "payment",
        "line_items": [{"price": "price_1", "quantity": 2}],
        "client_reference_id": "ord_1",
        "metadata": {"order_id": "ord_1", "visitor_id": "v_1"},
        "payment_intent_data": {"metadata": {"order_id": "ord_1"}},
        "success_url": "https://shop.example.com/thanks",
        "cancel_url": "https://shop.example.com/cart",
        "customer_email": "buyer@example.com",
    }

    session = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "k1"})

    assert isinstance(session, stripe.checkout.Session)
    assert session.id.startswith("cs_test_") and session.url == f"https://checkout.stripe.com/c/pay/{session.id}"
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert session.metadata["order_id"] == "ord_1" and session.client_reference_id == "ord_1"
    assert (session.amount_total, session.currency) == (5000, "eur")
    [seen] = recorder.requests_to("/v1/checkout/sessions", method="POST")
    assert seen.idempotency_key == "k1"
    assert seen.stripe_version == stripe.api_version
    assert seen.authorization == "Bearer sk_test_x"
    assert seen.form["metadata[order_id]"] == "ord_1"
    assert seen.form["payment_intent_data[metadata][order_id]"] == "ord_1"
    assert seen.params["line_items"] == [{"price": "price_1", "quantity": "2"}]

    again = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "k1"})
    assert again.id == session.id and list(recorder.sessions) == [session.id]
    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.create(
            params={**params, "client_reference_id": "ord_2"}, options={"idempotency_key": "k1"}
        )

    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    completed = recorder.complete_session(session.id)
    assert completed["payment_status"] == "paid" and completed["payment_intent"].startswith("pi_")
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_recorder_catalogue_lists_errors_and_failures(recorder: StripeRecorder) -> None:
    client = recorder.client(max_network_retries=0)
    recorder.add_product(id="prod_1", name="Pro plan")
    for n in range(3):
        recorder.add_price(id=f"price_{n}", product="prod_1", unit_amount=900 + n, recurring={"interval": "month"})
    recorder.add_invoice_payment(invoice="in_1", payment_intent="pi_1", amount_paid=900)

    price = client.v1.prices.retrieve("price_0", params={"expand": ["product"]})
    assert price.recurring is not None and price.recurring.interval == "month"
    assert isinstance(price.product, stripe.Product) and price.product.name == "Pro plan"
    page = client.v1.prices.list(params={"limit": 2})
    assert [p.id for p in page.data] == ["price_0", "price_1"] and page.has_more
    assert [p.id for p in client.v1.prices.list(params={"starting_after": "price_1"}).data] == ["price_2"]
    assert [p.name for p in client.v1.products.list().data] == ["Pro plan"]
    [payment] = client.v1.invoice_payments.list(params={"invoice": "in_1"}).data
    assert payment.payment.payment_intent == "pi_1" and payment.amount_paid == 900
    account = client.v1.accounts.retrieve_current()
    assert account.id.startswith("acct_") and account.settings is not None

    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.prices.retrieve("price_x")
    assert missing.value.code == "resource_missing" and "No such price: 'price_x'" in str(missing.value)

    recorder.fail_next("/v1/prices", 500)
    with pytest.raises(stripe.APIError):
        client.v1.prices.retrieve("price_0")
    assert client.v1.prices.retrieve("price_0").id == "price_0"  # only the next one failed
    recorder.fail_next("/v1/prices", 503, times=3, method="GET")
    recorder.clear()
    retrying = recorder.client(max_network_retries=2)
    with pytest.raises(stripe.APIError):  # stripe-python retries 5xx: three attempts, three failures
        retrying.v1.prices.retrieve("price_0")
    assert len(recorder.requests_to("/v1/prices/price_0")) == 3
    recorder.fail_next("/v1/prices", 429, headers={"Stripe-Should-Retry": "false"})
    with pytest.raises(stripe.RateLimitError):
        retrying.v1.prices.retrieve("price_0")
    assert retrying.v1.prices.retrieve("price_0").id == "price_0"


def test_localstripe_sends_signed_payment_intent_webhook(localstripe: LocalStripe, receiver: WebhookReceiver) -> None:
    pid = localstripe.pid
    assert pid is not None
    localstripe.reset()
    localstripe.register_webhook("test", f"{receiver.url}/webhooks/stripe", SECRET, events=["payment_intent.succeeded"])
    client = localstripe.client()

    intent = client.v1.payment_intents.create(
        params={
            "amount": 4900,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"paidsignal_order_id": "ord_x"},
        }
    )
    assert intent.status == "succeeded"

    [event_body] = receiver.wait_for_events("payment_intent.succeeded", timeout=10)
    [delivery] = receiver.requests
    assert delivery.path == "/webhooks/stripe"
    event = stripe.Webhook.construct_event(delivery.body, delivery.header("Stripe-Signature") or "", SECRET)
    assert event.data.object.id == intent.id and event_body["api_version"] == "2017-08-15"
    assert event.data.object.metadata["paidsignal_order_id"] == "ord_x"

    localstripe.reset()
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.retrieve(intent.id)
    localstripe.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
