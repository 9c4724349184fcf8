"""API usage counting through the whole ASGI app (and once over a real socket): each answered request is counted in
memory per account, key, route template and day, with the events it accepted and 4xx/5xx as errors; requests whose
key never checked out are counted nowhere, and counting never fails a request."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app import runtime
from app.models import ApiKey, ApiUsageDaily
from app.services import keys
from app.services.usage import flush_api_usage
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import make_owner
from tests.utils.payments import WEBHOOK_SECRET, Shop, make_shop
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event, stripe_object

SHOP = "https://shop.example.com"
EVENTS = "POST /api/v1/events"


@pytest.fixture(autouse=True)
def _fresh_counts() -> Iterator[None]:
    runtime.current().api_usage.discard()
    runtime.current().rate_limiter.reset()
    yield
    runtime.current().api_usage.discard()
    runtime.current().rate_limiter.reset()


def _keys(db: Session) -> dict[str, Any]:
    account, _, owner = make_owner(db)
    secret = keys.create_key(session=db, actor=owner, kind="secret", label="Server").plaintext
    publishable = keys.create_key(session=db, actor=owner, kind="publishable", origins=[SHOP]).plaintext
    db.commit()
    ids = {key.kind: key.id for key in db.exec(select(ApiKey).where(ApiKey.account_id == account.id)).all()}
    return {"account_id": account.id, "secret": secret, "publishable": publishable, "ids": ids}


@pytest.fixture
def shop(db: Session) -> dict[str, Any]:
    return _keys(db)


def _browser_events(client: TestClient, key: str, events: list[dict[str, Any]], *, origin: str = SHOP) -> Any:
    return client.post(
        f"/api/v1/events?key={key}",
        content=json.dumps({"events": events}),
        headers={"Origin": origin, "Content-Type": "text/plain;charset=UTF-8", "User-Agent": DESKTOP_UA},
    )


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _pending() -> dict[tuple[int, int, str], tuple[int, int, int]]:
    """Pending counts without the day (every request of a test is today)."""
    today = datetime.now(UTC).date()
    found = {}
    for (account_id, key_id, endpoint, day), counts in runtime.current().api_usage.pending().items():
        assert day == today
        found[(account_id, key_id, endpoint)] = counts
    return found


def test_requests_are_counted_per_key_and_route_template(client: TestClient, db: Session, shop: dict) -> None:
    account, secret_id, browser_id = shop["account_id"], shop["ids"]["secret"], shop["ids"]["publishable"]
    batch = [event("page_view"), event("add_to_cart", value=1999, currency="EUR")]
    assert _browser_events(client, shop["publishable"], batch).json()["accepted"] == 2
    assert _browser_events(client, shop["publishable"], [event("lead")]).json()["accepted"] == 1
    for _ in range(3):
        assert client.get("/api/v1/events", headers=_bearer(shop["secret"])).status_code == 200
    # Two different campaign ids: one route template, never the URL.
    for campaign in ("cmp_missing1", "cmp_missing2"):
        assert client.get(f"/api/v1/campaigns/{campaign}", headers=_bearer(shop["secret"])).status_code == 404

    assert _pending() == {
        (account, browser_id, EVENTS): (2, 0, 3),
        (account, secret_id, "GET /api/v1/events"): (3, 0, 0),
        (account, secret_id, "GET /api/v1/campaigns/{campaign_id}"): (2, 2, 0),
    }


def test_duplicates_and_rejected_events_are_not_counted_as_accepted(
    client: TestClient, db: Session, shop: dict
) -> None:
    same = event("page_view")
    assert _browser_events(client, shop["publishable"], [same]).json()["accepted"] == 1
    repeat = _browser_events(client, shop["publishable"], [same, {"type": "page_view"}]).json()
    assert (repeat["accepted"], repeat["duplicates"], repeat["rejected"]) == (0, 1, 1)
    assert _pending() == {(shop["account_id"], shop["ids"]["publishable"], EVENTS): (2, 0, 1)}


def test_requests_whose_key_never_checked_out_are_counted_nowhere(client: TestClient, db: Session, shop: dict) -> None:
    wrong_secret = shop["secret"][:-4] + "0000"
    assert client.get("/api/v1/events", headers=_bearer(wrong_secret)).status_code == 401
    assert client.get("/api/v1/events").status_code == 401
    assert _browser_events(client, "ps_pk_doesnotexist000000000000", [event()]).status_code == 401
    # A real publishable key from an origin it does not allow is refused before it is trusted.
    assert _browser_events(client, shop["publishable"], [event()], origin="https://evil.example").status_code == 403
    # A secret key in the URL is refused (and never attributed) before it is checked.
    assert client.get(f"/api/v1/events?key={shop['secret']}").status_code == 422
    assert client.post("/api/v1/events", content="{not json", headers={"Content-Type": "text/plain"}).status_code == 422
    assert client.get("/api/v1/nope", headers=_bearer(shop["secret"])).status_code == 404
    assert client.get("/api/v1/health").status_code == 200
    assert runtime.current().api_usage.pending() == {}


def test_accounts_are_counted_apart(client: TestClient, db: Session, shop: dict) -> None:
    other = _keys(db)
    assert client.get("/api/v1/events", headers=_bearer(shop["secret"])).status_code == 200
    for _ in range(2):
        assert client.get("/api/v1/events", headers=_bearer(other["secret"])).status_code == 200
    assert _pending() == {
        (shop["account_id"], shop["ids"]["secret"], "GET /api/v1/events"): (1, 0, 0),
        (other["account_id"], other["ids"]["secret"], "GET /api/v1/events"): (2, 0, 0),
    }


def test_flushed_counts_land_in_api_usage_daily(client: TestClient, db: Session, shop: dict) -> None:
    assert _browser_events(client, shop["publishable"], [event(), event()]).status_code == 200
    assert client.get("/api/v1/campaigns/cmp_nope", headers=_bearer(shop["secret"])).status_code == 404
    assert flush_api_usage(db) == 2
    assert runtime.current().api_usage.pending() == {}
    assert _browser_events(client, shop["publishable"], [event()]).status_code == 200
    assert flush_api_usage(db) == 1
    rows = {(r.key_id, r.endpoint): (r.requests, r.errors, r.events) for r in db.exec(select(ApiUsageDaily)).all()}
    assert rows == {
        (shop["ids"]["publishable"], EVENTS): (2, 0, 3),
        (shop["ids"]["secret"], "GET /api/v1/campaigns/{campaign_id}"): (1, 1, 0),
    }


def test_a_verified_stripe_webhook_counts_for_its_account_without_a_key(
    client: TestClient, db: Session, stripe_api: StripeRecorder
) -> None:
    shop: Shop = make_shop(db, stripe_api)
    body = stripe_event("customer.created", stripe_object("customer"))
    url = f"/api/v1/stripe/webhook/{shop.account.public_id}"
    forged = client.post(url, content=body, headers={"Stripe-Signature": sign(body, "whsec_forged_0000000000")})
    assert forged.status_code == 400
    assert client.post("/api/v1/stripe/webhook/acc_unknown", content=body).status_code in {400, 404}
    assert runtime.current().api_usage.pending() == {}
    good = client.post(url, content=body, headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET)})
    assert good.status_code == 200, good.text
    assert _pending() == {(shop.account.id, 0, "POST /api/v1/stripe/webhook/{account_id}"): (1, 0, 0)}


def test_counting_never_fails_a_request(
    client: TestClient, db: Session, shop: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("counter broken")

    monkeypatch.setattr(runtime.current().api_usage, "count", broken)
    response = _browser_events(client, shop["publishable"], [event()])
    assert response.status_code == 200 and response.json()["accepted"] == 1


def test_an_unhandled_error_is_counted_as_a_500(
    asgi_app: object, db: Session, shop: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(**kwargs: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr("app.services.events.list_events", crash)
    with TestClient(asgi_app, base_url="http://localhost:3000", raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        assert client.get("/api/v1/events", headers=_bearer(shop["secret"])).status_code == 500
    assert _pending() == {(shop["account_id"], shop["ids"]["secret"], "GET /api/v1/events"): (1, 1, 0)}


def test_counted_over_a_real_socket(live_api: str, db: Session, shop: dict) -> None:
    """uvicorn on 127.0.0.1 serving build_api(): the middleware sees what a production server hands it."""
    request = urllib.request.Request(
        f"{live_api}/api/v1/events",
        data=json.dumps({"events": [event("purchase", value=500, currency="EUR")]}).encode(),
        headers={"Authorization": f"Bearer {shop['secret']}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and json.loads(response.read())["accepted"] == 1
    assert _pending() == {(shop["account_id"], shop["ids"]["secret"], EVENTS): (1, 0, 1)}
