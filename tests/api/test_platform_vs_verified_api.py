"""``GET /api/v1/metrics/platform-vs-verified`` through the whole ASGI app, on the known shop with synced reports."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.testclient import TestClient

from app.services import keys
from tests.services.test_platform_vs_verified import shop  # noqa: F401  (a fixture)
from tests.utils.factories import make_owner
from tests.utils.world import World


def _auth(db: Session, world: World) -> dict[str, str]:
    secret = keys.create_key(session=db, actor=world.actor, kind="secret").plaintext
    db.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_claims_against_verified_as_json(client: TestClient, db: Session, shop: World) -> None:  # noqa: F811
    auth = _auth(db, shop)
    url = "/api/v1/metrics/platform-vs-verified?range=custom&start=2026-03-30&end=2026-03-31"
    answer = client.get(url, headers=auth)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["period"] == {"start": "2026-03-30", "end": "2026-03-31", "days": 2}
    assert body["comparison"] == {"start": "2026-03-28", "end": "2026-03-29", "days": 2}
    rows = {r["campaign_name"]: r for r in body["rows"]}
    spring = rows["Spring sale"]
    assert spring["campaign"] == shop.a.public_id and spring["platforms"] == ["meta"]
    assert spring["figures"] == {
        "currency": "EUR", "spend": 1000, "claimed_purchases": 1.0, "claimed_value": 8000, "verified_orders": 1.0,
        "verified_net": {"EUR": 3000}, "reporting_ratio": 1.0, "platform_roas": 8.0, "verified_roas": 3.0,
    }  # fmt: skip
    assert spring["previous"]["claimed_purchases"] == 2.0 and spring["previous"]["reporting_ratio"] is None
    assert rows[""]["campaign"] == "" and rows[""]["figures"]["spend"] == 1200

    refused = client.get("/api/v1/metrics/platform-vs-verified?model=best_guess", headers=auth)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "model"
    missing = client.get("/api/v1/metrics/platform-vs-verified?campaign=cmp_nope", headers=auth)
    assert missing.status_code == 404


def test_another_account_sees_none_of_it(client: TestClient, db: Session, shop: World) -> None:  # noqa: F811
    _, _, other = make_owner(db, email="other@example.com")
    secret = keys.create_key(session=db, actor=other, kind="secret").plaintext
    db.commit()
    url = "/api/v1/metrics/platform-vs-verified?range=custom&start=2026-03-28&end=2026-03-31"
    answer = client.get(url, headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200 and answer.json()["rows"] == []
    foreign = client.get(f"{url}&campaign={shop.a.public_id}", headers={"Authorization": f"Bearer {secret}"})
    assert foreign.status_code == 404
