"""``GET /api/v1/metrics/ltv``, ``/metrics/cohorts`` and ``/metrics/blended``: the same figures as the services, public
ids for campaigns, clear 422s, and tenancy. Data: the metrics tests' ``World`` with its customer rollup."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.services import keys, lifetime, metrics
from app.services.metrics import Compare, Dimension, LtvQuery, MetricsQuery
from tests.utils.factories import make_owner
from tests.utils.world import World

RANGE = {"start": "2026-01-01", "end": "2026-03-31"}


@pytest.fixture
def auth(db: Session, world: World) -> dict[str, str]:
    lifetime.rebuild(db, world.account_id)
    secret = keys.create_key(session=db, actor=world.actor, kind="secret").plaintext
    db.commit()
    return {"Authorization": f"Bearer {secret}"}


def _get(client: TestClient, auth: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(f"/api/v1/metrics/{path}", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def test_ltv_equals_the_service_with_public_ids(client: TestClient, db: Session, world: World, auth: Any) -> None:
    body = _get(client, auth, "ltv", **RANGE)
    assert (body["dimension"], body["source"], body["model"], body["horizons"]) == (
        "campaign", "rollup", "last_touch", [30, 60, 90, 180, 365])  # fmt: skip
    query = LtvQuery(start=date(2026, 1, 1), end=date(2026, 3, 31))
    report = metrics.lifetime_value(session=db, account_id=world.account_id, query=query)
    assert body["total"]["figures"] == metrics.ltv_dict(report.total.figures)
    rows = {r["key"]: r for r in body["rows"]}
    assert set(rows) == {world.a.public_id, world.b.public_id, "direct"}
    search = rows[world.b.public_id]["figures"]
    assert search["customers"] == 1 and search["money"]["EUR"]["ltv"]["90"] == 11_000  # 100 − 20 refunded + 30
    live = _get(client, auth, "ltv", model="linear", dimension="version", **RANGE)
    assert live["source"] == "live" and {r["key"] for r in live["rows"]} >= {world.a2.public_id}


def test_cohorts_and_blended_equal_the_services(client: TestClient, db: Session, world: World, auth: Any) -> None:
    body = _get(client, auth, "cohorts", campaign=world.a.public_id, **RANGE)
    grid = metrics.cohorts(session=db, account_id=world.account_id, start=date(2026, 1, 1), end=date(2026, 3, 31),
                           campaign=world.a.public_id)  # fmt: skip
    assert body["rows"] == metrics.cohort_dict(grid) and body["months"] == list(range(1, 13))
    assert [r["month"] for r in body["rows"]] == ["2026-02-01"]  # Bob's subscription; Ann came through Search
    blended = _get(client, auth, "blended", range="custom", start="2026-03-29", end="2026-03-31")
    query = MetricsQuery(start=date(2026, 3, 29), end=date(2026, 3, 31), dimension=Dimension.CAMPAIGN,
                         compare=Compare.NONE)  # fmt: skip
    report = metrics.metrics(session=db, account_id=world.account_id, query=query)
    assert blended["currencies"] == [asdict(b) for b in metrics.blended(report)]
    eur = blended["currencies"][0]
    assert eur["mer"] == pytest.approx(12_500 / 7_000) and eur["blended_cpa"] == pytest.approx(7_000 / 2)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("ltv", {"dimension": "day"}, "dimension"),
        ("ltv", {"model": "data_driven"}, "model"),
        ("ltv", {"start": "2025-01-01", "end": "2026-03-31"}, "start"),  # more than 400 days
        ("ltv", {"campaign": "cmp_nope"}, "campaign"),
        ("cohorts", {"lookback_days": 3}, "lookback_days"),
        ("blended", {"start": "2026-03-01"}, "range"),
    ],
)
def test_bad_input_is_a_422_that_says_what(
    client: TestClient, auth: Any, path: str, params: dict[str, Any], field: str
) -> None:
    response = client.get(f"/api/v1/metrics/{path}", params=params, headers=auth)
    assert response.status_code in {404, 422}, response.text
    assert response.json()["error"]["field"] == field


def test_another_account_sees_none_of_it(client: TestClient, db: Session, world: World, auth: Any) -> None:
    _other, _, actor = make_owner(db)
    secret = keys.create_key(session=db, actor=actor, kind="secret").plaintext
    db.commit()
    body = _get(client, {"Authorization": f"Bearer {secret}"}, "ltv", **RANGE)
    assert body["rows"] == [] and body["total"]["figures"]["customers"] == 0
    assert _get(client, {"Authorization": f"Bearer {secret}"}, "cohorts", **RANGE)["rows"] == []
