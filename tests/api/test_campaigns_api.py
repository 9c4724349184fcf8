from __future__ import annotations

from sqlmodel import Session
from starlette.testclient import TestClient

from app.services import keys
from tests.utils.factories import make_owner

SPRING = {"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": "spring"}]}]}


def _auth(db: Session) -> dict[str, str]:
    _, _, owner = make_owner(db)
    secret = keys.create_key(session=db, actor=owner, kind="secret").plaintext
    db.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_create_publish_list_and_versions(client: TestClient, db: Session) -> None:
    auth = _auth(db)
    created = client.post(
        "/api/v1/campaigns",
        json={"name": "Spring", "channel": "meta", "config": SPRING, "publish": True, "change_note": "launch"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("cmp_") and body["active_version"] == 1 and body["status"] == "active"
    assert body["versions"][0]["change_note"] == "launch" and body["versions"][0]["author"] == ""

    v2 = client.post(
        f"/api/v1/campaigns/{body['id']}/versions",
        json={"config": SPRING | {"notes": "B"}, "change_note": "creative B"},
        headers=auth,
    )
    assert v2.status_code == 201 and v2.json()["number"] == 2 and v2.json()["config"]["notes"] == "B"
    again = client.post(f"/api/v1/campaigns/{body['id']}/versions", json={}, headers=auth)
    assert again.status_code == 409 and "no unpublished changes" in again.json()["error"]["message"]

    versions = client.get(f"/api/v1/campaigns/{body['id']}/versions", headers=auth).json()
    assert [v["number"] for v in versions] == [2, 1]
    listed = client.get("/api/v1/campaigns?search=spr&channel=meta", headers=auth).json()
    assert listed["total"] == 1 and listed["campaigns"][0]["active_version"] == 2
    detail = client.get(f"/api/v1/campaigns/{body['id']}", headers=auth).json()
    assert detail["draft"]["notes"] == "B"


def test_bad_campaign_input_is_a_clear_422(client: TestClient, db: Session) -> None:
    auth = _auth(db)
    bad_rule = {
        "name": "x",
        "channel": "meta",
        "config": {"matching_rules": [{"conditions": [{"field": "nope", "value": "x"}]}]},
    }
    response = client.post("/api/v1/campaigns", json=bad_rule, headers=auth)
    assert response.status_code == 422 and response.json()["error"]["field"].startswith("matching_rules.0")
    response = client.post("/api/v1/campaigns", json={"name": "x", "channel": "radio"}, headers=auth)
    assert response.status_code == 422 and response.json()["error"]["field"] == "channel"
    response = client.get("/api/v1/campaigns?status=sleeping", headers=auth)
    assert response.status_code == 422
    assert client.get("/api/v1/campaigns/cmp_missing", headers=auth).status_code == 404


def test_channel_group_next_to_the_platform(client: TestClient, db: Session) -> None:
    """``channel`` stays the platform; ``channel_group`` defaults from it and can be given."""
    auth = _auth(db)
    default = client.post("/api/v1/campaigns", json={"name": "Ads", "channel": "tiktok"}, headers=auth)
    assert default.status_code == 201, default.text
    assert (default.json()["channel"], default.json()["channel_group"]) == ("tiktok", "paid_social")
    chosen = client.post(
        "/api/v1/campaigns", json={"name": "Partners", "channel": "other", "channel_group": "affiliates"}, headers=auth
    )
    assert chosen.status_code == 201 and chosen.json()["channel_group"] == "affiliates"
    listed = client.get("/api/v1/campaigns?channel_group=affiliates", headers=auth).json()
    assert [c["name"] for c in listed["campaigns"]] == ["Partners"]
    bad = client.post("/api/v1/campaigns", json={"name": "x", "channel": "meta", "channel_group": "tv"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "channel_group"
