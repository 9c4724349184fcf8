"""The assistant's tools against the services they wrap: the same figures (never their own arithmetic), what was
asked repeated next to them, money formatted, bad arguments returned as errors, only the actor's account, and
nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session

from app.services import alerts, assistant_tools, campaigns, conversions, metrics, orders
from app.services.metrics import Compare, Dimension, MetricsQuery
from tests.utils.shop_history import CUSTOM, END, START, Shop, shop
from tests.utils.statements import recorded_statements
from tests.utils.world import World


@pytest.fixture
def world(db: Session) -> Shop:
    return shop(db)


def _unformatted(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        **figures,
        "money": {
            code: {k: v for k, v in money.items() if not k.endswith("_formatted")}
            for code, money in figures["money"].items()
        },
    }


def _report(w: World, **options: Any) -> metrics.MetricsReport:
    query = MetricsQuery(start=START, end=END, **options)
    return metrics.metrics(session=w.db, account_id=w.account_id, query=query)


@pytest.mark.parametrize("dimension", [None, *Dimension])
def test_get_metrics_returns_the_metrics_services_figures(world: Shop, dimension: Dimension | None) -> None:
    arguments = {**CUSTOM, **({"dimension": dimension.value} if dimension else {}), "limit": 100}
    result = assistant_tools.get_metrics(world.db, world.actor, **arguments)
    report = _report(world, dimension=dimension)
    keys = metrics.public_ids(world.db, world.account_id, dimension)
    assert _unformatted(result["total"]["figures"]) == metrics.figure_dict(report.total.figures)
    if dimension is None:
        assert result["rows"] == []
        return
    assert [r["key"] for r in result["rows"]] == [keys.get(r.key, r.key) for r in report.rows]
    for got, row in zip(result["rows"], report.rows, strict=True):
        assert got["label"] == row.label
        assert _unformatted(got["figures"]) == metrics.figure_dict(row.figures)
    assert result["rows_total"] == len(report.rows)


def test_get_metrics_says_what_it_computed_with_the_comparison(world: Shop) -> None:
    result = assistant_tools.get_metrics(world.db, world.actor, dimension="campaign", model="linear", **CUSTOM)
    assert result["query"] == {
        "preset": "custom",
        "start": "2026-03-29",
        "end": "2026-03-31",
        "days": 3,
        "comparison": {"start": "2026-03-26", "end": "2026-03-28", "days": 3},
        "model": "linear",
        "lookback_days": 28,
        "timezone": "Europe/Paris",
        "dimension": "campaign",
        "compare": "previous",
        "filters": {},
    }
    report = _report(world, dimension=Dimension.CAMPAIGN, model="linear")
    total, previous = report.total.figures, report.total.previous
    assert previous is not None
    net = result["total"]["change"]["money"]["EUR"]["net"]
    assert net["previous"] == previous.money["EUR"].net
    assert net["absolute"] == total.money["EUR"].net - previous.money["EUR"].net
    assert result["total"]["change"]["sessions"]["previous"] == previous.sessions
    eur = result["total"]["figures"]["money"]["EUR"]
    assert eur["net"] == total.money["EUR"].net and eur["net_formatted"] == "€110.00"  # 100 + 30 − 20
    assert eur["spend_formatted"] == "€70.00" and result["currencies"] == ["EUR", "USD"]
    usd = result["total"]["figures"]["money"]["USD"]  # an order in dollars, no spend in dollars
    assert (usd["cpa"], usd["cpa_formatted"], usd["roas"]) == (None, "n/a", None)
    # Rows are keyed by public ids, never internal integers.
    assert {r["key"] for r in result["rows"]} <= {world.a.public_id, world.b.public_id, "direct"}
    summary = assistant_tools.summary("get_metrics", {}, result)
    assert summary == "metrics by campaign, 2026-03-29 – 2026-03-31, linear, vs 2026-03-26 – 2026-03-28"


def test_get_metrics_filters_and_presets(world: Shop) -> None:
    result = assistant_tools.get_metrics(world.db, world.actor, campaign=world.a.public_id, compare="none", **CUSTOM)
    report = _report(world, campaign=world.a.public_id, compare=Compare.NONE)
    assert _unformatted(result["total"]["figures"]) == metrics.figure_dict(report.total.figures)
    assert result["query"]["filters"] == {"campaign": world.a.public_id, "campaign_name": "Spring sale"}
    assert "change" not in result["total"] and result["query"]["comparison"] is None
    assert assistant_tools.summary("get_metrics", {}, result).endswith("campaign Spring sale")
    today = metrics.account_today(world.db, world.account_id)
    month = assistant_tools.get_metrics(world.db, world.actor, preset="month_to_date")
    assert (month["query"]["start"], month["query"]["end"]) == (today.replace(day=1).isoformat(), today.isoformat())
    assert assistant_tools.get_metrics(world.db, world.actor)["query"]["days"] == 28  # the default: last 28 days


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"dimension": "bogus"}, "dimension"),
        ({"preset": "last_7_days", **CUSTOM}, "either a preset or start and end"),
        ({"start": "2026-03-31", "end": "2026-03-01"}, "before the start"),
        ({"start": "2026-03-31"}, "needs both a start and an end"),
        ({"account_id": 1}, "account_id"),
        ({"lookback_days": 5}, "lookback"),
        ({"model": "magic"}, "model"),
        ({"campaign": "cmp_doesnotexist"}, "No campaign with this id"),
        ({"start": "yesterday", "end": "today"}, "start"),
    ],
)
def test_bad_arguments_come_back_as_errors(world: Shop, arguments: dict[str, Any], message: str) -> None:
    result = assistant_tools.get_metrics(world.db, world.actor, **arguments)
    assert set(result) <= {"error", "field"} and message in result["error"]
    assert assistant_tools.summary("get_metrics", arguments, result).startswith("get metrics: error — ")


def test_unknown_tools_and_non_object_arguments(world: Shop) -> None:
    assert (
        "no tool 'delete_campaign'" in assistant_tools.run_tool(world.db, world.actor, "delete_campaign", {})["error"]
    )
    assert "JSON object" in assistant_tools.run_tool(world.db, world.actor, "get_metrics", [1])["error"]  # type: ignore[arg-type]


def test_list_campaigns_with_versions_and_their_diffs(world: Shop) -> None:
    result = assistant_tools.list_campaigns(world.db, world.actor)
    page = campaigns.list_campaigns(session=world.db, account_id=world.account_id)
    assert [c["campaign_id"] for c in result["campaigns"]] == [r.public_id for r in page.rows]
    assert result["campaigns_total"] == page.total == 2
    spring = next(c for c in result["campaigns"] if c["campaign_id"] == world.a.public_id)
    assert (spring["name"], spring["channel"], spring["status"], spring["live_version"]) == (
        "Spring sale",
        "meta",
        "active",
        2,
    )
    v2, v1 = spring["versions"]
    assert (v2["number"], v2["change_note"], v2["compared_with"]) == (2, "New creative", "v1")
    expected = campaigns.diff_versions(
        session=world.db, account_id=world.account_id, campaign_public_id=world.a.public_id, from_number=1, to_number=2
    )
    assert v2["changes"] == [{"field": c.path, "before": c.before, "after": c.after} for c in expected]
    assert {"field": "Notes", "before": "Launch", "after": "Spring creative, 20 % off"} in v2["changes"]
    assert (
        v1["compared_with"].startswith("nothing")
        and {"field": "Notes", "before": "—", "after": "Launch"} in v1["changes"]
    )
    assert v2["published_at"] == "2026-03-10T09:00+01:00"  # the account's timezone
    assert assistant_tools.summary("list_campaigns", {}, result) == "2 of 2 campaigns with versions"
    only_google = assistant_tools.list_campaigns(world.db, world.actor, channel="google", versions_per_campaign=0)
    assert [c["name"] for c in only_google["campaigns"]] == ["Search"] and only_google["campaigns"][0]["versions"] == []


def test_top_products_by_net_revenue(world: Shop) -> None:
    result = assistant_tools.top_products(world.db, world.actor, compare="none", **CUSTOM)
    report = _report(world, dimension=Dimension.PRODUCT, compare=Compare.NONE)
    by_key = {r.key: r for r in report.rows}
    assert result["ranked_by"] == "net revenue in EUR"
    assert [(p["rank"], p["product_id"], p["name"]) for p in result["products"]] == [
        (1, "prod_shoe", "Trail shoe"),  # 90.00 EUR (and 25.00 USD, never added to euros)
        (2, "prod_sock", "Wool sock"),  # 10.00 + 30.00 EUR
    ]
    assert result["products"][0]["figures"]["money"]["USD"]["gross_formatted"] == "$25.00"
    for product in result["products"]:
        assert _unformatted(product["figures"]) == metrics.figure_dict(by_key[product["product_id"]].figures)
    nets = [p["figures"]["money"].get("EUR", {}).get("net", 0) for p in result["products"]]
    assert nets == sorted(nets, reverse=True)
    assert assistant_tools.top_products(world.db, world.actor, limit=1, **CUSTOM)["products"][0]["rank"] == 1


def test_orders_and_refunds_match_the_orders_and_metrics_services(world: Shop) -> None:
    result = assistant_tools.orders_and_refunds(world.db, world.actor, **CUSTOM)
    since, until = orders.day_range(world.account_id, world.db, START, END)
    page = orders.list_orders(session=world.db, account_id=world.account_id, since=since, until=until, limit=200)
    assert result["orders_started"]["total"] == page.total == 3
    assert result["orders_started"]["by_status"] == {"paid": 2, "partially_refunded": 1}
    total = _report(world, compare=Compare.NONE).total.figures
    eur = result["paid_in_period"]["money"]["EUR"]
    assert (eur["gross"], eur["refunds"], eur["net"]) == (total.money["EUR"].gross, 2_000, total.money["EUR"].net)
    assert eur["refunds_formatted"] == "€20.00" and result["paid_in_period"]["orders"] == total.orders == 3
    assert [o["order_id"] for o in result["latest_orders"]] == [r.order_id for r in page.orders][:5]
    assert "customer_email" not in json.dumps(result) and "ann@example.com" not in json.dumps(result)
    assert result["latest_refunds"] == [
        {
            "order_id": world.big.public_id,
            "amount": 2_000,
            "amount_formatted": "€20.00",
            "refunded_at": "2026-03-31T10:00+02:00",
        }
    ]
    spring = assistant_tools.orders_and_refunds(world.db, world.actor, campaign=world.a.public_id, **CUSTOM)
    assert spring["orders_started"]["total"] == 1 and spring["latest_refunds"] == []
    assert assistant_tools.summary("orders_and_refunds", {}, result) == "orders and refunds, 2026-03-29 – 2026-03-31"


def test_conversion_status_matches_the_deliveries(world: Shop) -> None:
    result = assistant_tools.conversion_status(world.db, world.actor, **CUSTOM)
    since, until = orders.day_range(world.account_id, world.db, START, END)
    for provider in ("meta", "ga4", "webhook"):
        page = conversions.list_deliveries(
            session=world.db, account_id=world.account_id, provider=provider, since=since, until=until
        )
        assert result["by_provider"][provider] == {k: v for k, v in page.totals.items() if v}
    assert "google_ads" not in result["by_provider"]  # nothing sent there
    assert result["totals"] == {"sent": 2, "dead": 1, "retrying": 1, "skipped": 1}
    assert [(f["provider"], f["status"]) for f in result["latest_failures"]] in (
        [("meta", "dead"), ("ga4", "retrying")],
        [("ga4", "retrying"), ("meta", "dead")],
    )
    assert result["latest_failures"][0]["value"] == "€30.00"
    meta = assistant_tools.conversion_status(world.db, world.actor, provider="meta", **CUSTOM)
    assert meta["totals"] == {"sent": 1, "dead": 1} and meta["query"]["filters"] == {"provider": "meta"}
    assert assistant_tools.summary("conversion_status", {}, meta).endswith("provider meta")


def test_alert_history_matches_the_alerts_service(world: Shop) -> None:
    result = assistant_tools.alert_history(world.db, world.actor)
    page = alerts.list_events(session=world.db, account_id=world.account_id)
    assert [e["event_id"] for e in result["events"]] == [e.public_id for e in page.rows]
    assert [e["kind"] for e in result["events"]] == ["resolved", "fired"] and result["events_total"] == 2
    assert result["events"][1]["value"] == page.rows[1].value and result["events"][1]["campaign"] == "Spring sale v2"
    assert [r["name"] for r in result["rules"]] == ["ROAS watch"]
    assert "ops@shop.test" not in json.dumps(result)  # recipients are not needed to answer
    fired = assistant_tools.alert_history(world.db, world.actor, kind="fired", limit=1)
    assert [e["kind"] for e in fired["events"]] == ["fired"]
    assert assistant_tools.summary("alert_history", {}, fired) == "alert history, latest 1 of 1 event"


def test_every_result_is_json_and_only_of_the_actors_account(db: Session) -> None:
    mine = shop(db)
    other = shop(db, amount=77_700, note="Other shop's secret note")
    other.db.add_all([other.a, other.b])
    other.a.name, other.b.name = "Theirs A", "Theirs B"
    db.commit()
    results = [assistant_tools.get_metrics(db, mine.actor, dimension=d.value, **CUSTOM) for d in Dimension] + [
        assistant_tools.list_campaigns(db, mine.actor),
        assistant_tools.top_products(db, mine.actor, **CUSTOM),
        assistant_tools.orders_and_refunds(db, mine.actor, **CUSTOM),
        assistant_tools.conversion_status(db, mine.actor, **CUSTOM),
        assistant_tools.alert_history(db, mine.actor),
        assistant_tools.compare_versions(db, mine.actor, campaign=mine.a.public_id),
    ]
    text = json.dumps(results)  # plain JSON: no dates or objects left
    theirs = [
        other.a.public_id,
        other.b.public_id,
        other.a2.public_id,
        other.big.public_id,
        "Theirs A",
        "Other shop's secret note",
        "77700",
        "777.00",
        other.rule.public_id,
    ]
    assert not [value for value in theirs if value in text]
    for tool, arguments in [
        ("get_metrics", {"campaign": other.a.public_id}),
        ("top_products", {"campaign": other.a.public_id}),
        ("orders_and_refunds", {"campaign": other.a.public_id}),
        ("alert_history", {"rule": other.rule.public_id}),
        ("compare_versions", {"campaign": other.a.public_id}),
    ]:
        result = assistant_tools.run_tool(db, mine.actor, tool, arguments)
        assert "error" in result or result.get("events") == [], (tool, result)


# The arguments a tool cannot do without (every other tool runs with none).
REQUIRED: dict[str, dict[str, Any]] = {"search_docs": {"query": "install"}}


@pytest.fixture
def statements(engine: Any) -> Iterator[list[str]]:
    with recorded_statements(engine) as seen:
        yield seen


def test_tools_never_write(world: Shop, statements: list[str]) -> None:
    world.db.expire_all()
    needs = {"compare_versions": {"campaign": world.a.public_id}, "order_conversions": {"order": world.big.public_id}}
    for name in assistant_tools.TOOL_NAMES:
        result = assistant_tools.run_tool(world.db, world.actor, name, needs.get(name, REQUIRED.get(name, {})))
        assert "error" not in result, (name, result)
    assert statements and not [
        s for s in statements if s.lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE", "CREATE"}
    ]


def test_the_definitions_offer_read_tools_only_and_match_the_arguments() -> None:
    names = [d["function"]["name"] for d in assistant_tools.DEFINITIONS]
    assert (
        names
        == list(assistant_tools.TOOL_NAMES)
        == [
            "get_metrics",
            "list_campaigns",
            "top_products",
            "orders_and_refunds",
            "conversion_status",
            "alert_history",
            "compare_versions",
            "platform_vs_verified",
            "customer_value",
            "search_docs",
            "install_status",
            "api_keys",
            "stripe_status",
            "pixel_status",
            "order_conversions",
            "alert_rules",
        ]
    )
    for definition in assistant_tools.DEFINITIONS:
        tool = assistant_tools.TOOLS[definition["function"]["name"]]
        properties = set(definition["function"]["parameters"]["properties"])
        assert properties == set(tool.arguments.model_fields), tool.name
        json.dumps(definition)


def test_dates_in_results_use_the_accounts_timezone(world: Shop) -> None:
    result = assistant_tools.orders_and_refunds(world.db, world.actor, **CUSTOM)
    paid = [o["paid_at"] for o in result["latest_orders"]]
    assert "2026-03-30T15:00+02:00" in paid  # 13:00 UTC, after the change to summer time
    assert timedelta(hours=2) == timedelta(hours=int(paid[0][-5:-3]))


def test_compare_versions_gives_the_pages_figures_with_provenance(world: Shop) -> None:
    result = assistant_tools.compare_versions(world.db, world.actor, campaign=world.a.public_id)
    assert "error" not in result, result
    report = metrics.version_report(session=world.db, account_id=world.account_id, campaign_public_id=world.a.public_id)
    query = result["query"]
    assert (query["campaign"], query["campaign_name"], query["model"]) == (
        world.a.public_id,
        world.a.name,
        "last_touch",
    )
    assert (
        query["winner_probability"] == 0.95
        and query["window_days"] == (report.windows[0].end - report.windows[0].start).days + 1
    )
    assert list(query["windows"]) == [f"v{w.number}" for w in report.windows]
    assert "one after another" in result["seasonality_note"] and "Beta(1,1)" in result["method"]
    [pair] = result["pairs"]
    expected = metrics.pair_dict(report.pairs[0])
    assert pair["summary"] == expected["summary"] and pair["verdict"] == expected["verdict"]
    assert pair["conversion_rate"] == expected["conversion_rate"]
    for code, figures in pair["net_revenue_per_session"].items():
        assert figures["p_b_better"] == expected["net_revenue_per_session"][code]["p_b_better"]
        assert figures["a_formatted"] is None or code in figures["a_formatted"] or figures["a_formatted"][0] in "€$£"
    chosen = assistant_tools.compare_versions(world.db, world.actor, campaign=world.a.public_id, a="v2", b="v1")
    assert chosen["chosen"]["a_number"] == 2 and chosen["query"]["chosen"] == ["v2", "v1"]
    summary = assistant_tools.summary("compare_versions", {}, result)
    assert summary.startswith(f"versions compared, {world.a.name}, windows of ") and "winner at ≥ 95%" in summary
    missing = assistant_tools.run_tool(
        world.db, world.actor, "compare_versions", {"campaign": world.a.public_id, "a": "v1"}
    )
    assert missing["error"] == "Name two versions to compare (a and b)."
