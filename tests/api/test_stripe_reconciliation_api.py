"""``GET /api/v1/stripe/reconciliation`` through the whole ASGI app, Stripe being the recording API."""

from __future__ import annotations

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.models.base import utcnow
from app.services import rollups
from tests.utils.factories import make_owner
from tests.utils.payments import Shop, make_shop
from tests.utils.stripe_fakes import StripeRecorder, stripe_error
from tests.utils.stripe_history import History


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def test_the_report_lists_an_outside_charge_and_says_reconciled(client: TestClient, db: Session, shop: Shop) -> None:
    history = History(shop.recorder)
    outside = history.charge(6_600, days_ago=2)
    history.balance_transaction(outside["id"], 6_600, days_ago=2, category="charge", fee=220)
    secret = {"Authorization": f"Bearer {shop.secret_key}"}

    response = client.get("/api/v1/stripe/reconciliation?days=7", headers=secret)

    assert response.status_code == 200, response.text
    body = response.json()
    today = rollups.local_day(utcnow(), rollups.account_zone(db, shop.account.id or 0)).isoformat()
    assert body["reconciled"] is True and body["reconciled_through"] == today
    assert body["summary"] == f"Reconciled to the cent through {today}."
    assert [(i["kind"], i["stripe_id"], i["stripe_amount"]) for i in body["outside"]] == [
        ("outside", outside["id"], 6_600)
    ]
    assert body["fees"] == {"EUR": 220} and body["differences"] == [] and body["timezone"] == "Europe/Paris"


def test_errors_say_what_is_wrong(client: TestClient, db: Session, shop: Shop) -> None:
    secret = {"Authorization": f"Bearer {shop.secret_key}"}
    assert client.get("/api/v1/stripe/reconciliation").status_code == 401
    bad = client.get("/api/v1/stripe/reconciliation?days=500", headers=secret)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "days"
    shop.recorder.fail_next("/v1/balance_transactions", 403, stripe_error(403, "Having the 'rak_balance_read' …"))
    refused = client.get("/api/v1/stripe/reconciliation", headers=secret)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "stripe_permission_missing"
    assert "“Balance”" in refused.json()["error"]["message"]

    # Another account without Stripe: a 409 that says so, never this shop's figures.
    from app.models import KeyKind
    from app.services import keys

    _, _, other = make_owner(db)
    other_secret = keys.create_key(session=db, actor=other, kind=KeyKind.SECRET.value).plaintext
    db.commit()
    response = client.get("/api/v1/stripe/reconciliation", headers={"Authorization": f"Bearer {other_secret}"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "stripe_not_connected"
