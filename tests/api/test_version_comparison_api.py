"""``GET /api/v1/metrics/versions``: a campaign's versions compared with confidence, the same numbers as the service
(``version_report``), any two versions chosen, clear 422/404s naming the field, and tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.services import keys, metrics
from tests.utils.factories import make_owner
from tests.utils.world import World

URL = "/api/v1/metrics/versions"


@pytest.fixture
def auth(db: Session, world: World) -> dict[str, str]:
    secret = keys.create_key(session=db, actor=world.actor, kind="secret").plaintext
    db.commit()
    return {"Authorization": f"Bearer {secret}"}


def _get(client: TestClient, auth: dict[str, str], **params: Any) -> Any:
    response = client.get(URL, params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_figures_equal_the_service(client: TestClient, db: Session, world: World, auth: Any) -> None:
    body = _get(client, auth, campaign=world.a.public_id)
    report = metrics.version_report(session=db, account_id=world.account_id, campaign_public_id=world.a.public_id)
    assert body["threshold"] == 0.95 and body["window_days"] == 68 and "one after another" in body["seasonality_note"]
    assert [v["version"] for v in body["versions"]] == [world.a1.public_id, world.a2.public_id]
    assert body["versions"][1]["figures"]["sessions"] == 3 and body["versions"][1]["figures"]["converted_sessions"] == 2
    [pair] = body["pairs"]
    expected = metrics.pair_dict(report.pairs[0])
    assert pair["a"] == world.a1.public_id and pair["b"] == world.a2.public_id
    assert pair["verdict"] == "not_enough_data" and pair["winner"] is None
    assert pair["summary"] == expected["summary"]
    rate = pair["conversion_rate"]
    assert (rate["sessions_a"], rate["converted_a"], rate["sessions_b"], rate["converted_b"]) == (2, 0, 3, 2)
    assert rate["p_b_better"] == pytest.approx(expected["conversion_rate"]["p_b_better"])
    assert rate["p_b_better"] == pytest.approx(metrics.confidence.probability_b_beats_a(0, 2, 2, 3))
    assert rate["difference_interval"] == pytest.approx(expected["conversion_rate"]["difference_interval"])
    eur = pair["net_revenue_per_session"]["EUR"]
    assert eur["enough_sessions"] is False and eur["resamples"] > 0
    assert eur == expected["net_revenue_per_session"]["EUR"]  # fixed seed: the same every time
    assert set(pair["shop"]) == {"conversion_rate", "net_revenue_per_session"}
    assert body["chosen"] is None


def test_any_two_versions(client: TestClient, world: World, auth: Any) -> None:
    body = _get(client, auth, campaign=world.a.public_id, a="v2", b=world.a1.public_id)
    assert (body["chosen"]["a_number"], body["chosen"]["b_number"]) == (2, 1)
    assert body["chosen"]["conversion_rate"]["p_b_better"] == pytest.approx(
        1 - body["pairs"][0]["conversion_rate"]["p_b_better"], abs=1e-6
    )


@pytest.mark.parametrize(
    ("params", "status", "field", "words"),
    [
        ({}, 422, "campaign", ""),
        ({"campaign": "cmp_nope"}, 404, "campaign", "No campaign"),
        ({"a": "v1"}, 422, "b", "Name two versions"),
        ({"a": "v1", "b": "v9"}, 404, "b", "No version 'v9'"),
        ({"a": "v1", "b": "1"}, 422, "b", "two different"),
        ({"days": "0"}, 422, "days", ""),
        ({"model": "best"}, 422, "model", ""),
    ],
)
def test_bad_parameters_name_the_field(
    client: TestClient, world: World, auth: Any, params: dict[str, str], status: int, field: str, words: str
) -> None:
    query = {"campaign": world.a.public_id, **params} if params.get("campaign") != "" else params
    if not params:
        query = {}
    response = client.get(URL, params=query, headers=auth)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field and words in error["message"], error


def test_another_accounts_campaign_is_not_found(client: TestClient, db: Session, world: World) -> None:
    _, _, stranger = make_owner(db)
    secret = keys.create_key(session=db, actor=stranger, kind="secret").plaintext
    db.commit()
    response = client.get(URL, params={"campaign": world.a.public_id}, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 404
    assert client.get(URL, params={"campaign": world.a.public_id}).status_code == 401
