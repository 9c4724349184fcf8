"""``GET /api/v1/metrics?dimension=ad_set|ad``: rows by the platforms' ad sets and ads with their synced names and the
"none" bucket (tests/utils/ad_shop.py, answers worked out in tests/services/test_metrics_ads.py), the campaign filter,
clear 422s, and one account never seeing another's ad sets."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.services import keys
from tests.utils.ad_shop import AdShop, ad_shop

URL = "/api/v1/metrics"
RANGE = {"range": "custom", "start": "2026-04-01", "end": "2026-04-02", "compare": "none"}


@pytest.fixture
def shop(db: Session) -> AdShop:
    return ad_shop(db)


def _auth(db: Session, shop: AdShop) -> dict[str, str]:
    secret = keys.create_key(session=db, actor=shop.actor, kind="secret").plaintext
    db.commit()
    return {"Authorization": f"Bearer {secret}"}


def _rows(body: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        r["key"]: (r["label"], r["figures"]["sessions"], r["figures"]["orders"],
                   {c: (m["net"], m["spend"]) for c, m in r["figures"]["money"].items()})
        for r in body["rows"]
    }  # fmt: skip


def test_rows_by_ad_set_and_by_ad(client: TestClient, db: Session, shop: AdShop) -> None:
    auth = _auth(db, shop)
    response = client.get(URL, params={**RANGE, "dimension": "ad_set"}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dimension"] == "ad_set" and body["currencies"] == ["EUR", "USD"]
    assert _rows(body) == {
        "1202": ("Broad · Meta · EUR", 2, 1.0, {"EUR": (10_000, 6_000)}),
        "none": ("No ad set", 4, 3.0, {"EUR": (5_000, 700), "USD": (1_000, 0)}),
        "9999": ("9999 · Meta · EUR", 1, 1.0, {"EUR": (5_000, 0)}),
        "1302": ("Lookalike · Meta · EUR", 1, 0.0, {"EUR": (0, 2_000)}),
    }
    assert [r["key"] for r in body["rows"]] == ["1202", "none", "9999", "1302"]
    assert body["rows"][0]["figures"]["money"]["EUR"]["roas"] == pytest.approx(10_000 / 6_000)
    by_ad = client.get(URL, params={**RANGE, "dimension": "ad", "model": "linear"}, headers=auth).json()
    assert _rows(by_ad)["1303"] == ("Carousel · Meta · EUR", 1, 0.5, {"EUR": (5_000, 1_200)})
    assert _rows(by_ad)["none"][0] == "No ad"
    only_a = client.get(URL, params={**RANGE, "dimension": "ad_set", "campaign": shop.a.public_id}, headers=auth)
    assert _rows(only_a.json())["none"] == ("No ad set", 2, 1.0, {"EUR": (2_000, 0)})


def test_bad_values_get_a_clear_422(client: TestClient, db: Session, shop: AdShop) -> None:
    auth = _auth(db, shop)
    for params, field in (
        ({"dimension": "adset"}, "dimension"),
        ({"dimension": "ad_set", "product": "prod_shoe"}, "product"),
    ):
        response = client.get(URL, params={**RANGE, **params}, headers=auth)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["field"] == field
        assert "ad_set" in error["message"] or "ad set" in error["message"]
    missing = client.get(URL, params={**RANGE, "dimension": "ad_set", "campaign": "cmp_nope"}, headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "campaign"


def test_another_account_sees_none_of_these_ad_sets(client: TestClient, db: Session, shop: AdShop) -> None:
    other = AdShop(db)  # its own Meta connection and names, and no sessions or orders
    auth = _auth(db, other)
    body = client.get(URL, params={**RANGE, "dimension": "ad_set"}, headers=auth).json()
    # Only its own spend: the synced ad sets' and its CSV spend; not a session or an order of the first shop.
    assert body["total"]["figures"]["sessions"] == 0 and body["total"]["figures"]["orders"] == 0
    assert {k: v[3] for k, v in _rows(body).items()} == {
        "1202": {"EUR": (0, 6_000)}, "1302": {"EUR": (0, 2_000)}, "none": {"EUR": (0, 700)},
    }  # fmt: skip
    refused = client.get(URL, params={**RANGE, "dimension": "ad_set", "campaign": shop.a.public_id}, headers=auth)
    assert refused.status_code == 404
