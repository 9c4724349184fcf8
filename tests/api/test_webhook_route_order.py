"""Stripe's deliveries go straight to their endpoint (app/api/middleware.py, ``IngestFastPath``): no route matching
(issue 19: it tried ~50 route regexes, several times per delivery, before the webhook's), no FastAPI middleware stack;
what those layers did for a delivery still happens."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from app import runtime
from app.api.endpoints import stripe_webhook


def test_a_webhook_delivery_tries_no_api_route(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[str] = []
    matches = APIRoute.matches

    def recording(self: APIRoute, scope: Any) -> Any:
        tried.append(self.path)
        return matches(self, scope)

    monkeypatch.setattr(APIRoute, "matches", recording)
    answer = client.post("/api/v1/stripe/webhook/acc_unknown", content=b"{}", headers={"Stripe-Signature": "t=1"})
    assert answer.status_code == 404  # no such account: the webhook's own answer
    assert answer.json()["error"]["code"] == "not_found" and "acc_unknown" not in tried
    assert tried == [], tried
    assert answer.headers["x-request-id"] and answer.headers["x-content-type-options"] == "nosniff"


def test_an_unexpected_failure_of_a_delivery_is_a_json_500(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.current().api_usage.discard()

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(stripe_webhook.stripe_webhooks, "submit_cached_webhook", broken)
    answer = client.post("/api/v1/stripe/webhook/acc_x", content=b"{}", headers={"Stripe-Signature": "t=1"})
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error" and "boom" not in answer.text
    assert answer.headers["x-request-id"] and answer.headers["x-content-type-options"] == "nosniff"
    runtime.current().api_usage.discard()


def test_other_methods_and_paths_of_the_webhook_take_the_usual_way(client: TestClient) -> None:
    listed = client.get("/api/v1/stripe/webhook/acc_x")
    assert listed.status_code == 405 and listed.json()["error"]["code"]
    deeper = client.post("/api/v1/stripe/webhook/acc_x/more", content=b"{}")
    assert deeper.status_code == 404 and deeper.json()["error"]["code"] == "not_found"
    bare = client.post("/api/v1/stripe/webhook/", content=b"{}")
    assert bare.status_code in (307, 404, 405) and (bare.status_code == 307 or "error" in bare.json())
