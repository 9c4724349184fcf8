"""The dashboard through its states: the overview's KPIs, charts and top campaigns for the URL's range, the range
picker's URLs, the explorer (dimensions, sorting, lookback computed live, CSV with the comparison), a campaign's
versions compared, empty accounts, signed-out visitors and tenancy. Data: the metrics service tests' ``World`` (a
shop in Europe/Paris, known answers for the DST weekend of 2026-03-29), rolled up."""

from __future__ import annotations

import base64
import csv
import io
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import plotly.graph_objects as go
from reflex.state import State
from sqlmodel import Session

from app import routes
from app.components.layout import registered_pages
from app.models import Role
from app.services.ingest import IngestContext, Source, ingest_now
from app.services.metrics import account_today
from app.state.base import AppState
from app.state.live import OverviewState
from app.state.metrics import DashboardState, ExplorerState, RangeState, VersionComparisonState, explorer_choice
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import add_member, make_owner
from tests.utils.states import redirect_path, run_coroutine, sign_in, substate, user_of, visit
from tests.utils.world import World

DST_WEEKEND = "range=custom&start=2026-03-29&end=2026-03-31"


def _url(spec_or_path: Any) -> tuple[str, dict[str, str]]:
    """A redirect's (or a path's) page and query parameters, in any order."""
    url = urlsplit(spec_or_path if isinstance(spec_or_path, str) else redirect_path(spec_or_path))
    return url.path, dict(parse_qsl(url.query))


def _load_home(root: State, path: str) -> list[Any]:
    """``/``'s one on_load event; what it yielded (None for a delta, then a redirect or the live poller)."""
    visit(root, path)

    async def run() -> list[Any]:
        return [event async for event in substate(root, DashboardState).load_home()]

    return run_coroutine(run())


def _overview(root: State, path: str) -> DashboardState:
    """``/`` loaded, then its charts drawn (the on_mount of their row, once the figures show)."""
    _load_home(root, path)
    dashboard = substate(root, DashboardState)
    dashboard.draw_charts()
    return dashboard


def _explorer(root: State, path: str) -> ExplorerState:
    visit(root, path)
    substate(root, RangeState).read_range()
    explorer = substate(root, ExplorerState)
    list(explorer.load_explorer())
    return explorer


