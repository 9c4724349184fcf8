"""The webhook endpoint against deliveries an attacker or a broken sender could make: signatures timestamped in the
future, and malformed bodies carrying a valid signature. Each is a 400 JSON naming what is wrong, nothing of it is
written, and the corrected delivery of the same event applies. A property: random JSON bodies, validly signed,
never give a 5xx."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from app.models import Payment, StripeEvent
from app.services import orders as order_service
from app.services.checkout import META_ORDER
from tests.utils.payments import WEBHOOK_SECRET, Shop, make_shop, session_of, start_checkout
from tests.utils.stripe_fakes import StripeRecorder, random_id, sign, stripe_object


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def _post(client: TestClient, shop: Shop, body: bytes, *, timestamp: int | None = None) -> Any:
    return client.post(
        f"/api/v1/stripe/webhook/{shop.account.public_id}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign(body, WEBHOOK_SECRET, timestamp=timestamp),
        },
    )


def _event(type_: str, obj: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": random_id("evt_test_"),
        "object": "event",
        "type": type_,
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": obj},
        **fields,
    }


def _paid_checkout(shop: Shop, db: Session) -> tuple[str, dict[str, Any]]:
    order_id = start_checkout(shop, db)
    completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], amount_total=4_900, currency="eur")
    return order_id, completed


def _nothing_written(shop: Shop, db: Session, order_id: str) -> None:
    db.expire_all()
    assert db.exec(select(func.count()).select_from(StripeEvent)).one() == 0
    assert db.exec(select(func.count()).select_from(Payment)).one() == 0
    assert order_service.get_order(db, shop.account.id or 0, order_id).status == "created"


# --- the signature's time, both ways -----------------------------------------------------------------------------


def test_a_signature_from_the_future_is_refused_like_a_stale_one(client: TestClient, db: Session, shop: Shop) -> None:
    order_id, completed = _paid_checkout(shop, db)
    body = json.dumps(_event("checkout.session.completed", completed)).encode()

    ahead = _post(client, shop, body, timestamp=int(time.time()) + 3600)
    assert ahead.status_code == 400, ahead.text
    assert ahead.json()["error"]["code"] == "invalid_signature"
    assert "in the future" in ahead.json()["error"]["message"]
    stale = _post(client, shop, body, timestamp=int(time.time()) - 3600)
    assert stale.status_code == 400 and "older than the tolerance" in stale.json()["error"]["message"]
    _nothing_written(shop, db, order_id)

    # Clocks a little apart (within the 300 s tolerance) are fine.
    slightly_ahead = _post(client, shop, body, timestamp=int(time.time()) + 60)
    assert slightly_ahead.status_code == 200 and slightly_ahead.json()["outcome"] == "applied"


# --- malformed bodies with a valid signature -------------------------------------------------------------------------


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def _object(**fields: Any) -> Any:
    return lambda event: event["data"]["object"].update(fields)


def _top(**fields: Any) -> Any:
    return lambda event: event.update(fields)


# (name, how to spoil the paid checkout event, the field named in the answer). The first four are the issue's.
MALFORMED: list[tuple[str, Any, str | None]] = [
    ("the object is a list", lambda e: e["data"].update(object=[e["data"]["object"]]), "data.object"),
    ("customer_details is a string", _object(customer_details="jo@example.com"), "data.object.customer_details"),
    ("created is text", _top(created="yesterday"), "created"),
    ("10,000-deep JSON", "deep", None),
    ("data is a string", _top(data="{}"), "data"),
    ("metadata is a list", _object(metadata=[META_ORDER]), "data.object.metadata"),
    ("amount_total is text", _object(amount_total="4900"), "data.object.amount_total"),
    ("amount_total is NaN", "nan", None),
    ("amount_total is negative", _object(amount_total=-1), "data.object.amount_total"),
    ("amount_total overflows", _object(amount_total=10**30), "data.object.amount_total"),
    ("created past year 9999", _top(created=10**12), "created"),
    ("the currency is not a code", _object(currency="euro"), "data.object.currency"),
    ("payment_intent is a number", _object(payment_intent=7), "data.object.payment_intent"),
    ("a customer id too long to store", _object(customer="cus_" + "x" * 300), "data.object.customer"),
    ("a NUL in a string", _object(customer_email="a\x00@example.com"), "data.object.customer_email"),
    ("no event id", lambda e: e.pop("id"), "id"),
    ("not an event", _top(object="charge"), "object"),
]


@pytest.mark.parametrize(("name", "spoil", "field"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_signed_body_is_a_400_naming_the_field_and_writes_nothing(
    client: TestClient, db: Session, shop: Shop, name: str, spoil: Any, field: str | None
) -> None:
    order_id, completed = _paid_checkout(shop, db)
    good = _event("checkout.session.completed", completed)
    if spoil == "deep":
        body = json.dumps(good).replace('"livemode": false', f'"livemode": {_deep(10_000)}').encode()
    elif spoil == "nan":
        body = json.dumps(good).replace('"amount_total": 4900', '"amount_total": NaN').encode()
    else:
        bad = copy.deepcopy(good)
        spoil(bad)
        body = json.dumps(bad).encode()

    response = _post(client, shop, body)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "malformed_event", error
    assert error["field"] == field
    assert error["message"].startswith("The body is signed but") or error["message"].startswith("The event is signed")
    _nothing_written(shop, db, order_id)
    # Nothing of the event was recorded, its id included: the corrected delivery (Stripe's retry) applies.
    retry = _post(client, shop, json.dumps(good).encode())
    assert retry.status_code == 200 and retry.json()["outcome"] == "applied", retry.text
    assert order_service.get_order(db, shop.account.id or 0, order_id).status == "paid"


def test_every_handled_type_with_its_example_object_still_applies(client: TestClient, db: Session, shop: Shop) -> None:
    """The shapes are not stricter than Stripe's own example objects."""
    for type_, obj in _examples(shop, db):
        response = _post(client, shop, json.dumps(_event(type_, obj)).encode())
        assert response.status_code == 200, (type_, response.text)


