"""``/api/v1/spend`` through the whole ASGI app: auth, entries stored and replaced (never added twice), field paths
of wrong entries, the list with filters and cursor, and tenancy."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session
from starlette.testclient import TestClient

from app.services import campaigns, keys
from app.services.permissions import Actor
from tests.utils.factories import make_owner

DAY = datetime.now(ZoneInfo("Europe/Paris")).date() - timedelta(days=2)


def _shop(db: Session) -> tuple[Actor, dict[str, str]]:
    _, _, owner = make_owner(db)
    secret = keys.create_key(session=db, actor=owner, kind="secret").plaintext
    db.commit()
    return owner, {"Authorization": f"Bearer {secret}"}


def _campaign(db: Session, owner: Actor, name: str) -> str:
    public_id = campaigns.create_campaign(session=db, actor=owner, name=name, channel="google").public_id
    db.commit()
    return public_id


def _entry(day: date, campaign: str, spend: object, **more: object) -> dict[str, object]:
    return {"date": day.isoformat(), "campaign": campaign, "spend": spend, "currency": "EUR", **more}


def test_auth_is_a_secret_key_in_a_header(client: TestClient, db: Session) -> None:
    assert client.post("/api/v1/spend", json={"entries": []}).status_code == 401
    assert client.get("/api/v1/spend").status_code == 401
    owner, _ = _shop(db)
    publishable = keys.create_key(session=db, actor=owner, kind="publishable", origins=["https://shop.example"])
    db.commit()
    refused = client.get("/api/v1/spend", headers={"Authorization": f"Bearer {publishable.plaintext}"})
    assert refused.status_code == 403 and "secret" in refused.json()["error"]["message"].lower()


def test_record_replace_and_list(client: TestClient, db: Session) -> None:
    owner, auth = _shop(db)
    spring = _campaign(db, owner, "Spring sale")
    brand = _campaign(db, owner, "Brand search")
    entries = [
        _entry(DAY, spring, "12.34", impressions=1000, clicks=40),
        _entry(DAY, "brand SEARCH", 5),  # by name, case-insensitive; a JSON number
        _entry(DAY - timedelta(days=1), spring, 7.5),
    ]
    created = client.post("/api/v1/spend", json={"entries": entries}, headers=auth)
    assert created.status_code == 200, created.text
    assert created.json() == {"inserted": 3, "replaced": 0, "kept_synced": 0}

    again = client.post("/api/v1/spend", json={"entries": [_entry(DAY, spring, "20.00")]}, headers=auth)
    assert again.json() == {"inserted": 0, "replaced": 1, "kept_synced": 0}

    listed = client.get("/api/v1/spend", headers=auth).json()
    assert listed["total"] == 3 and listed["next_cursor"] is None
    rows = {(r["date"], r["campaign"]): r for r in listed["spend"]}
    today_spring = rows[(DAY.isoformat(), spring)]
    assert (today_spring["amount"], today_spring["spend"], today_spring["currency"]) == (2000, "20.00", "EUR")
    assert (today_spring["impressions"], today_spring["clicks"], today_spring["source"]) == (None, None, "api")
    assert rows[(DAY.isoformat(), brand)]["amount"] == 500 and rows[(DAY.isoformat(), brand)]["campaign_name"] == (
        "Brand search"
    )
    total_spring = sum(r["amount"] for r in listed["spend"] if r["campaign"] == spring)
    assert total_spring == 2000 + 750  # replaced, never added

    page = client.get("/api/v1/spend?limit=2", headers=auth).json()
    assert len(page["spend"]) == 2 and page["next_cursor"]
    rest = client.get(f"/api/v1/spend?limit=2&cursor={page['next_cursor']}", headers=auth).json()
    assert len(rest["spend"]) == 1 and rest["next_cursor"] is None
    filtered = client.get(
        f"/api/v1/spend?campaign={spring}&until={(DAY - timedelta(days=1)).isoformat()}", headers=auth
    )
    assert [r["amount"] for r in filtered.json()["spend"]] == [750]


def test_wrong_entries_are_422_with_the_field_path(client: TestClient, db: Session) -> None:
    owner, auth = _shop(db)
    spring = _campaign(db, owner, "Spring sale")
    good = _entry(DAY, spring, "1.00")
    bad = client.post(
        "/api/v1/spend",
        json={"entries": [good, _entry(DAY - timedelta(days=1), spring, "1.999")]},
        headers=auth,
    )
    assert bad.status_code == 422
    assert bad.json()["error"] == {
        "code": "validation_failed",
        "message": "entries[1].spend: Spend: EUR amounts take at most 2 decimals.",
        "field": "entries[1].spend",
    }
    cases = [
        (_entry(DAY, "Nope", "1"), "entries[0].campaign", "Unknown campaign 'Nope'"),
        ({**good, "date": "20.11.2026"}, "entries[0].date", "write it as YYYY-MM-DD"),
        ({**good, "date": (DAY + timedelta(days=5)).isoformat()}, "entries[0].date", "is in the future"),
        ({**good, "currency": "EU"}, "entries[0].currency", "Unknown currency 'EU'"),
        ({**good, "impressions": -1}, "entries[0].impressions", "Impressions -1 is negative"),
        ({**good, "clicks": True}, "entries[0].clicks", "Clicks 'true' is not a whole number."),
        ({**good, "amount": "1"}, "entries[0].amount", "Unknown field 'amount'"),
    ]
    for entry, field, message in cases:
        answer = client.post("/api/v1/spend", json={"entries": [entry]}, headers=auth)
        assert answer.status_code == 422, (entry, answer.text)
        error = answer.json()["error"]
        assert error["field"] == field and message in error["message"], error

    too_many = client.post("/api/v1/spend", json={"entries": [good] * 5001}, headers=auth)
    assert too_many.status_code == 422 and "at most 5,000 entries" in too_many.json()["error"]["message"]
    empty = client.post("/api/v1/spend", json={"entries": []}, headers=auth)
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "entries"
    shapeless = client.post("/api/v1/spend", json={"spend": []}, headers=auth)
    assert shapeless.status_code == 422 and shapeless.json()["error"]["field"] == "entries"
    # Nothing of the refused requests was stored.
    assert client.get("/api/v1/spend", headers=auth).json()["total"] == 0

    assert client.get("/api/v1/spend?cursor=nonsense", headers=auth).status_code == 422
    assert client.get("/api/v1/spend?since=2026-13-01", headers=auth).status_code == 422
    assert client.get("/api/v1/spend?limit=0", headers=auth).status_code == 422


def test_another_accounts_campaign_is_unknown(client: TestClient, db: Session) -> None:
    owner_a, auth_a = _shop(db)
    _, auth_b = _shop(db)
    secret = _campaign(db, owner_a, "Secret launch")
    client.post("/api/v1/spend", json={"entries": [_entry(DAY, secret, "9")]}, headers=auth_a)

    by_id = client.post("/api/v1/spend", json={"entries": [_entry(DAY, secret, "1")]}, headers=auth_b)
    by_name = client.post("/api/v1/spend", json={"entries": [_entry(DAY, "Secret launch", "1")]}, headers=auth_b)
    for answer in (by_id, by_name):
        assert answer.status_code == 422 and "Unknown campaign" in answer.json()["error"]["message"]
    assert client.get("/api/v1/spend", headers=auth_b).json() == {"spend": [], "total": 0, "next_cursor": None}
    assert client.get(f"/api/v1/spend?campaign={secret}", headers=auth_b).status_code == 404
    assert client.get("/api/v1/spend", headers=auth_a).json()["total"] == 1