def test_overview_kpis_charts_and_top_campaigns(root: State, db: Session, world: World) -> None:
    sign_in(root, db, user_of(db, world))
    dashboard = _overview(root, f"/?{DST_WEEKEND}")
    assert dashboard.loaded and not dashboard.loading and dashboard.error == ""
    assert dashboard.has_data and dashboard.has_figures and dashboard.comparing
    assert dashboard.currencies == ["EUR", "USD"]
    kpis = {k["id"]: k for k in dashboard.kpis}
    assert list(kpis)[:2] == ["metric-net-eur", "metric-net-usd"]  # net revenue first, one card per currency
    net = kpis["metric-net-eur"]
    # 130.00 gross + 15.00 renewal − 20.00 refunded; the comparison (Mar 26–28) had none: no percent.
    assert (net["value"], net["previous"], net["change"], net["percent"]) == ("€125.00", "€0.00", "+€125.00",
                                                                              "n/a")  # fmt: skip
    assert kpis["metric-net-usd"]["value"] == "$25.00"
    sessions = kpis["metric-sessions"]  # 5 vs the 1 session of Mar 28 (23:59 in Paris)
    assert (sessions["value"], sessions["previous"], sessions["percent"], sessions["tone"], sessions["icon"]) == (
        "5", "1", "+400.0%", "green", "arrow-up")  # fmt: skip
    assert kpis["metric-orders"]["value"] == "3" and kpis["metric-conversion-rate"]["value"] == "60.0%"
    assert kpis["metric-roas-eur"]["value"] == "1.79×"  # 125.00 / 70.00 spent
    assert kpis["metric-cpa-eur"]["value"] == "€23.33" and kpis["metric-aov-eur"]["value"] == "€43.33"
    assert kpis["metric-roas-usd"]["value"] == "n/a"  # no spend in dollars
    assert kpis["metric-cpa-usd"]["value"] == "n/a"  # an order but no spend: n/a, not 0.00 (free customers)
    refunds = kpis["metric-refunds-eur"]
    assert refunds["value"] == "€20.00" and refunds["tone"] == "red"  # more refunds is bad news

    # Per day (the account's days), the comparison aligned by position; money in major units, per currency.
    assert dashboard._lines.days == ["2026-03-29", "2026-03-30", "2026-03-31"]
    assert dashboard._lines.comparison_days == ["2026-03-26", "2026-03-27", "2026-03-28"]
    assert dashboard._lines.revenue == {"EUR": [115.0, 30.0, -20.0], "USD": [0.0, 25.0, 0.0]}
    assert dashboard._lines.revenue_previous == {"EUR": [0.0, 0.0, 0.0], "USD": [0.0, 0.0, 0.0]}
    assert dashboard._lines.orders == [1.0, 2.0, 0.0] and dashboard._lines.orders_previous == [0.0, 0.0, 0.0]
    figure = dashboard.revenue_chart
    assert isinstance(figure, go.Figure)
    assert [(t.name, t.line.dash) for t in figure.data] == [
        ("Net revenue EUR", "solid"), ("Comparison EUR", "dash"), ("Net revenue USD", "solid"),
        ("Comparison USD", "dash"),
    ]  # fmt: skip
    assert list(dashboard.orders_chart.data[0].y) == [1.0, 2.0, 0.0]

    # Top campaigns by net revenue (last touch): Search got the Mar 29 order, Spring sale the Mar 30 one.
    campaigns = {c["campaign"]: c for c in dashboard.campaigns}
    assert list(campaigns)[:2] == ["Search", "Spring sale"]
    assert campaigns["Search"]["url"] == routes.campaign_url(world.b.public_id)
    assert campaigns["Search"]["net"] == "€80.00" and campaigns["Search"]["spend"] == "€20.00"
    assert campaigns["Spring sale"]["roas"] == "0.90×" and campaigns["Spring sale"]["orders"] == "1"
    assert campaigns["Direct / unmatched"]["url"] == "" and campaigns["Direct / unmatched"]["net"] == "$25.00"


def test_one_on_load_event_shows_the_whole_overview(root: State, db: Session, world: World) -> None:
    # The session check, the range picker, the figures and today's live list: one event (it took four on_load events,
    # each a trip through the event queue), whose first delta carries the KPI figures; today's list comes after.
    [options] = [options for _, options in registered_pages() if options["route"] == routes.HOME]
    assert [handler.fn.__qualname__ for handler in options["on_load"]] == ["DashboardState.load_home"]
    context = IngestContext(account_id=world.account_id, source=Source.BROWSER, user_agent=DESKTOP_UA)
    ingest_now([event(visitor_id="a", session_id="s1"), event(visitor_id="b", session_id="s2")], context)
    sign_in(root, db, user_of(db, world))
    visit(root, f"/?{DST_WEEKEND}")
    dashboard, today = substate(root, DashboardState), substate(root, OverviewState)

    async def first_paint() -> list[Any]:
        # What each yield sends: the session's context first (the browser draws the page's frame and skeleton while
        # the figures are read), then the KPI figures, before today's live list is even read, and without the
        # charts (built and sent once they mount).
        seen = []
        root._clean()
        async for yielded in dashboard.load_home():
            sent = await root._get_resolved_delta()
            root._clean()
            seen.append((yielded, len(dashboard.kpis), today.events_today, sent))
        return seen

    (frame, *_, sent_first), (figures, kpis, events, sent), (watch, *_) = run_coroutine(first_paint())
    assert frame is None and sent_first[AppState.get_full_name()]["is_authenticated_rx_state_"] is True
    assert DashboardState.get_full_name() not in sent_first
    sent = sent[DashboardState.get_full_name()]
    assert figures is None and kpis > 5 and events == 0
    assert "kpis_rx_state_" in sent and not [name for name in sent if "chart" in name or "days" in name]
    assert watch.fn.__qualname__ == OverviewState.watch.fn.__qualname__  # then the live poller
    assert substate(root, AppState).is_authenticated and substate(root, AppState).account_timezone == "Europe/Paris"
    picker = substate(root, RangeState)
    assert (picker.preset, picker.start, picker.end) == ("custom", "2026-03-29", "2026-03-31")
    assert picker.period_label.endswith("(3 days)") and picker.comparison_label.endswith("(3 days)")
    assert dashboard.loaded and not dashboard.loading and len(dashboard.kpis) > 5 and dashboard._lines.days
    # The charts mount once the figures have (their row's on_mount): plotly's script is fetched after the KPIs, and
    # their figures are built then (not in the figures' delta).
    assert not dashboard.charts_drawn
    assert not [t.y for chart in (dashboard.revenue_chart, dashboard.orders_chart) for t in chart.data if t.y]
    dashboard.draw_charts()
    assert dashboard.charts_drawn and list(dashboard.orders_chart.data[0].y) == dashboard._lines.orders
    assert (today.events_today, len(today.recent)) == (2, 2)

    # A new range on the open page: the skeleton shows first (a delta), then the new figures.
    *deltas, watch = _load_home(root, f"/?{DST_WEEKEND}&compare=none")
    assert deltas == [None, None] and not dashboard.comparing and not dashboard.loading
    assert [trace.name for trace in dashboard.orders_chart.data] == ["Orders"]  # the drawn chart follows the range


