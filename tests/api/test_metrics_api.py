"""``GET /api/v1/metrics``: a secret key in a header, parameters checked with clear 422s, the same numbers as the
metrics service (totals, rows, comparison and deltas per currency), public ids for campaigns and versions, and
tenancy. Data: the metrics service tests' ``World`` (known answers for 2026-03-29..31 in Europe/Paris)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.services import keys, metrics
from app.services.metrics import Compare, Dimension, MetricsQuery, figure_dict
from tests.utils.factories import make_owner
from tests.utils.world import World

URL = "/api/v1/metrics"
DST_WEEKEND = {"range": "custom", "start": "2026-03-29", "end": "2026-03-31"}


@pytest.fixture
def auth(db: Session, world: World) -> dict[str, str]:
    secret = keys.create_key(session=db, actor=world.actor, kind="secret").plaintext
    db.commit()
    return {"Authorization": f"Bearer {secret}"}


def _get(client: TestClient, auth: dict[str, str], **params: Any) -> Any:
    response = client.get(URL, params={**DST_WEEKEND, **params}, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_secret_key_in_a_header_only(client: TestClient, db: Session, world: World) -> None:
    assert client.get(URL).status_code == 401
    publishable = keys.create_key(session=db, actor=world.actor, kind="publishable", origins=["https://s.example"])
    secret = keys.create_key(session=db, actor=world.actor, kind="secret")
    db.commit()
    refused = client.get(URL, headers={"Authorization": f"Bearer {publishable.plaintext}"})
    assert refused.status_code == 403
    in_url = client.get(URL, params={"api_key": secret.plaintext})
    assert in_url.status_code == 422 and in_url.json()["error"]["field"] == "api_key"


def test_totals_equal_the_service_with_deltas(client: TestClient, db: Session, world: World, auth: Any) -> None:
    body = _get(client, auth)
    assert body["period"] == {"start": "2026-03-29", "end": "2026-03-31", "days": 3}
    assert body["comparison"] == {"start": "2026-03-26", "end": "2026-03-28", "days": 3}
    assert (body["model"], body["lookback_days"], body["source"], body["dimension"]) == ("last_touch", 28, "rollup",
                                                                                          None)  # fmt: skip
    assert body["currencies"] == ["EUR", "USD"] and body["rows"][0]["key"] == "total"
    report = metrics.metrics(session=db, account_id=world.account_id,
                             query=MetricsQuery(start=date(2026, 3, 29), end=date(2026, 3, 31)))  # fmt: skip
    total = body["total"]
    assert total["figures"] == figure_dict(report.total.figures)
    assert total["previous"] == figure_dict(report.total.previous)
    eur, usd = total["figures"]["money"]["EUR"], total["figures"]["money"]["USD"]
    assert (eur["net"], eur["gross"], eur["refunds"], eur["spend"], usd["net"]) == (12_500, 13_000, 2_000, 7_000, 2_500)
    assert (total["figures"]["sessions"], total["figures"]["visitors"], total["figures"]["orders"]) == (5, 4, 3)
    assert total["deltas"]["sessions"] == {"absolute": 4, "percent": 400.0}
    assert total["deltas"]["money"]["EUR"]["net"] == {"absolute": 12_500, "percent": None}  # no base: "n/a"
    assert total["deltas"]["money"]["USD"]["roas"] == {"absolute": None, "percent": None}

    none = _get(client, auth, compare="none")
    assert none["comparison"] is None and none["total"]["previous"] is None and none["total"]["deltas"] is None


def test_rows_by_dimension_use_public_ids(client: TestClient, db: Session, world: World, auth: Any) -> None:
    rows = {r["key"]: r for r in _get(client, auth, dimension="campaign")["rows"]}
    assert set(rows) == {world.a.public_id, world.b.public_id, "direct"}
    assert rows[world.b.public_id]["label"] == "Search"
    assert rows[world.b.public_id]["figures"]["money"]["EUR"]["net"] == 8_000
    versions = {r["key"] for r in _get(client, auth, dimension="version", campaign=world.a.public_id)["rows"]}
    assert versions == {world.a1.public_id, world.a2.public_id}
    days = _get(client, auth, dimension="day")["rows"]
    assert [d["key"] for d in days] == ["2026-03-29", "2026-03-30", "2026-03-31"]
    groups = {r["key"]: r["label"] for r in _get(client, auth, dimension="channel_group")["rows"]}
    assert groups == {"paid_social": "Paid social", "paid_search": "Paid search", "direct": "Direct / unmatched"}
    search = _get(client, auth, dimension="channel", channel_group="paid_search")["rows"]
    assert [r["key"] for r in search] == ["google"]  # dimension=channel is still the platform
    live = _get(client, auth, dimension="channel", lookback_days=7, model="linear", channel="google")
    assert live["source"] == "raw" and live["model"] == "linear" and [r["key"] for r in live["rows"]] == ["google"]
    raw = metrics.metrics(session=db, account_id=world.account_id, query=MetricsQuery(
        start=date(2026, 3, 29), end=date(2026, 3, 31), dimension=Dimension.CHANNEL, model="linear",
        lookback_days=7, compare=Compare.PREVIOUS, channel="google"))  # fmt: skip
    assert live["total"]["figures"] == figure_dict(raw.total.figures)
    products = _get(client, auth, product="prod_sock")
    assert products["total"]["figures"]["money"]["EUR"]["gross"] == figure_dict(
        metrics.metrics(session=db, account_id=world.account_id, query=MetricsQuery(
            start=date(2026, 3, 29), end=date(2026, 3, 31), product="prod_sock")).total.figures
    )["money"]["EUR"]["gross"]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"range": "last_year"}, "range", "range must be one of"),
        ({"range": "custom", "start": "2026-03-29", "end": ""}, "start", "needs both a start and an end"),
        ({"range": "custom", "start": "2026-03-31", "end": "2026-03-01"}, "end", "before the start"),
        ({"range": "custom", "start": "2024-01-01", "end": "2026-03-01"}, "start", "at most 400 days"),
        ({"range": "last_7_days", "start": "2026-03-01"}, "range", "need range=custom"),
        ({"start": "yesterday"}, "start", "valid date"),
        ({"compare": "week"}, "compare", "compare must be one of previous, year, none"),
        ({"dimension": "country"}, "dimension", "dimension must be one of"),
        ({"model": "data_driven"}, "model", "model must be one of"),
        ({"lookback_days": "30"}, "lookback_days", "lookback must be one of 1, 7, 28, 90"),
        ({"lookback_days": "many"}, "lookback_days", "valid integer"),
    ],
)
def test_bad_parameters_are_422_with_the_field(
    client: TestClient, auth: dict[str, str], params: dict[str, str], field: str, words: str
) -> None:
    query = {**DST_WEEKEND, **params} if params.get("range") == "custom" or "range" not in params else params
    response = client.get(URL, params={k: v for k, v in query.items() if v != ""}, headers=auth)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field and words in error["message"], error


def test_an_unknown_campaign_is_404(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get(URL, params={"campaign": "cmp_nope"}, headers=auth)
    assert response.status_code == 404 and response.json()["error"]["field"] == "campaign"


def test_another_accounts_key_sees_zeros(client: TestClient, db: Session, world: World) -> None:
    _, _, stranger = make_owner(db)
    secret = keys.create_key(session=db, actor=stranger, kind="secret").plaintext
    db.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    body = _get(client, headers, dimension="campaign")
    assert body["currencies"] == [] and body["rows"] == []
    assert body["total"]["figures"]["sessions"] == 0 and body["total"]["figures"]["money"] == {}
    assert client.get(URL, params={"campaign": world.a.public_id}, headers=headers).status_code == 404