# --- property: random JSON with a valid signature is never a 5xx ----------------------------------------------------


def _examples(shop: Shop, db: Session) -> list[tuple[str, dict[str, Any]]]:
    order_id, completed = _paid_checkout(shop, db)
    intent = completed["payment_intent"]
    ours = {META_ORDER: order_id}
    return [
        ("checkout.session.completed", completed),
        ("payment_intent.succeeded", stripe_object("payment_intent", id=intent, amount=4_900, amount_received=4_900,
                                                   currency="eur", latest_charge="ch_edge", metadata=ours)),
        ("charge.refunded", stripe_object("charge", id="ch_edge", amount=4_900, amount_refunded=900, currency="eur",
                                          payment_intent=intent, metadata=ours)),
        ("charge.dispute.created", stripe_object("dispute", charge="ch_edge", payment_intent=intent)),
        ("invoice.paid", stripe_object("invoice")),
        ("customer.subscription.updated", stripe_object("subscription", metadata=ours)),
        ("product.updated", stripe_object("product")),
        ("price.updated", stripe_object("price")),
        ("customer.created", stripe_object("customer")),
    ]  # fmt: skip


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and Infinity too: json.dumps writes them as bare words
    | st.text(max_size=12)
    | st.sampled_from(["", "\x00", "\ud800", "x" * 300, "2026-01-01", "-1", "eur", "evt_1", "event"])
)
_json = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@st.composite
def _mutated(draw: st.DrawFn, bases: list[dict[str, Any]]) -> dict[str, Any]:
    """A valid event with one value somewhere inside replaced by random JSON (or its key removed)."""
    event = copy.deepcopy(draw(st.sampled_from(bases)))
    event["id"] = random_id("evt_prop_")
    node: Any = event
    while isinstance(node, (dict, list)) and node:
        key = draw(st.sampled_from(sorted(node))) if isinstance(node, dict) else draw(st.integers(0, len(node) - 1))
        child = node[key]
        if isinstance(child, (dict, list)) and child and draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and draw(st.integers(0, 4)) == 0:
            del node[key]
        else:
            node[key] = draw(_json)
        break
    return event


@pytest.mark.parametrize("kind", ["any JSON", "an event with one field spoiled"])
def test_random_signed_bodies_never_give_a_5xx(client: TestClient, db: Session, shop: Shop, kind: str) -> None:
    bases = [_event(type_, obj) for type_, obj in _examples(shop, db)]
    bodies = _json if kind == "any JSON" else _mutated(bases)

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies)
    def never_5xx(body: Any) -> None:
        before = db.exec(select(func.count()).select_from(StripeEvent)).one()
        response = _post(client, shop, json.dumps(body).encode())
        assert response.status_code in {200, 400}, response.text
        if response.status_code == 400:
            assert response.json()["error"]["code"] == "malformed_event", response.text
            assert db.exec(select(func.count()).select_from(StripeEvent)).one() == before

    never_5xx()


def test_a_groups_answers_reach_the_event_loop_in_one_wake_up_errors_included() -> None:
    """The route awaits the webhook writer's answer: the answers of deliveries committed together are handed to the
    event loop with one ``call_soon_threadsafe`` (one self-pipe write and wake-up), not one each; an error reaches its
    own request, and a request already gone (cancelled) is skipped, not failed."""
    import asyncio
    import threading
    from concurrent.futures import Future

    from app.api.endpoints import stripe_webhook
    from app.models import WebhookOutcome
    from app.services.errors import Conflict
    from app.services.stripe_webhooks import WebhookResult

    async def scenario() -> tuple[list[object], int]:
        loop = asyncio.get_running_loop()
        wakeups = 0
        original = loop.call_soon_threadsafe

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal wakeups
            wakeups += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        queued: list[Future[WebhookResult]] = [Future() for _ in range(6)]
        waiters = [stripe_webhook._answer_of(future) for future in queued]
        waiters[4].cancel()  # its client went away

        def writer() -> None:  # the whole group is answered while the loop is busy elsewhere
            for i, future in enumerate(queued):
                if i == 5:
                    future.set_exception(Conflict("moved meanwhile"))
                else:
                    future.set_result(WebhookResult(f"evt_{i}", "customer.created", WebhookOutcome.IGNORED, ""))

        thread = threading.Thread(target=writer)
        thread.start()
        thread.join()
        results = await asyncio.gather(*waiters, return_exceptions=True)
        return results, wakeups

    results, wakeups = asyncio.run(scenario())
    assert wakeups == 1
    assert [r.event_id for r in results[:4]] == ["evt_0", "evt_1", "evt_2", "evt_3"]  # type: ignore[union-attr]
    assert isinstance(results[4], asyncio.CancelledError) and isinstance(results[5], Conflict)