def test_the_dashboard_reads_in_the_accounts_locale(root: State, db: Session, world: World) -> None:
    account = _account(db, world)
    account.locale = "de_DE"
    db.add(account)
    db.commit()
    sign_in(root, db, user_of(db, world))
    kpis = {k["id"]: k for k in _overview(root, f"/?{DST_WEEKEND}").kpis}
    net = kpis["metric-net-eur"]
    assert (net["value"], net["previous"], net["change"]) == ("125,00\xa0€", "0,00\xa0€", "+125,00\xa0€")
    assert kpis["metric-net-usd"]["value"] == "25,00\xa0$"
    assert kpis["metric-sessions"]["percent"] == "+400,0\xa0%"
    assert kpis["metric-conversion-rate"]["value"] == "60,0\xa0%" and kpis["metric-roas-eur"]["value"] == "1,79×"
    assert kpis["metric-cpa-eur"]["value"] == "23,33\xa0€"
    explorer = _explorer(root, f"{routes.METRICS}?{DST_WEEKEND}&dimension=campaign")
    assert explorer.total["net:EUR"] == "125,00\xa0€" and explorer.row_count_text == "3 rows"
    text = _csv_text(explorer.export_csv())
    assert "125.00" in text and "125,00" not in text  # the CSV keeps plain numbers


def test_overview_models_and_no_comparison(root: State, db: Session, world: World) -> None:
    sign_in(root, db, user_of(db, world))
    dashboard = _overview(root, f"/?{DST_WEEKEND}&compare=none&model=linear")
    kpis = {k["id"]: k for k in dashboard.kpis}
    assert not dashboard.comparing and kpis["metric-sessions"]["previous"] == ""
    assert dashboard._lines.revenue_previous == {
        "EUR": [], "USD": []}  # fmt: skip
    assert len(dashboard.revenue_chart.data) == 2  # no dashed lines
    campaigns = {c["campaign"]: c for c in dashboard.campaigns}
    assert campaigns["Search"]["orders"] == "0.33"  # a third of the Mar 29 order under the linear model


def test_default_range_and_the_pickers_urls(root: State, db: Session, world: World) -> None:
    sign_in(root, db, user_of(db, world))
    dashboard = _overview(root, "/")
    picker = substate(root, RangeState)
    today = account_today(db, world.account_id)
    assert (picker.preset, picker.compare, picker.model) == ("last_28_days", "previous", "last_touch")
    assert (picker.start, picker.end) == ((today - timedelta(days=27)).isoformat(), today.isoformat())
    assert picker.period_label.endswith("(28 days)") and picker.comparison_label.endswith("(28 days)")
    assert len(dashboard._lines.days) == 28 and dashboard.error == ""

    visit(root, "/?range=last_7_days&model=linear")
    picker.read_range()
    assert _url(picker.choose_preset("month_to_date")) == ("/", {"range": "month_to_date", "model": "linear"})
    assert _url(picker.choose_compare("year")) == ("/", {"range": "last_7_days", "model": "linear", "compare": "year"})
    assert _url(picker.choose_model("nonsense")) == ("/", {"range": "last_7_days", "model": "last_touch"})
    custom = {"range": "custom", "model": "linear", "start": picker.start, "end": picker.end}
    assert _url(picker.choose_preset("custom")) == ("/", custom)  # starts from the dates shown
    applied = picker.apply_custom({"start": "2026-03-01", "end": "2026-03-31"})
    assert _url(applied) == ("/", {**custom, "start": "2026-03-01", "end": "2026-03-31"})
    assert "error" in str(picker.apply_custom({"start": "2026-03-01", "end": ""}).args)
    visit(root, f"{routes.METRICS}?dimension=product&{DST_WEEKEND}")
    assert _url(picker.choose_compare("none")) == _url(f"{routes.METRICS}?dimension=product&{DST_WEEKEND}&compare=none")


