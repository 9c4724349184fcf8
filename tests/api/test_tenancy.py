"""One account never sees another's data through the API.

Every route with an object id in its path must have a case in OBJECT_ROUTES: the second account's key must get
404 for the first account's object. The guard test fails when a new route is added without one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.models import ConversionDelivery, Order
from app.models.base import new_public_id, utcnow
from app.services import campaigns, keys
from app.services.permissions import Actor
from tests.utils.factories import make_owner


def _campaign(db: Session, owner: Actor) -> dict[str, str]:
    row = campaigns.create_campaign(session=db, actor=owner, name="Theirs", channel="meta")
    campaigns.publish_draft(session=db, actor=owner, campaign_public_id=row.public_id)
    db.commit()
    return {"campaign_id": row.public_id}


def _order(db: Session, owner: Actor) -> dict[str, str]:
    order = Order(
        public_id=new_public_id("ord"),
        account_id=owner.account_id,
        request_key=new_public_id("req", 40),
        mode="payment",
        currency="EUR",
        event_id="e1",
        success_url="https://shop.example.com/thanks",
        cancel_url="https://shop.example.com/cart",
    )
    db.add(order)
    db.commit()
    return {"order_id": order.public_id}


def _delivery(db: Session, owner: Actor) -> dict[str, str]:
    delivery = ConversionDelivery(
        public_id=new_public_id("cvd"),
        account_id=owner.account_id,
        provider="meta",
        kind="purchase",
        dedup_key=new_public_id("dd", 30),
        conversion={"amount": 100, "currency": "EUR", "event_id": "e1", "kind": "purchase"},
        event_time=utcnow(),
        status="dead",
    )
    db.add(delivery)
    db.commit()
    return {"delivery_id": delivery.public_id}


# Routes whose path id is not checked against an API key, and why.
NOT_KEY_ROUTES = {
    # Authenticated by Stripe's signature with that account's own webhook secret (tests/api/test_stripe_api.py).
    ("POST", "/api/v1/stripe/webhook/{account_id}"),
}

# (method, path template) -> builder that creates the object in the first account and returns the path params.
OBJECT_ROUTES: dict[tuple[str, str], Callable[[Session, Actor], dict[str, str]]] = {
    ("GET", "/api/v1/campaigns/{campaign_id}"): _campaign,
    ("GET", "/api/v1/campaigns/{campaign_id}/versions"): _campaign,
    ("POST", "/api/v1/campaigns/{campaign_id}/versions"): _campaign,
    ("GET", "/api/v1/orders/{order_id}"): _order,
    ("GET", "/api/v1/conversions/{delivery_id}"): _delivery,
    ("POST", "/api/v1/conversions/{delivery_id}/replay"): _delivery,
}


def test_every_route_with_an_object_id_has_a_tenancy_case(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    with_ids = {
        (method.upper(), path) for path, operations in spec["paths"].items() if "{" in path for method in operations
    }
    missing = with_ids - set(OBJECT_ROUTES) - NOT_KEY_ROUTES
    assert not missing, f"add a tenancy case to OBJECT_ROUTES for {sorted(missing)}"


@pytest.mark.parametrize(("method", "template"), sorted(OBJECT_ROUTES))
def test_second_account_gets_404_for_first_accounts_objects(
    client: TestClient, db: Session, method: str, template: str
) -> None:
    _, _, owner_a = make_owner(db)
    _, _, owner_b = make_owner(db)
    key_b = keys.create_key(session=db, actor=owner_b, kind="secret").plaintext
    db.commit()
    params = OBJECT_ROUTES[(method, template)](db, owner_a)
    body = {"config": {}} if method == "POST" else None
    response = client.request(
        method, template.format(**params), headers={"Authorization": f"Bearer {key_b}"}, json=body
    )
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
