"""``/api/v1/conversions`` through the whole ASGI app: list with totals, one delivery with its diagnostics,
replay, the Google Ads CSV, and clear 4xx for bad input."""

from __future__ import annotations

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.services import pixels
from tests.utils.ad_platforms import AdPlatforms
from tests.utils.conversions import META_TOKEN, drain, make_pixels, pay
from tests.utils.payments import Shop, make_shop
from tests.utils.stripe_fakes import StripeRecorder


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def _auth(shop: Shop) -> dict[str, str]:
    return {"Authorization": f"Bearer {shop.secret_key}"}


def test_list_detail_and_replay(client: TestClient, shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    made = make_pixels(db, shop, ad_platforms)
    ad_platforms.bad_tokens.add(META_TOKEN)
    order_id = pay(shop, db)
    drain()

    listed = client.get("/api/v1/conversions", headers=_auth(shop))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 4 and body["totals"]["sent"] == 3 and body["totals"]["dead"] == 1
    assert {c["order_id"] for c in body["conversions"]} == {order_id}
    dead = client.get("/api/v1/conversions?status=dead&provider=meta", headers=_auth(shop)).json()["conversions"]
    assert len(dead) == 1 and "Invalid OAuth access token" in dead[0]["reason"]

    detail = client.get(f"/api/v1/conversions/{dead[0]['delivery_id']}", headers=_auth(shop)).json()
    assert detail["attempts"][0]["response_status"] == 400
    assert META_TOKEN not in str(detail) and "[redacted]" in detail["attempts"][0]["request"]["url"]
    assert {c["label"] for c in detail["checklist"]} >= {"Deduplication with the browser", "Consent", "Age"}

    pixels.update_pixel(session=db, actor=shop.actor, pixel_public_id=made["meta"],
                        credentials={"access_token": "EAAfixedtoken0123456"})  # fmt: skip
    db.commit()
    replayed = client.post(f"/api/v1/conversions/{dead[0]['delivery_id']}/replay", headers=_auth(shop))
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
    drain()
    again = client.get(f"/api/v1/conversions/{dead[0]['delivery_id']}", headers=_auth(shop)).json()
    assert again["delivery"]["status"] == "sent" and len(again["attempts"]) == 2
    refused = client.post(f"/api/v1/conversions/{dead[0]['delivery_id']}/replay", headers=_auth(shop))
    assert refused.status_code == 422 and "Only dead or retrying" in refused.json()["error"]["message"]


def test_a_webhooks_error_answer_is_shown_as_a_status_without_its_body(
    client: TestClient, shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    ad_platforms.fail_next("/hooks/", 404, {"error": "internal-admin-token-7f3c"})
    pay(shop, db)
    drain()
    dead = client.get("/api/v1/conversions?provider=webhook", headers=_auth(shop)).json()["conversions"]
    assert dead[0]["status"] == "dead"
    detail = client.get(f"/api/v1/conversions/{dead[0]['delivery_id']}", headers=_auth(shop)).json()
    [attempt] = detail["attempts"]
    assert (attempt["response_status"], attempt["response_body"]) == (404, "")
    assert attempt["message"] == "HTTP 404 Not Found: the receiver refused the request (its answer is not shown)."
    assert "internal-admin-token" not in str(detail)


def test_bad_filters_and_auth_are_clear_4xx(client: TestClient, shop: Shop) -> None:
    assert client.get("/api/v1/conversions").status_code == 401
    bad = client.get("/api/v1/conversions?provider=tiktok", headers=_auth(shop))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "provider"
    bad = client.get("/api/v1/conversions?status=lost", headers=_auth(shop))
    assert bad.status_code == 422 and "status must be one of" in bad.json()["error"]["message"]
    bad = client.get("/api/v1/conversions?since=2026-02-30", headers=_auth(shop))
    assert bad.status_code == 422
    bad = client.get("/api/v1/conversions?cursor=nonsense", headers=_auth(shop))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"
    assert client.get("/api/v1/conversions/cvd_nothing", headers=_auth(shop)).status_code == 404
    csv = client.get("/api/v1/conversions/google-ads.csv?since=2026-01-01&until=2026-12-31", headers=_auth(shop))
    assert csv.status_code == 422 and "92 days" in csv.json()["error"]["message"]


def test_google_ads_csv_download(client: TestClient, shop: Shop, db: Session) -> None:
    response = client.get(
        "/api/v1/conversions/google-ads.csv?since=2026-11-01&until=2026-11-30&conversion_name=Sale",
        headers=_auth(shop),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "google-ads-conversions-2026-11-01-2026-11-30.csv" in response.headers["content-disposition"]
    assert response.text.splitlines()[0] == "Parameters:TimeZone=+0000"


def test_another_accounts_key_sees_none_of_these_deliveries(
    client: TestClient, shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    pay(shop, db)
    other = make_shop(db, shop.recorder, name="Other shop")
    body = client.get("/api/v1/conversions", headers=_auth(other)).json()
    assert body["total"] == 0 and body["conversions"] == []