def test_a_bad_range_says_what_is_wrong(root: State, db: Session, world: World) -> None:
    sign_in(root, db, user_of(db, world))
    dashboard = _overview(root, "/?range=custom&start=2026-03-31&end=2026-03-01")
    assert dashboard.error == "The end date is before the start date." and dashboard.kpis == []
    dashboard = _overview(root, "/?range=custom&start=2026-03-31")
    assert dashboard.error == "A custom range needs both a start and an end date."


def test_empty_account_gets_the_get_started_card(root: State, db: Session) -> None:
    _, user, _ = make_owner(db)
    sign_in(root, db, user)
    # The figures in one delta with today's counters: a delta without them would show the "get started" card to an
    # account whose only data is today's events.
    *deltas, _watch = _load_home(root, "/")
    assert deltas == [None]  # the page's frame only
    dashboard = _overview(root, "/")
    assert dashboard.loaded and not dashboard.has_data and not dashboard.has_figures and dashboard.error == ""
    assert dashboard.currencies == [] and {k["id"]: k["value"] for k in dashboard.kpis} == {
        "metric-orders": "0", "metric-conversion-rate": "n/a", "metric-sessions": "0"}  # fmt: skip


def test_tenancy_and_a_signed_out_visitor(root: State, db: Session, world: World) -> None:
    # Another account's owner sees none of the world's figures.
    _, stranger, _ = make_owner(db)
    sign_in(root, db, stranger)
    dashboard = _overview(root, f"/?{DST_WEEKEND}")
    assert not dashboard.has_figures and dashboard.campaigns == [] and dashboard.currencies == []
    explorer = _explorer(root, f"{routes.METRICS}?{DST_WEEKEND}&campaign={world.a.public_id}")
    assert explorer.campaign_filter == "all" and explorer.rows == []  # someone else's campaign is not a filter
    versions = substate(root, VersionComparisonState)
    visit(root, routes.campaign_url(world.a.public_id))
    versions.load_version_comparison()
    assert versions.version_windows == [] and versions.versions_error == "No campaign with this id."

    # A viewer of the account sees the figures.
    viewer, _ = add_member(db, _account(db, world), Role.VIEWER)
    sign_in(root, db, viewer)
    assert _overview(root, f"/?{DST_WEEKEND}").has_figures

    # Signed out: the overview's one on_load sends the visitor to the login page and reads nothing; the explorer's
    # loads stay quiet (the layout's check_login redirects there).
    substate(root, AppState).auth_token = "not-a-token"
    *_, redirect = _load_home(root, f"/?{DST_WEEKEND}")
    assert _url(redirect) == (routes.LOGIN, {})
    dashboard = substate(root, DashboardState)
    assert dashboard.error == "" and dashboard.kpis == [] and not dashboard.is_authenticated
    assert _explorer(root, routes.METRICS).error == ""


def _account(db: Session, w: World) -> Any:
    from app.models import Account

    return db.get(Account, w.account_id)


