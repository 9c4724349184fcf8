"""What the dashboard pages read, one call each (``services.dashboard``), on the metrics tests' shop with known
answers: the overview's three reports and what it links to, the explorer's report, filter choices and public keys,
a filter by someone else's campaign left out; and the small-sample rule of versions compared."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session

from app.services import dashboard, metrics
from app.services.attribution import AttributionModel
from app.services.metrics import Compare, Dimension, Preset
from app.services.rollups import MICRO
from tests.utils.factories import make_owner
from tests.utils.world import World

DST_WEEKEND = dashboard.DashboardRange(
    preset=Preset.CUSTOM, compare=Compare.PREVIOUS, model=AttributionModel.LAST_TOUCH,
    start=date(2026, 3, 29), end=date(2026, 3, 31),
)  # fmt: skip


def test_the_overview_in_one_call(world: World) -> None:
    found = dashboard.overview(session=world.db, account_id=world.account_id, choice=DST_WEEKEND)
    assert (found.period.start, found.period.end) == (date(2026, 3, 29), date(2026, 3, 31))
    assert found.comparison is not None and found.comparison.start == date(2026, 3, 26)
    assert [r.key for r in found.by_day.rows] == ["2026-03-29", "2026-03-30", "2026-03-31"]
    assert found.by_day_before is not None and found.by_day_before.total.figures.sessions == 1
    assert found.by_campaign.total.figures.orders == 3 and found.any_data
    # Links go to campaigns by their public ids; direct (key 0) has no page.
    assert found.campaign_ids == {str(world.a.id): world.a.public_id, str(world.b.id): world.b.public_id}


def test_the_range_ends_today_in_the_accounts_timezone(world: World) -> None:
    choice = dashboard.DashboardRange(preset=Preset.LAST_7_DAYS, compare=Compare.YEAR,
                                      model=AttributionModel.LAST_TOUCH)  # fmt: skip
    found = dashboard.resolve_range(session=world.db, account_id=world.account_id, choice=choice)
    today = metrics.account_today(world.db, world.account_id)
    assert (found.period.start, found.period.end) == (today - timedelta(days=6), today)
    assert found.comparison is not None and found.comparison.end == today - timedelta(weeks=52)


def test_the_explorer_in_one_call(world: World) -> None:
    query = dashboard.ExplorerQuery(dimension=Dimension.VERSION, lookback_days=28, campaign=world.a.public_id)
    found = dashboard.explorer(session=world.db, account_id=world.account_id, choice=DST_WEEKEND, query=query)
    assert found.campaign == world.a.public_id
    assert [name for _pid, name in found.campaigns] == ["Search", "Spring sale"]  # by name: the filter's choices
    assert [found.keys[r.key] for r in found.report.rows] == [world.a2.public_id, world.a1.public_id]
    assert found.keys["0"] == "direct"


def test_a_filter_by_another_accounts_campaign_is_left_out(db: Session, world: World) -> None:
    stranger, _, _ = make_owner(db)
    query = dashboard.ExplorerQuery(dimension=Dimension.CAMPAIGN, lookback_days=28, campaign=world.a.public_id)
    found = dashboard.explorer(session=db, account_id=stranger.id or 0, choice=DST_WEEKEND, query=query)
    assert found.campaign is None and found.campaigns == [] and found.report.rows == []
    mine = dashboard.explorer(session=db, account_id=world.account_id, choice=DST_WEEKEND,
                              query=dashboard.ExplorerQuery(Dimension.CAMPAIGN, 28, campaign="cmp_nobody"))  # fmt: skip
    assert mine.campaign is None and len(mine.report.rows) == 3  # every campaign, not "No campaign with this id"


def test_versions_compared_flag_small_samples(world: World) -> None:
    windows = metrics.version_comparison(session=world.db, account_id=world.account_id,
                                         campaign_public_id=world.a.public_id)  # fmt: skip
    assert [w.small_sample for w in windows] == [True, True]  # a handful of sessions and orders
    big = metrics.Figures(sessions=metrics.SMALL_SAMPLE_SESSIONS, orders_micro=metrics.SMALL_SAMPLE_ORDERS * MICRO)
    assert not metrics.VersionWindow("cv_x", 3, date(2026, 1, 1), date(2026, 1, 2), 2, big).small_sample
