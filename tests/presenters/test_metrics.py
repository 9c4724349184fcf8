"""The dashboard's figures as text, without Reflex or a database: values and changes in the account's locale, KPI
cards' tones, the top campaigns, the versions compared and their small-sample flag, and period labels."""

from __future__ import annotations

from datetime import date

from app.presenters.metrics import (
    SMALL_SAMPLE_HINT,
    campaign_lines,
    column_key,
    column_label,
    comparison_text,
    format_change,
    format_value,
    kpi_item,
    overview_kpis,
    period_text,
    platform_label,
    version_lines,
)
from app.services.metrics import (
    SMALL_SAMPLE_ORDERS,
    SMALL_SAMPLE_SESSIONS,
    Figures,
    MetricsReport,
    MetricsRow,
    Money,
    Period,
    VersionWindow,
)
from app.services.rollups import MICRO


def _figures(*, sessions: int = 0, orders: float = 0, net: int = 0, spend: int = 0, refunds: int = 0,
             currency: str = "EUR") -> Figures:  # fmt: skip
    figures = Figures(sessions=sessions, orders_micro=round(orders * MICRO), converted_sessions=round(orders))
    if net or spend or refunds:
        figures.money[currency] = Money(currency, gross=net + refunds, refunds=refunds, spend=spend)
    return figures


def test_values_and_changes_read_in_the_accounts_locale() -> None:
    assert format_value("net:EUR", 2044250, "en_US") == "€20,442.50"
    assert format_value("net:EUR", 2044250, "de_DE") == "20.442,50\xa0€"
    assert format_value("net:JPY", 1500, "en_US") == "¥1,500"
    assert format_value("conversion_rate", 0.0312, "en_US") == "3.1%"
    assert format_value("roas:EUR", 2.3612, "de_DE") == "2,36×"
    assert format_value("orders", 2.5, "en_US") == "2.5" and format_value("cpa:EUR", None, "en_US") == "n/a"
    assert format_change("conversion_rate", -0.012, "en_US") == "−1.2 pp"  # rates change in percentage points
    assert format_change("net:EUR", 1250, "en_US") == "+€12.50" and format_change("orders", 0, "en_US") == "±0"
    assert comparison_text("sessions", 5, 1, "en_US") == "vs 1 (+400.0%)"
    assert comparison_text("sessions", 5, 0, "en_US") == "vs 0 (n/a)"  # no base, no percent
    assert column_label(column_key("net", "USD")) == "Net revenue (USD)" and column_label("orders") == "Orders"
    assert platform_label("direct") == "Direct / unmatched" and platform_label("meta") == "meta"


def test_kpi_cards_say_which_way_is_good() -> None:
    now, before = _figures(sessions=5, net=12_500, spend=7_000, refunds=2_000), _figures(sessions=1, spend=1_000)
    sessions = kpi_item("sessions", now, before, "en_US")
    assert (sessions["value"], sessions["previous"], sessions["percent"], sessions["tone"], sessions["icon"]) == (
        "5", "1", "+400.0%", "green", "arrow-up")  # fmt: skip
    refunds = kpi_item("refunds:EUR", now, before, "en_US")
    assert (refunds["tone"], refunds["icon"]) == ("red", "arrow-up")  # more refunds: bad news
    spend = kpi_item("spend:EUR", now, before, "en_US")
    assert spend["tone"] == "gray" and spend["change"] == "+€60.00"  # more spend is neither good nor bad
    alone = kpi_item("sessions", now, None, "en_US")
    assert (alone["previous"], alone["change"], alone["percent"]) == ("", "", "")
    ids = [k["id"] for k in overview_kpis(now, before, ["EUR", "USD"], "en_US")]
    assert ids[:3] == ["metric-net-eur", "metric-net-usd", "metric-orders"] and ids[-1] == "metric-refunds-usd"


def test_top_campaigns_skip_empty_rows_and_link_by_public_id() -> None:
    rows = [
        MetricsRow("7", "Search", _figures(orders=1, net=8_000, spend=2_000)),
        MetricsRow("9", "Idle", Figures()),
        MetricsRow("0", "Direct / unmatched", _figures(orders=1, net=2_500, currency="USD")),
    ]
    report = MetricsReport(Period(date(2026, 3, 1), date(2026, 3, 2)), None, "last_touch", 28, "rollup",
                           MetricsRow("total", "Total", Figures()), rows, ["EUR", "USD"])  # fmt: skip
    lines = campaign_lines(report, {"7": "cmp_search"}, "en_US")
    assert [line["campaign"] for line in lines] == ["Search", "Direct / unmatched"]
    assert lines[0]["url"].endswith("/campaigns/cmp_search") and lines[1]["url"] == ""
    assert (lines[0]["net"], lines[0]["spend"], lines[0]["roas"]) == ("€80.00", "€20.00", "4.00×")
    assert (lines[1]["net"], lines[1]["spend"], lines[1]["roas"]) == ("$25.00", "—", "—")  # no spend: no ROAS


def test_versions_compared_flag_small_samples_by_the_services_rule() -> None:
    big = _figures(sessions=SMALL_SAMPLE_SESSIONS, orders=SMALL_SAMPLE_ORDERS, net=90_000, spend=30_000)
    few_orders = _figures(sessions=SMALL_SAMPLE_SESSIONS * 2, orders=SMALL_SAMPLE_ORDERS - 1, net=1_000)
    windows = [
        VersionWindow("cv_1", 1, date(2026, 1, 1), date(2026, 1, 28), 40, big),
        VersionWindow("cv_2", 2, date(2026, 2, 10), date(2026, 3, 9), 28, few_orders),
    ]
    v1, v2 = version_lines(windows, "en_US")
    assert not v1["small_sample"] and v2["small_sample"]
    assert (v1["version"], v1["window"], v1["sessions"], v1["roas"]) == (
        "v1", "Jan 1, 2026 – Jan 28, 2026 (28 days)", "1,000", "3.00×")  # fmt: skip
    assert "30 orders or 1,000 sessions" in SMALL_SAMPLE_HINT  # the page's hint says the service's thresholds


def test_period_labels() -> None:
    assert period_text(Period(date(2026, 3, 29), date(2026, 3, 29))) == "Mar 29, 2026"
    assert period_text(Period(date(2026, 3, 1), date(2026, 3, 28))) == "Mar 1, 2026 – Mar 28, 2026 (28 days)"
    assert period_text(None) == ""