def test_explorer_rows_sorting_and_csv(root: State, db: Session, world: World) -> None:
    sign_in(root, db, user_of(db, world))
    explorer = _explorer(root, f"{routes.METRICS}?{DST_WEEKEND}&dimension=campaign")
    assert explorer.loaded and explorer.error == "" and not explorer.computed_live and explorer.comparing
    keys = [c["key"] for c in explorer.columns]
    assert keys[:4] == ["sessions", "visitors", "orders", "conversion_rate"]
    assert "net:EUR" in keys and "net:USD" in keys and "roas:EUR" in keys  # per currency, never summed
    assert explorer.measure == "net:EUR"  # the default chart measure
    assert [r["label"] for r in explorer.rows] == ["Search", "Spring sale", "Direct / unmatched"]  # by net revenue
    assert explorer.rows[0]["url"] == routes.campaign_url(world.b.public_id)
    assert explorer.total["orders"] == "3" and explorer.total["net:EUR"] == "€125.00"
    assert explorer.total["sessions~"] == "vs 1 (+400.0%)"

    explorer.sort_by("sessions")  # highest first
    assert [r["sessions"] for r in explorer.rows] == ["2", "2", "1"]
    assert [c["sort"] for c in explorer.columns if c["key"] == "sessions"] == ["desc"]
    explorer.sort_by("sessions")  # again: lowest first
    assert [r["sessions"] for r in explorer.rows] == ["1", "2", "2"] and explorer.rows[0]["label"] == "Search"
    explorer.sort_by("label")
    assert [r["label"] for r in explorer.rows] == ["Direct / unmatched", "Search", "Spring sale"]
    assert {r["label"]: r["cpa:USD"] for r in explorer.rows}["Direct / unmatched"] == "n/a"  # no spend in dollars
    explorer.sort_by("roas:USD")  # only n/a values: order kept, nothing breaks
    assert len(explorer.rows) == 3
    explorer.sort_by("no-such-column")
    assert explorer.sort_key == "roas:USD"

    assert explorer.chart_labels == [r["label"] for r in explorer.rows]
    explorer.choose_measure("orders")
    assert explorer.measure == "orders" and isinstance(explorer.chart, go.Figure)
    assert len(explorer.chart.data) == 2 and explorer.chart.data[0].type == "bar"

    download = explorer.export_csv()
    rows = list(csv.reader(io.StringIO(_csv_text(download))))
    header = rows[0]
    assert header[:3] == ["key", "label", "Sessions"]
    assert header[3:6] == ["Sessions comparison", "Sessions change", "Sessions change %"]
    assert "Net revenue (EUR)" in header and "Net revenue (EUR) change %" in header
    total = dict(zip(header, rows[-1], strict=True))
    assert (total["label"], total["Net revenue (EUR)"], total["Net revenue (EUR) comparison"]) == ("Total", "125.00",
                                                                                                   "0.00")  # fmt: skip
    assert total["Net revenue (EUR) change %"] == "" and total["Sessions change %"] == "400.00"
    assert total["Conversion rate"] == "0.6" and len(rows) == 5


def _csv_text(download: Any) -> str:
    """The CSV text rx.download sends (a base64 data: URL)."""
    url = {str(name): value._var_value for name, value in download.args}["url"]
    assert url.startswith("data:text/csv;base64,")
    return base64.b64decode(url.split(",", 1)[1]).decode()


def test_explorer_dimensions_filters_and_live_lookback(root: State, db: Session, world: World) -> None:
    sign_in(root, db, user_of(db, world))
    explorer = _explorer(root, f"{routes.METRICS}?{DST_WEEKEND}&dimension=day&compare=none")
    assert [r["key"] for r in explorer.rows] == ["2026-03-29", "2026-03-30", "2026-03-31"]  # time in order
    assert explorer.is_time and explorer.chart.data[0].type == "scatter" and explorer.rows[0]["sessions~"] == ""

    explorer = _explorer(root, f"{routes.METRICS}?{DST_WEEKEND}&dimension=product")
    keys = [c["key"] for c in explorer.columns]
    assert "sessions" not in keys and "spend:EUR" not in keys and "orders" in keys  # products have no traffic
    assert {r["key"] for r in explorer.rows} >= {"prod_shoe", "prod_sock"}

    explorer = _explorer(root, f"{routes.METRICS}?{DST_WEEKEND}&dimension=channel&channel=google&lookback_days=7")
    assert explorer.computed_live and explorer.channel_filter == "google" and explorer.filtered
    assert [r["label"] for r in explorer.rows] == ["google"] and explorer.total["sessions"] == "1"

    explorer = _explorer(root, f"{routes.METRICS}?{DST_WEEKEND}&campaign={world.a.public_id}&dimension=version")
    assert explorer.campaign_filter == world.a.public_id
    assert [r["label"] for r in explorer.rows] == ["Spring sale v2", "Spring sale v1"]  # v1: the renewal

    # The choices go to the URL, the other parameters stay.
    visit(root, f"{routes.METRICS}?{DST_WEEKEND}&dimension=version")
    assert _url(explorer.choose_dimension("week")) == _url(f"{routes.METRICS}?{DST_WEEKEND}&dimension=week")
    assert _url(explorer.choose_lookback("90"))[1]["lookback_days"] == "90"
    assert _url(explorer.choose_campaign(world.a.public_id))[1]["campaign"] == world.a.public_id
    assert "campaign" not in _url(explorer.choose_campaign("cmp_someone_else"))[1]
    assert _url(explorer.clear_filters()) == _url(f"{routes.METRICS}?{DST_WEEKEND}&dimension=version")
    choice = explorer_choice({"dimension": "bogus", "lookback_days": "5", "measure": "nope", "channel": "x"})
    assert (choice.dimension, choice.lookback, choice.measure, choice.channel) == ("campaign", 28, "", "")


