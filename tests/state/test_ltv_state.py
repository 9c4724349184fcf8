"""The lifetime value page (``/ltv``) and the overview's blended figures through their states, on the metrics tests'
``World`` (known answers for the DST weekend of 2026-03-29)."""

from __future__ import annotations

import csv
import io

import plotly.graph_objects as go
from reflex.state import State
from sqlmodel import Session

from app import routes
from app.services import lifetime
from app.state.metrics.lifetime import LifetimeState
from tests.state.test_metrics_state import DST_WEEKEND, _csv_text, _overview
from tests.utils.states import redirect_path, sign_in, substate, user_of, visit
from tests.utils.world import World


def test_the_overview_shows_mer_and_blended_cpa_beside_attributed_figures(
    root: State, db: Session, world: World
) -> None:
    sign_in(root, db, user_of(db, world))
    dashboard = _overview(root, f"/?{DST_WEEKEND}")
    [eur] = dashboard.blended  # dollars had no spend: no line
    # All net 125.00 / all spend 70.00; campaigns were credited all the euros (the direct order was in dollars).
    assert (eur["currency"], eur["mer"], eur["attributed_roas"]) == ("EUR", "1.79×", "1.79×")
    # Two new customers (Ann on Mar 29 via Search, the dollar order direct); one of them credited to a campaign.
    assert (eur["blended_cpa"], eur["attributed_cpa"], eur["attributed_share"]) == ("€35.00", "€70.00", "100.0%")


def _page(root: State, path: str) -> LifetimeState:
    visit(root, path)
    state = substate(root, LifetimeState)
    list(state.load_lifetime())
    return state


def test_the_ltv_page_table_cohorts_and_csv(root: State, db: Session, world: World) -> None:
    lifetime.rebuild(db, world.account_id)
    sign_in(root, db, user_of(db, world))
    page = _page(root, f"{routes.LTV}?dimension=campaign")
    assert page.loaded and page.error == "" and not page.computed_live
    assert page.currencies == ["EUR", "USD"] and page.currency == "EUR"
    lines = {line["label"]: line for line in page.lines}
    # Ann (Search, Mar 29: 100.00 − 20.00 refunded + 30.00 on Mar 30), Bob (Spring sale v1, subscription: 15.00 on
    # Feb 28 and a 15.00 renewal 29 days later, within 30 days), the dollar order (direct).
    assert set(lines) == {"Search", "Spring sale", "Direct / unmatched"}
    assert lines["Search"]["customers"] == "1" and lines["Search"]["ltv_90"] == "€110.00"
    assert lines["Search"]["url"] == routes.campaign_url(world.b.public_id)
    assert lines["Spring sale"]["ltv_30"] == "€30.00" and lines["Spring sale"]["customers"] == "1"
    assert page.total is not None and page.total["customers"] == "3"
    assert lines["Direct / unmatched"]["cpa"] == "n/a" and lines["Direct / unmatched"]["payback"] == "n/a"
    figure = page.cohort_chart
    assert isinstance(figure, go.Figure) and figure.data[0].type == "heatmap"
    rows = list(csv.DictReader(io.StringIO(_csv_text(page.export_ltv()))))
    search = next(r for r in rows if r["row"] == "Search" and r["currency"] == "EUR")
    assert search["ltv_90d"] == "110.0" and search["customers"] == "1.0"
    cohort_rows = list(csv.DictReader(io.StringIO(_csv_text(page.export_cohorts()))))
    assert {r["first_order_month"] for r in cohort_rows} >= {"2026-03-01"}
    page.choose_currency("USD")
    assert {line["label"]: line["ltv_30"] for line in page.lines}["Direct / unmatched"] == "$25.00"


def test_other_models_are_computed_live_and_filters_go_to_the_url(root: State, db: Session, world: World) -> None:
    lifetime.rebuild(db, world.account_id)
    sign_in(root, db, user_of(db, world))
    page = _page(root, f"{routes.LTV}?dimension=version&model=linear&channel=meta")
    assert page.computed_live and page.channel_filter == "meta"
    assert {line["label"] for line in page.lines} == {"Spring sale v1", "Spring sale v2"}
    assert "campaign=" + world.a.public_id in redirect_path(page.choose_campaign(world.a.public_id))
    assert redirect_path(page.choose_dimension("nonsense")).startswith(routes.LTV)
