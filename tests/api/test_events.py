from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app import runtime
from app.models import Event, Touch, VisitSession
from app.services import ingest, keys
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import make_owner

SHOP = "https://shop.example.com"


@pytest.fixture
def shop(db: Session) -> Iterator[dict[str, str]]:
    account, _, owner = make_owner(db)
    secret = keys.create_key(session=db, actor=owner, kind="secret").plaintext
    publishable = keys.create_key(session=db, actor=owner, kind="publishable", origins=[SHOP]).plaintext
    db.commit()
    runtime.current().rate_limiter.reset()
    yield {"account_id": str(account.id), "secret": secret, "publishable": publishable}
    runtime.current().rate_limiter.reset()


def _browser(client: TestClient, shop: dict[str, str], body: object, **headers: str) -> object:
    return client.post(
        f"/api/v1/events?key={shop['publishable']}",
        content=body if isinstance(body, str) else json.dumps(body),
        headers={"Origin": SHOP, "Content-Type": "text/plain;charset=UTF-8", "User-Agent": DESKTOP_UA} | headers,
    )


def test_browser_batch_is_committed_and_readable_cross_origin(client: TestClient, db: Session, shop: dict) -> None:
    events = [event("page_view", utm_campaign="spring", fbclid="AbC"), event("add_to_cart", value=1999, currency="eur")]
    response = _browser(client, shop, {"events": events})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": 0,
        "dropped": 0,
        "dropped_reasons": {},
        "errors": [],
    }
    assert response.headers["access-control-allow-origin"] == SHOP
    stored = db.exec(select(Event).order_by(Event.occurred_at)).all()
    assert [e.type for e in stored] == ["page_view", "add_to_cart"]
    assert stored[1].value == 1999 and stored[1].currency == "EUR" and stored[0].source == "browser"
    assert stored[0].fbc is not None and stored[0].fbc.endswith(".AbC") and stored[0].user_agent == DESKTOP_UA
    ingest.catch_up()  # visitors, sessions and touches are derived after the answer
    assert db.exec(select(VisitSession)).one().utm_campaign == "spring"
    assert db.exec(select(Touch)).one().click_id == "AbC"