def test_versions_compared_on_the_campaign_page(root: State, db: Session, world: World) -> None:
    sign_in(root, db, user_of(db, world))
    visit(root, routes.campaign_url(world.a.public_id))
    versions = substate(root, VersionComparisonState)
    versions.load_version_comparison()
    assert versions.versions_loaded and versions.versions_error == ""
    v1, v2 = versions.version_windows
    assert (v1["version"], v1["live_days"], v1["sessions"], v1["net"], v1["spend"]) == ("v1", 68, "2", "€15.00",
                                                                                        "€7.00")  # fmt: skip
    assert v1["window"].startswith("Jan 1, 2026 – ") and v1["small_sample"]
    assert (v2["version"], v2["orders"], v2["net"], v2["roas"]) == ("v2", "1", "€30.00", "0.60×")
    # 2 of v2's 3 sessions converted (their orders were credited to Search and Spring sale by last touch).
    assert (v2["sessions"], v2["conversion_rate"]) == ("3", "66.7%")
    assert v2["small_sample"] and versions.window_days == 68


def test_explorer_csv_keys_are_the_public_ids_the_api_uses(root: State, db: Session, world: World) -> None:
    sign_in(root, db, user_of(db, world))
    explorer = _explorer(root, f"{routes.METRICS}?{DST_WEEKEND}&dimension=campaign")
    rows = list(csv.DictReader(io.StringIO(_csv_text(explorer.export_csv()))))
    assert {r["label"]: r["key"] for r in rows} == {
        "Search": world.b.public_id,
        "Spring sale": world.a.public_id,
        "Direct / unmatched": "direct",
        "Total": "total",
    }
    assert explorer.rows[0]["url"] == routes.campaign_url(world.b.public_id)  # links still work

    explorer = _explorer(root, f"{routes.METRICS}?{DST_WEEKEND}&dimension=version&campaign={world.a.public_id}")
    keys = [r["key"] for r in csv.DictReader(io.StringIO(_csv_text(explorer.export_csv())))]
    assert keys == [world.a2.public_id, world.a1.public_id, "total"]


def test_explorer_by_channel_group_or_platform(root: State, db: Session, world: World) -> None:
    sign_in(root, db, user_of(db, world))
    explorer = _explorer(root, f"{routes.METRICS}?{DST_WEEKEND}&dimension=channel_group")
    assert {r["key"]: r["label"] for r in explorer.rows} == {
        "paid_social": "Paid social",
        "paid_search": "Paid search",
        "direct": "Direct / unmatched",
    }
    explorer = _explorer(root, f"{routes.METRICS}?{DST_WEEKEND}&dimension=channel&group=paid_search")
    assert explorer.group_filter == "paid_search" and explorer.filtered
    assert [r["label"] for r in explorer.rows] == ["google"]
    assert _url(explorer.choose_channel_group("paid_social"))[1]["group"] == "paid_social"
    assert "group" not in _url(explorer.choose_channel_group("bogus"))[1]
    assert "group" not in _url(explorer.clear_filters())[1]


