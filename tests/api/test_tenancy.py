"""One account never sees another's data through the API.

Every route with an object id in its path must have a case in OBJECT_ROUTES: the second account's key must get
404 for the first account's object. The guard test fails when a new route is added without one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.services import keys
from tests.utils.factories import make_owner

# (method, path template) -> builder that creates the object in the first account and returns the path params.
OBJECT_ROUTES: dict[tuple[str, str], Callable[[Session, object], dict[str, str]]] = {}


def test_every_route_with_an_object_id_has_a_tenancy_case(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    with_ids = {
        (method.upper(), path) for path, operations in spec["paths"].items() if "{" in path for method in operations
    }
    missing = with_ids - set(OBJECT_ROUTES)
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
    response = client.request(method, template.format(**params), headers={"Authorization": f"Bearer {key_b}"})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