def test_single_event_object_and_key_in_body(client: TestClient, db: Session, shop: dict) -> None:
    single = event("lead") | {"key": shop["publishable"]}
    response = client.post(
        "/api/v1/events",
        content=json.dumps(single),
        headers={"Origin": SHOP, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA},
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1


def test_server_sender_with_secret_key_and_json(client: TestClient, db: Session, shop: dict) -> None:
    response = client.post(
        "/api/v1/events",
        json={"events": [event("purchase", value=500, currency="JPY", client_user_agent=DESKTOP_UA)]},
        headers={"Authorization": f"Bearer {shop['secret']}", "User-Agent": "python-httpx"},
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1
    stored = db.exec(select(Event)).one()
    assert stored.source == "server" and stored.user_agent == DESKTOP_UA


def test_duplicates_are_accepted_once(client: TestClient, db: Session, shop: dict) -> None:
    first = event()
    assert _browser(client, shop, {"events": [first, first]}).json()["duplicates"] == 1
    again = _browser(client, shop, {"events": [first]}).json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert len(db.exec(select(Event)).all()) == 1


def test_bad_events_are_listed_and_good_ones_kept(client: TestClient, db: Session, shop: dict) -> None:
    now = datetime.now(UTC)
    batch = [
        event(),
        event("Bad Type"),
        event(timestamp=(now - timedelta(days=8)).isoformat()),
        event(timestamp=(now + timedelta(minutes=11)).isoformat()),
        event(value=100),
        event(currency="XXX1"),
        event(user_data={"em": "ann@example.com"}),
        event(properties={"blob": "x" * 5000}),
        event(unknown_field=1),
        "not an object",
        event("purchase", value=1999, currency="EUR"),
    ]
    body = _browser(client, shop, {"events": batch}).json()
    assert (body["accepted"], body["rejected"]) == (2, 9)
    by_index = {e["index"]: e for e in body["errors"]}
    assert sorted(by_index) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert "type" in by_index[1]["message"]
    assert by_index[2]["code"] == "invalid_timestamp" and "7 days" in by_index[2]["message"]
    assert "10 minutes" in by_index[3]["message"]
    assert "currency is required" in by_index[4]["message"]
    assert "ISO 4217" in by_index[5]["message"]
    assert "SHA-256" in by_index[6]["message"]
    assert "4096 bytes" in by_index[7]["message"]
    assert "unknown_field" in by_index[8]["message"]
    assert len(db.exec(select(Event)).all()) == 2


def test_bots_are_dropped_with_a_reason(client: TestClient, db: Session, shop: dict) -> None:
    ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    body = _browser(client, shop, {"events": [event(), event()]}, **{"User-Agent": ua}).json()
    assert body["dropped"] == 2 and body["dropped_reasons"] == {"bot": 2} and body["accepted"] == 0
    headless = DESKTOP_UA.replace("Chrome/", "HeadlessChrome/")
    assert _browser(client, shop, {"events": [event()]}, **{"User-Agent": headless}).json()["dropped"] == 1
    assert db.exec(select(Event)).first() is None


def test_consent_denied_for_analytics_is_dropped(client: TestClient, db: Session, shop: dict) -> None:
    body = _browser(
        client,
        shop,
        {"events": [event(consent={"analytics": False}), event(consent={"analytics": True, "ad_user_data": False})]},
    ).json()
    assert body["accepted"] == 1 and body["dropped_reasons"] == {"consent_denied": 1}
    assert db.exec(select(Event)).one().consent == {"analytics": True, "ad_user_data": False}


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [
        ("nope", 422, "validation_failed", "not valid JSON"),
        ({"events": []}, 422, "validation_failed", "empty"),
        ({"events": {}}, 422, "validation_failed", "list"),
        ({"events": [event()] * 501}, 422, "validation_failed", "at most 500"),
        ({"events": [event()], "extra": 1}, 422, "validation_failed", "extra"),
        (42, 422, "validation_failed", "events"),
    ],
)
def test_malformed_requests(
    client: TestClient, shop: dict, body: object, status: int, code: str, fragment: str
) -> None:
    response = _browser(client, shop, body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code and fragment in response.json()["error"]["message"]


def test_oversized_body_is_413(client: TestClient, shop: dict) -> None:
    huge = json.dumps({"events": [event(properties={"p": "x" * 4000}) for _ in range(300)]})
    assert len(huge) > 1 << 20
    response = _browser(client, shop, huge)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


def test_key_and_origin_errors(client: TestClient, shop: dict) -> None:
    body = json.dumps({"events": [event()]})
    evil = client.post(
        f"/api/v1/events?key={shop['publishable']}",
        content=body,
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
    )
    assert evil.status_code == 403 and "not allowed" in evil.json()["error"]["message"]
    # Readable by the page (no account data in it), so the pixel does not retry it as a network failure.
    assert evil.headers["access-control-allow-origin"] == "https://evil.example"
    no_origin = client.post(
        f"/api/v1/events?key={shop['publishable']}", content=body, headers={"Content-Type": "text/plain"}
    )
    assert no_origin.status_code == 403 and "secret key" in no_origin.json()["error"]["message"]
    no_key = client.post("/api/v1/events", content=body, headers={"Origin": SHOP, "Content-Type": "text/plain"})
    assert no_key.status_code == 401
    secret_in_url = client.post(
        f"/api/v1/events?key={shop['secret']}", content=body, headers={"Content-Type": "text/plain"}
    )
    assert secret_in_url.status_code == 422


def test_rate_limit_gives_429_with_retry_after_and_cors(
    client: TestClient, shop: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.settings import get_settings

    monkeypatch.setattr(get_settings(), "ingest_rate_limit", "3/minute")
    codes = [_browser(client, shop, {"events": [event()]}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = _browser(client, shop, {"events": [event()]})
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["access-control-allow-origin"] == SHOP
    assert limited.headers["access-control-expose-headers"] == "Retry-After"
    assert limited.json()["error"]["code"] == "rate_limited"


def test_list_events_with_filters_and_cursor(client: TestClient, db: Session, shop: dict) -> None:
    batch = [event("page_view", visitor_id=f"v{i % 2}") for i in range(5)] + [event("lead", visitor_id="v0")]
    _browser(client, shop, {"events": batch})
    auth = {"Authorization": f"Bearer {shop['secret']}"}
    first = client.get("/api/v1/events?limit=4", headers=auth).json()
    assert len(first["events"]) == 4 and first["next_cursor"]
    second = client.get(f"/api/v1/events?limit=4&cursor={first['next_cursor']}", headers=auth).json()
    assert len(second["events"]) == 2 and second["next_cursor"] is None
    ids = [e["event_id"] for e in first["events"] + second["events"]]
    assert sorted(ids) == sorted(e["event_id"] for e in batch)
    leads = client.get("/api/v1/events?type=lead", headers=auth).json()["events"]
    assert [e["event_id"] for e in leads] == [batch[-1]["event_id"]]
    v1 = client.get("/api/v1/events?visitor_id=v1", headers=auth).json()["events"]
    assert len(v1) == 2 and all("ip" not in e for e in v1)
    bad = client.get("/api/v1/events?cursor=zzz", headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"
    assert client.get("/api/v1/events?limit=0", headers=auth).status_code == 422


def test_events_of_one_account_are_invisible_to_another(client: TestClient, db: Session, shop: dict) -> None:
    _browser(client, shop, {"events": [event()]})
    _, _, other = make_owner(db)
    other_secret = keys.create_key(session=db, actor=other, kind="secret").plaintext
    db.commit()
    listed = client.get("/api/v1/events", headers={"Authorization": f"Bearer {other_secret}"}).json()
    assert listed["events"] == []


def test_poison_inputs_are_refused_not_500(client: TestClient, db: Session, shop: dict) -> None:
    body = _browser(
        client,
        shop,
        {
            "events": [
                event(value=10**20, currency="EUR"),
                event(url="http://[x/"),
                event("purchase", value=1999, currency="EUR"),
            ]
        },
    ).json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    nul = _browser(client, shop, '{"events": [{"event_id": "a\\u0000b", "type": "page_view"}]}')
    assert nul.status_code == 422 and "NUL" in nul.json()["error"]["message"]
    deep = _browser(client, shop, "[" * 100_000 + "]" * 100_000)
    assert deep.status_code == 422


def test_server_events_never_take_the_senders_own_agent_or_address(client: TestClient, db: Session, shop: dict) -> None:
    client.post(
        "/api/v1/events",
        json={"events": [event()]},
        headers={"Authorization": f"Bearer {shop['secret']}", "User-Agent": "python-requests/2.32"},
    )
    stored = db.exec(select(Event)).one()
    assert stored.user_agent is None and stored.ip is None
    _browser(client, shop, {"events": [event(client_user_agent="Spoofed/1.0", client_ip="1.2.3.4")]})
    browser_row = db.exec(select(Event).where(Event.source == "browser")).one()
    assert browser_row.user_agent == DESKTOP_UA and browser_row.ip != "1.2.3.4"


def test_an_unexpected_failure_is_a_json_500_counted_under_the_route(
    client: TestClient, shop: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``POST /api/v1/events`` goes straight to its endpoint (app/api/middleware.py, IngestFastPath): what the
    layers it skips did for it still happens: a crash is the JSON 500 every ``/api`` error is, inside the security
    headers and the request id, and the request is counted for its key under the route template."""
    runtime.current().api_usage.discard()

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ingest, "prepare", broken)
    response = _browser(client, shop, {"events": [event()]})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error" and "boom" not in response.text
    assert response.headers["x-request-id"] and response.headers["x-content-type-options"] == "nosniff"
    counted = {endpoint: counts for (_a, _k, endpoint, _d), counts in runtime.current().api_usage.pending().items()}
    assert counted == {"POST /api/v1/events": (1, 1, 0)}
    runtime.current().api_usage.discard()


def test_other_methods_and_paths_of_events_take_the_usual_way(client: TestClient, shop: dict) -> None:
    preflight = client.options("/api/v1/events", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code < 500
    listed = client.get("/api/v1/events", headers={"Authorization": f"Bearer {shop['secret']}"})
    assert listed.status_code == 200 and listed.json()["events"] == []
    slash = client.post(f"/api/v1/events/?key={shop['publishable']}", content="{}")
    assert slash.status_code in (307, 404, 405) and (slash.status_code == 307 or "error" in slash.json())


# A batch is checked in one call on its bytes when every event is good (tests/api/test_events_batch_parse.py).
def test_a_non_finite_number_in_properties_is_refused_as_before(client: TestClient, shop: dict[str, str]) -> None:
    for body in ('{"events":[{"event_id":"a","type":"page_view","properties":{"x":NaN}}]}', '{"events":[1e999]}'):
        response = _browser(client, shop, body)
        assert response.status_code == 422, response.text
        assert "not JSON" in response.json()["error"]["message"] or "too large" in response.json()["error"]["message"]
    good = _browser(client, shop, {"events": [event(), event()]})
    assert good.status_code == 200 and good.json()["accepted"] == 2
