"""What an attacker with a key tried (issue 15): stored data that broke reads, unbounded numbers, methods and paths
the router answered outside our JSON errors, and bounds the OpenAPI document did not state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app import runtime
from app.models import AttributionModel, Event
from app.services import campaigns as campaign_service
from app.services import conversions as conversion_service
from app.services import keys, metrics
from app.services import orders as order_service
from app.services.attribution import LOOKBACK_DAYS
from app.services.json_depth import CUT
from app.services.paging import MAX_PAGE_NUMBER
from app.state.live import read_install, read_overview
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import make_owner

SHOP = "https://shop.example.com"


def nested(depth: int) -> dict[str, Any]:
    """``{"a": {"a": … {"a": 1}}}`` with ``depth`` objects."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.fixture
def shop(db: Session) -> Iterator[dict[str, Any]]:
    account, _, owner = make_owner(db)
    secret = keys.create_key(session=db, actor=owner, kind="secret").plaintext
    publishable = keys.create_key(session=db, actor=owner, kind="publishable", origins=[SHOP]).plaintext
    db.commit()
    runtime.current().rate_limiter.reset()
    yield {"account_id": account.id, "secret": secret, "publishable": publishable}
    runtime.current().rate_limiter.reset()


@pytest.fixture
def lenient(asgi_app: object, db: Session) -> Iterator[TestClient]:
    """A client that gets the server's 500 answer instead of the exception, as a real caller would."""
    with TestClient(asgi_app, base_url="http://localhost:3000", raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        yield client


def _auth(shop: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {shop['secret']}"}


def _browser(client: TestClient, shop: dict[str, Any], body: str) -> Any:
    return client.post(
        f"/api/v1/events?key={shop['publishable']}",
        content=body,
        headers={"Origin": SHOP, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA},
    )


# --- 1. nesting: refused at ingest, and what is stored never breaks a read ---------------------------------------


def test_properties_nested_deeper_than_16_levels_are_refused_naming_the_field(
    client: TestClient, db: Session, shop: dict[str, Any]
) -> None:
    body = {"events": [event(properties=nested(17)), event(properties=nested(16)), event(properties=nested(600))]}
    answer = _browser(client, shop, json.dumps(body)).json()
    assert (answer["accepted"], answer["rejected"]) == (1, 2)
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(0, "properties"), (2, "properties")]
    assert "at most 16 levels deep" in answer["errors"][0]["message"]
    assert db.exec(select(Event)).one().properties == nested(16)


def test_an_event_stored_deeper_than_any_reader_can_serialize_is_listed_cut(
    lenient: TestClient, db: Session, shop: dict[str, Any]
) -> None:
    # As stored before the ingest bound existed: 600 levels fit in 4 KB; the API's serializer stops near 255.
    assert _browser(lenient, shop, json.dumps({"events": [event(properties={"ok": 1})]})).json()["accepted"] == 1
    db.exec(update(Event).values(properties=nested(600)))  # type: ignore[call-overload]
    db.commit()
    listed = lenient.get("/api/v1/events", headers=_auth(shop))
    assert listed.status_code == 200, listed.text
    properties = listed.json()["events"][0]["properties"]
    for _ in range(16):
        properties = properties["a"]
    assert properties == CUT
    # The backoffice's event tables (install page, overview) read the same rows.
    install = read_install(db, shop["account_id"], "Europe/Paris")
    overview = read_overview(db, shop["account_id"], "Europe/Paris")
    assert len(install.recent) == len(overview.recent) == 1


@pytest.mark.parametrize(
    ("fragment", "said"),
    [
        ('"properties": {"x": NaN}', "NaN"),
        ('"properties": {"x": -Infinity}', "-Infinity"),
        ('"properties": {"x": 1e999}', "too large"),
        ('"value": 1' + "0" * 5000, "cannot be read"),
    ],
)
def test_numbers_json_cannot_hold_are_a_422_not_a_500(
    lenient: TestClient, shop: dict[str, Any], fragment: str, said: str
) -> None:
    body = '{"events": [' + json.dumps(event())[:-1] + ", " + fragment + "}]}"
    answer = _browser(lenient, shop, body)
    assert answer.status_code == 422, answer.text
    assert said in answer.json()["error"]["message"]


def test_a_body_that_is_not_utf8_is_a_422_with_a_message(client: TestClient, shop: dict[str, Any]) -> None:
    answer = client.post(
        "/api/v1/campaigns", content=b"\xff", headers=_auth(shop) | {"Content-Type": "application/json"}
    )
    assert answer.status_code == 422 and answer.json()["error"]["message"] == "The body is not valid JSON (UTF-8 text)."
    broken = client.post("/api/v1/campaigns", content=b"{", headers=_auth(shop) | {"Content-Type": "application/json"})
    assert broken.status_code == 422 and "not valid JSON" in broken.json()["error"]["message"]


# --- 2. bounds, methods, paths: every /api answer is JSON ----------------------------------------------------------


def test_page_numbers_are_bounded(lenient: TestClient, shop: dict[str, Any]) -> None:
    huge = lenient.get("/api/v1/campaigns?page=9223372036854775807", headers=_auth(shop))
    assert huge.status_code == 422 and huge.json()["error"]["field"] == "page"
    last = lenient.get(f"/api/v1/campaigns?page={MAX_PAGE_NUMBER}", headers=_auth(shop))
    assert last.status_code == 200 and last.json()["campaigns"] == []


def test_the_campaigns_service_refuses_a_page_past_the_bound(db: Session, shop: dict[str, Any]) -> None:
    from app.services.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="page must be between"):
        campaign_service.list_campaigns(session=db, account_id=shop["account_id"], page=MAX_PAGE_NUMBER + 1)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/v1/campaigns", "GET, POST"),
        ("DELETE", "/api/v1/campaigns/cmp_x", "GET"),
        ("PATCH", "/api/v1/events", "GET, POST"),
        ("TRACE", "/api/v1/health", "GET"),
        ("QUERY", "/api/v1/whoami", "GET, POST"),
        ("PUT", "/api/v1/stripe/webhook/acc_x", "POST"),
        ("POST", "/api/openapi.json", "GET, HEAD"),
    ],
)
def test_a_method_a_route_lacks_is_405_with_allow(
    client: TestClient, shop: dict[str, Any], method: str, path: str, allow: str
) -> None:
    answer = client.request(method, path, headers=_auth(shop))
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == allow
    assert answer.json()["error"]["code"] == "method_not_allowed"


