"""Stripe's deliveries are matched before the API's other routes (issue 19: route matching tried ~50 route regexes,
several times per delivery, before the webhook's)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient


def test_a_webhook_delivery_tries_no_other_api_route_first(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[str] = []
    matches = APIRoute.matches

    def recording(self: APIRoute, scope: Any) -> Any:
        tried.append(self.path)
        return matches(self, scope)

    monkeypatch.setattr(APIRoute, "matches", recording)
    answer = client.post("/api/v1/stripe/webhook/acc_unknown", content=b"{}", headers={"Stripe-Signature": "t=1"})
    assert answer.status_code == 404  # no such account: the webhook's own answer, so its route was the one matched
    assert answer.json()["error"]["code"] == "not_found"
    assert tried and set(tried) == {"/stripe/webhook/{account_id}"}, tried  # paths as their routers declare them
