"""The assistant's ``customer_value`` tool: the lifetime value service's figures (never its own arithmetic), money
formatted, what was asked repeated (with "computed live" for other models), cohorts on request, errors returned, and
the suggested question that needs it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session

from app.services import assistant, assistant_tools, lifetime, metrics
from app.services.metrics import Dimension, LtvQuery
from tests.utils.shop_history import Shop, shop


@pytest.fixture
def world(db: Session) -> Shop:
    w = shop(db)
    lifetime.rebuild(db, w.account_id)
    return w


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "customers": row["customers"],
        "customers_by_horizon": row["customers_by_horizon"],
        "money": {
            code: {k: v for k, v in money.items() if not k.endswith("_formatted")}
            for code, money in row["money"].items()
        },
    }


@pytest.mark.parametrize("dimension", [Dimension.CAMPAIGN, Dimension.VERSION, Dimension.CHANNEL, Dimension.MONTH])
def test_customer_value_returns_the_services_figures(world: Shop, dimension: Dimension) -> None:
    result = assistant_tools.customer_value(world.db, world.actor, dimension=dimension.value)
    today = metrics.account_today(world.db, world.account_id)
    query = LtvQuery(start=today - timedelta(days=364), end=today, dimension=dimension)
    report = metrics.lifetime_value(session=world.db, account_id=world.account_id, query=query)
    keys = metrics.public_ids(world.db, world.account_id, dimension)
    assert _plain(result["total"]) == metrics.ltv_dict(report.total.figures)
    assert [r["key"] for r in result["rows"]] == [keys.get(r.key, r.key) for r in report.rows]
    for got, row in zip(result["rows"], report.rows, strict=True):
        assert _plain(got) == metrics.ltv_dict(row.figures)
    assert result["query"]["source"] == "rollup" and result["query"]["dimension"] == dimension.value


def test_customer_value_formats_money_echoes_and_adds_cohorts(world: Shop) -> None:
    result = assistant_tools.customer_value(world.db, world.actor, model="linear", cohorts=True,
                                            campaign=world.b.public_id)  # fmt: skip
    assert result["query"]["source"] == "live" and result["query"]["filters"]["campaign_name"] == "Search"
    [row] = result["rows"]
    eur = row["money"]["EUR"]
    assert eur["net_to_date"] == 8_000 and eur["net_to_date_formatted"] == "€80.00"  # 100.00 paid, 20.00 refunded
    assert "cohorts" in result and result["cohorts"][0]["month"] == "2026-03-01"
    line = assistant_tools.summary("customer_value", {}, result)
    assert line.startswith("lifetime value by campaign") and "linear" in line and "computed live" in line
    bad = assistant_tools.customer_value(world.db, world.actor, dimension="day")
    assert "error" in bad and bad["field"] == "dimension"
    unknown = assistant_tools.customer_value(world.db, world.actor, account_id=1)
    assert "error" in unknown and unknown["field"] == "account_id"


def test_the_suggested_question_and_the_prompt_name_the_tool() -> None:
    assert "Which campaign brings the customers worth most after 90 days?" in assistant.SUGGESTED_QUESTIONS
    assert "customer_value" in assistant.SYSTEM_PROMPT