def test_unknown_paths_and_ids_with_control_characters_are_json_404(client: TestClient, shop: dict[str, Any]) -> None:
    for path in ("/api/v1/campaigns/a%0Ab", "/api/v1/orders/%0A", "/api/v1/conversions/x%0D%0Ay", "/api/v2/nothing"):
        answer = client.get(path, headers=_auth(shop))
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/json", path
        assert answer.json()["error"]["code"] == "not_found"
    put = client.put("/api/v1/nothing/here")
    assert put.status_code == 404 and put.json()["error"]["code"] == "not_found"


def test_an_unexpected_failure_is_a_json_500(
    lenient: TestClient, shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(campaign_service, "list_campaigns", broken)
    answer = lenient.get("/api/v1/campaigns", headers=_auth(shop))
    assert answer.status_code == 500
    assert answer.json()["error"] == {
        "code": "internal_error",
        "message": "Something failed on our side; retry later.",
        "field": None,
    }


def _parameters(schema: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}


def test_the_openapi_document_lists_the_values_the_server_enforces(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    campaigns = _parameters(schema, "/api/v1/campaigns")
    assert campaigns["status"]["enum"] == [s.value for s in campaign_service.Status]
    assert campaigns["channel"]["enum"] == [c.value for c in campaign_service.Channel]
    assert (campaigns["page"]["maximum"], campaigns["per_page"]["maximum"]) == (MAX_PAGE_NUMBER, 100)
    assert _parameters(schema, "/api/v1/orders")["status"]["enum"] == list(order_service.STATUSES)
    conversions = _parameters(schema, "/api/v1/conversions")
    assert conversions["status"]["enum"] == list(conversion_service.STATUSES)
    assert conversions["provider"]["enum"] == [p.value for p in conversion_service.Provider]
    assert _parameters(schema, "/api/v1/events")["source"]["enum"] == ["browser", "server", "test"]
    figures = _parameters(schema, "/api/v1/metrics")
    assert figures["range"]["enum"] == [p.value for p in metrics.Preset]
    assert figures["compare"]["enum"] == [c.value for c in metrics.Compare]
    assert figures["dimension"]["enum"] == [d.value for d in metrics.Dimension]
    assert figures["model"]["enum"] == [m.value for m in AttributionModel]
    assert figures["lookback_days"]["enum"] == list(LOOKBACK_DAYS)
    for path in ("/api/v1/events", "/api/v1/orders", "/api/v1/conversions", "/api/v1/spend"):
        assert _parameters(schema, path)["limit"]["maximum"] == 200, path


def _body_schema(schema: dict[str, Any], path: str, media: str = "application/json") -> dict[str, Any]:
    body = schema["paths"][path]["post"]["requestBody"]["content"][media]["schema"]
    if "$ref" in body:
        return schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return body


def test_the_openapi_document_states_the_body_rules_and_resolves(client: TestClient) -> None:
    """What the schema fuzz found refused though the document allowed it, now declared; and no reference in the
    document points nowhere (the checkout body's ``#/$defs/…`` did)."""
    schema = client.get("/api/openapi.json").json()
    assert "$defs" not in json.dumps(schema)
    campaign = _body_schema(schema, "/api/v1/campaigns")["properties"]
    assert (campaign["name"]["minLength"], campaign["name"]["maxLength"]) == (1, 120)
    assert campaign["channel"]["enum"] == [c.value for c in campaign_service.Channel]
    config = campaign["config"]
    assert config["additionalProperties"] is False and "matching_rules" in config["properties"]
    assert "EUR" in json.dumps(config["properties"]["budget"])
    checkout_body = schema["paths"]["/api/v1/checkout/sessions"]["post"]["requestBody"]
    assert checkout_body["required"] is True
    assert checkout_body["content"]["application/json"]["schema"]["properties"]["items"]["items"]["properties"]
    batch = _body_schema(schema, "/api/v1/events")["properties"]["events"]
    assert batch["minItems"] == 1 and "event_id" in batch["items"]["properties"]
    spend = schema["components"]["schemas"]["SpendEntryIn"]
    assert set(spend["required"]) == {"date", "campaign", "spend", "currency"}
    assert spend["properties"]["date"]["format"] == "date"
    assert schema["components"]["schemas"]["SpendRequest"]["properties"]["entries"]["minItems"] == 1


def test_the_google_ads_csv_is_declared_as_csv_with_json_errors(client: TestClient, shop: dict[str, Any]) -> None:
    responses = client.get("/api/openapi.json").json()["paths"]["/api/v1/conversions/google-ads.csv"]["get"]
    assert list(responses["responses"]["200"]["content"]) == ["text/csv"]
    assert list(responses["responses"]["422"]["content"]) == ["application/json"]
    csv = client.get("/api/v1/conversions/google-ads.csv?since=2026-01-01&until=2026-01-31", headers=_auth(shop))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    bad = client.get("/api/v1/conversions/google-ads.csv?since=2026-01-01&until=2026-12-31", headers=_auth(shop))
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/api/v1/conversions/google-ads.csv?since=0001-01-01&until=0001-01-01", "since"),
        ("/api/v1/conversions/google-ads.csv?since=2999-12-01&until=9999-12-31", "until"),
        ("/api/v1/orders?since=0001-01-01", "since"),
        ("/api/v1/orders?until=9999-12-31", "until"),
        ("/api/v1/conversions?since=0001-01-01", "since"),
        ("/api/v1/spend?until=9999-12-31", "until"),
        ("/api/v1/events?since=0001-01-01T00:00:00%2B14:00", "since"),
        ("/api/v1/metrics?range=custom&start=0001-01-01&end=0001-01-02", "start"),
        ("/api/v1/metrics?range=custom&start=9999-12-30&end=9999-12-31&lookback_days=90", "start"),
    ],
)
def test_days_near_the_ends_of_the_calendar_are_a_422_not_a_500(
    lenient: TestClient, shop: dict[str, Any], query: str, field: str
) -> None:
    """Found by the schema fuzz: year 1 cannot be turned into UTC, year 9999 cannot be stepped from."""
    answer = lenient.get(query, headers=_auth(shop))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert "between 1970-01-01 and 2999-12-31" in answer.json()["error"]["message"]


def test_the_last_accepted_day_still_answers(client: TestClient, shop: dict[str, Any]) -> None:
    for query in (
        "/api/v1/orders?since=1970-01-01&until=2999-12-31",
        "/api/v1/conversions/google-ads.csv?since=2999-12-01&until=2999-12-31",
        "/api/v1/metrics?range=custom&start=2999-12-30&end=2999-12-31&lookback_days=90&compare=year",
    ):
        assert client.get(query, headers=_auth(shop)).status_code == 200, query
