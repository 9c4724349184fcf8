from __future__ import annotations

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.services import keys
from tests.utils.factories import make_owner

SHOP = "https://shop.example.com"


def _keys(db: Session) -> tuple[str, str, str]:
    account, _, owner = make_owner(db)
    secret = keys.create_key(session=db, actor=owner, kind="secret").plaintext
    publishable = keys.create_key(session=db, actor=owner, kind="publishable", origins=[SHOP]).plaintext
    db.commit()
    return account.public_id, secret, publishable


def test_health_reports_database_and_version(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["version"]


def test_unknown_api_path_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"
    assert "/api/v1/nothing-here" in response.json()["error"]["message"]


def test_openapi_and_offline_docs(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert "/api/v1/health" in spec["paths"] and "/api/v1/whoami" in spec["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "/api/docs/assets/swagger-ui-bundle.js" in docs.text
    asset = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


def test_secret_key_in_bearer_header(client: TestClient, db: Session) -> None:
    account_id, secret, _ = _keys(db)
    response = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert response.json() == {"account_id": account_id, "key_kind": "secret"}


@pytest.mark.parametrize(
    ("headers", "status", "fragment"),
    [
        ({}, 401, "Authorization: Bearer"),
        ({"Authorization": "Bearer ps_sk_wrongwrongwrongwrong"}, 401, "not valid"),
        ({"Authorization": "Basic abc"}, 401, "Authorization: Bearer"),
    ],
)
def test_missing_or_bad_secret_key(
    client: TestClient, db: Session, headers: dict[str, str], status: int, fragment: str
) -> None:
    response = client.get("/api/v1/whoami", headers=headers)
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]


def test_secret_key_in_query_string_is_rejected(client: TestClient, db: Session) -> None:
    _, secret, _ = _keys(db)
    response = client.get(f"/api/v1/whoami?key={secret}", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "key"
    assert "not accepted in the URL" in response.json()["error"]["message"]


def test_publishable_key_from_allowed_origin_as_cors_simple_request(client: TestClient, db: Session) -> None:
    account_id, _, publishable = _keys(db)
    response = client.post(
        f"/api/v1/whoami?key={publishable}", content="{}", headers={"Origin": SHOP, "Content-Type": "text/plain"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"account_id": account_id, "key_kind": "publishable"}
    assert response.headers["access-control-allow-origin"] == SHOP

    in_body = client.post(
        "/api/v1/whoami", content=f'{{"key": "{publishable}"}}', headers={"Origin": SHOP, "Content-Type": "text/plain"}
    )
    assert in_body.status_code == 200


def test_publishable_key_refused_from_other_origin_or_without_origin(client: TestClient, db: Session) -> None:
    _, _, publishable = _keys(db)
    evil = client.post(
        f"/api/v1/whoami?key={publishable}",
        content="{}",
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
    )
    assert evil.status_code == 403
    assert "not allowed" in evil.json()["error"]["message"]
    assert evil.headers.get("access-control-allow-origin") != "https://evil.example"
    server = client.post(f"/api/v1/whoami?key={publishable}", content="{}", headers={"Content-Type": "text/plain"})
    assert server.status_code == 403
    assert "secret key" in server.json()["error"]["message"]


def test_preflight_from_a_shop_is_refused_by_the_backoffice_cors_policy(client: TestClient) -> None:
    # Documented in TESTING.md: why browser endpoints must accept CORS-simple requests.
    response = client.options(
        "/api/v1/whoami",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 400


def test_backoffice_origin_is_allowed_with_credentials_and_others_are_not(client: TestClient) -> None:
    ok = client.get("/api/v1/health", headers={"Origin": "http://localhost:3000"})
    assert ok.headers["access-control-allow-origin"] == "http://localhost:3000"
    other = client.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("not json", "text/plain", 422, "validation_failed"),
        ('{"key": 5}', "text/plain", 422, "validation_failed"),
        ('{"unexpected": 1}', "application/json", 422, "validation_failed"),
        ("{}", "application/xml", 415, "unsupported_media_type"),
        ("{" + " " * 5000 + "}", "text/plain", 413, "payload_too_large"),
    ],
)
def test_bad_bodies_get_a_4xx_that_says_what_is_wrong(
    client: TestClient, body: str, content_type: str, status: int, code: str
) -> None:
    response = client.post("/api/v1/whoami", content=body, headers={"Origin": SHOP, "Content-Type": content_type})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_revoked_key_is_refused(client: TestClient, db: Session) -> None:
    _account, _, owner = make_owner(db)
    created = keys.create_key(session=db, actor=owner, kind="secret")
    keys.revoke_key(session=db, actor=owner, key_public_id=created.row.public_id)
    db.commit()
    response = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {created.plaintext}"})
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]