def test_versions_compared_with_confidence(root: State, db: Session, world: World) -> None:
    """Each consecutive pair, with its verdict in words and the numbers; any two versions chosen; tenancy."""
    sign_in(root, db, user_of(db, world))
    visit(root, routes.campaign_url(world.a.public_id))
    versions = substate(root, VersionComparisonState)
    versions.load_version_comparison()
    assert versions.winner_threshold == "95%" and "one after another" in versions.seasonality_note
    [pair] = versions.version_pairs
    assert (pair["title"], pair["verdict"], pair["winner"]) == ("v1 → v2", "not_enough", "")
    assert pair["summary"].startswith("Not enough data to call a winner: v2's conversion rate is higher with")
    assert pair["rate"] == "Conversion rate: 0.0% → 66.7%" and pair["rate_probability"].startswith("P(v2 higher): ")
    assert pair["rate_interval"].startswith("95% credible interval of v2 − v1: ")
    assert pair["revenue"][0].startswith("Net revenue per session (EUR): ")
    assert pair["shop"].startswith("Whole shop over the same windows: conversion rate ")
    assert (versions.version_choices, versions.chosen_a, versions.chosen_b) == (["v1", "v2"], "v1", "v2")
    assert [p["title"] for p in versions.chosen_pair] == ["v1 → v2"]
    versions.set_chosen_a("v2")
    versions.set_chosen_b("v1")
    assert [p["title"] for p in versions.chosen_pair] == ["v2 → v1"] and versions.versions_error == ""
    versions.set_chosen_b("v2")  # the same version twice: nothing to compare
    assert versions.chosen_pair == []
    versions.set_chosen_b("v7")  # not a version of this campaign
    assert versions.chosen_pair == [] and versions.versions_error == "No version 'v7' in this campaign."

    _, stranger, _ = make_owner(db)
    sign_in(root, db, stranger)
    versions.load_version_comparison()
    assert versions.version_pairs == [] and versions.chosen_pair == []


def test_explorer_rows_by_ad_set_and_ad(root: State, db: Session) -> None:
    """Rows by the platforms' ad sets and ads, labelled with the synced name, platform and currency; money columns per
    currency (never summed); the product filter, which cannot apply, says so (tests/utils/ad_shop.py)."""
    from tests.utils.ad_shop import ad_shop

    shop = ad_shop(db)
    sign_in(root, db, user_of(db, shop))
    window = "range=custom&start=2026-04-01&end=2026-04-02&compare=none"
    explorer = _explorer(root, f"{routes.METRICS}?{window}&dimension=ad_set")
    assert explorer.error == "" and explorer.dimension == "ad_set"
    assert [r["label"] for r in explorer.rows] == [
        "Broad · Meta · EUR", "No ad set", "9999 · Meta · EUR", "Lookalike · Meta · EUR",
    ]  # fmt: skip
    broad = explorer.rows[0]
    assert (broad["sessions"], broad["orders"], broad["net:EUR"], broad["spend:EUR"]) == ("2", "1", "€100.00", "€60.00")
    assert {r["label"]: r["net:USD"] for r in explorer.rows}["No ad set"] == "$10.00"
    by_ad = _explorer(root, f"{routes.METRICS}?{window}&dimension=ad")
    assert {"Video · Meta · EUR", "Story · Meta · EUR", "9998 · Meta · EUR", "No ad"} <= {
        r["label"] for r in by_ad.rows
    }
    filtered = _explorer(root, f"{routes.METRICS}?{window}&dimension=ad&product=prod_shoe")
    assert "cannot be filtered by product" in filtered.error


def test_a_session_check_that_changes_nothing_sends_nothing(root: State, db: Session, world: World) -> None:
    # Every page load and live poll re-reads the session's context. Assigning equal values marked them dirty, and
    # every computed var reading one (the account's locale: other pages' counts and charts, the lifetime value
    # chart among them) was recomputed and sent with `/`'s figures.
    sign_in(root, db, user_of(db, world))
    _load_home(root, f"/?{DST_WEEKEND}")
    app = substate(root, AppState)
    root._clean()
    app.check_login()
    assert app.is_authenticated and run_coroutine(root._get_resolved_delta()) == {}
    # A change is still sent.
    substate(root, AppState).auth_token = "not-a-token"
    app.check_login()
    changed = run_coroutine(root._get_resolved_delta())
    assert changed[AppState.get_full_name()]["is_authenticated_rx_state_"] is False
