"""The metrics service on a dataset with known answers (worked out by hand below), in Europe/Paris: DST changes,
month ends, every attribution model, products, currencies, refunds and renewals in their own periods, comparison
periods; and the rollups equal the raw figures after a rebuild and after incremental updates in any order."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import Session, select

from app.models import (
    RollupDirty,
    SalesRollup,
    TrafficRollup,
)
from app.services import metrics, rollups
from app.services import spend as spend_service
from app.services.errors import ValidationFailed
from app.services.metrics import Compare, Dimension, MetricsQuery, delta
from tests.utils.rollup_arrivals import arrive_in_random_order
from tests.utils.world import World, all_models, utc


def test_known_totals_for_the_dst_weekend(world: World) -> None:
    report = world.report(date(2026, 3, 29), date(2026, 3, 31), compare=Compare.NONE)
    total = report.total.figures
    assert (total.sessions, total.visitors) == (5, 4)  # Mar 29: 2 sessions (v1, v2); Mar 30: 3 (v2, v3 twice)
    assert total.orders == 3  # mar29, mar30 (00:30 local), usd; the subscription's first payment was in February
    assert total.new_customers == 2 and total.returning_customers == 1  # ann twice (case and spaces ignored)
    assert total.renewals == 1
    eur, usd = total.money["EUR"], total.money["USD"]
    assert (eur.gross, eur.renewal_revenue, eur.refunds, eur.net, eur.spend) == (13_000, 1_500, 2_000, 12_500, 7_000)
    assert (usd.gross, usd.net, usd.spend) == (2_500, 2_500, 0)  # never summed with euros
    assert total.converted_sessions == 3 and total.conversion_rate == pytest.approx(3 / 5)
    assert total.roas("EUR") == pytest.approx(12_500 / 7_000) and total.cpa("EUR") == pytest.approx(7_000 / 3)
    assert total.aov("EUR") == pytest.approx(13_000 / 3) and total.refund_rate("EUR") == pytest.approx(2_000 / 14_500)
    assert total.roas("USD") is None  # no spend in dollars: n/a, not a division error


def test_days_follow_the_accounts_timezone(world: World) -> None:
    days = {r.key: r.figures for r in world.report(date(2026, 3, 28), date(2026, 3, 31), dimension=Dimension.DAY,
                                                     compare=Compare.NONE).rows}  # fmt: skip
    assert days["2026-03-28"].sessions == 1 and days["2026-03-29"].sessions == 2 and days["2026-03-30"].sessions == 3
    assert days["2026-03-29"].money["EUR"].gross == 10_000 and days["2026-03-30"].money["EUR"].gross == 3_000
    assert days["2026-03-29"].money["EUR"].renewal_revenue == 1_500
    assert days["2026-03-31"].money["EUR"].refunds == 2_000 and days["2026-03-31"].orders == 0
    month = {r.key: r.figures for r in world.report(date(2026, 1, 1), date(2026, 3, 31), dimension=Dimension.MONTH,
                                                      compare=Compare.NONE).rows}  # fmt: skip
    assert month["2026-01-01"].sessions == 1 and month["2026-02-01"].sessions == 1  # the month-end pair split
    assert month["2026-02-01"].money["EUR"].gross == 1_500  # 23:30 on Feb 28: February, not March
    weeks = world.report(date(2026, 3, 23), date(2026, 4, 5), dimension=Dimension.WEEK, compare=Compare.NONE)
    assert [r.key for r in weeks.rows] == ["2026-03-23", "2026-03-30"]  # Mondays
    assert weeks.rows[0].figures.sessions == 3 and weeks.rows[1].figures.sessions == 3


def test_every_attribution_model(world: World) -> None:
    def by_version(model: str) -> dict[str, tuple[float, int]]:
        report = world.report(date(2026, 3, 29), date(2026, 3, 29), dimension=Dimension.VERSION, model=model,
                              compare=Compare.NONE)  # fmt: skip
        return {
            r.label: (r.figures.orders, r.figures.money.get("EUR", metrics.Money("EUR")).gross) for r in report.rows
        }

    # Spring sale v2 had sessions that day (0 orders); v1 only the subscription's renewal.
    assert by_version("last_touch") == {"Search v1": (1, 10_000), "Spring sale v1": (0, 0), "Spring sale v2": (0, 0)}
    assert by_version("first_touch") == {"Spring sale v2": (1, 10_000), "Spring sale v1": (0, 0)}
    linear = by_version("linear")
    # Largest remainder: the first share gets the extra cent.
    assert linear["Spring sale v2"] == (pytest.approx(1 / 3, abs=1e-6), 3_334)
    assert linear["Search v1"] == (pytest.approx(1 / 3, abs=1e-6), 3_333) and linear["Direct / unmatched"][1] == 3_333
    position = by_version("position_based")
    assert position["Spring sale v2"][1] == 4_000 and position["Direct / unmatched"][1] == 2_000
    # The renewal that day belongs to the subscription's campaign (A v1) under every model.
    renewal = world.report(date(2026, 3, 29), date(2026, 3, 29), dimension=Dimension.VERSION, model="linear",
                           compare=Compare.NONE)  # fmt: skip
    assert {r.label: r.figures.renewals for r in renewal.rows}["Spring sale v1"] == 1


def test_products_channels_and_filters(world: World) -> None:
    by_product = world.report(date(2026, 3, 29), date(2026, 3, 31), dimension=Dimension.PRODUCT, compare=Compare.NONE)
    products = {r.key: r.figures for r in by_product.rows}
    assert products["prod_shoe"].orders == 3 and products["prod_sock"].orders == 1  # mar29 holds both
    assert products["prod_shoe"].money["EUR"].gross == 8_000 + 3_000  # 10,000 split 4:1, plus mar30
    assert products["prod_sock"].money["EUR"].gross == 2_000 and products["prod_sock"].money["EUR"].refunds == 400
    total = world.report(date(2026, 3, 29), date(2026, 3, 31), dimension=Dimension.PRODUCT,
                         compare=Compare.NONE).total.figures  # fmt: skip
    assert total.orders == 3  # an order with two products is still one order in the total
    sock = world.report(date(2026, 3, 29), date(2026, 3, 31), product="prod_sock", compare=Compare.NONE).total.figures
    assert sock.orders == 1 and sock.sessions == 5 and sock.money["EUR"].spend == 0
    by_channel = world.report(date(2026, 3, 29), date(2026, 3, 31), dimension=Dimension.CHANNEL, compare=Compare.NONE)
    channels = {r.key: r.figures for r in by_channel.rows}
    assert channels["google"].money["EUR"].spend == 2_000 and channels["meta"].money["EUR"].spend == 5_000
    assert channels["direct"].sessions == 2 and channels["direct"].money["USD"].gross == 2_500
    only_a = world.report(date(2026, 3, 29), date(2026, 3, 31), campaign=world.a.public_id, compare=Compare.NONE)
    assert only_a.total.figures.sessions == 2 and only_a.total.figures.money["EUR"].spend == 5_000
    early = world.report(date(2026, 3, 9), date(2026, 3, 9), dimension=Dimension.VERSION, compare=Compare.NONE)
    assert [(r.label, r.figures.money["EUR"].spend) for r in early.rows] == [("Spring sale v1", 700)]


def test_rows_by_channel_group_and_by_platform(world: World) -> None:
    """``channel`` is still the platform (the API's old dimension); ``channel_group`` groups campaigns as
    marketers do, and either can filter."""
    world.b.channel_group = "affiliates"  # edited away from its platform's default (google → paid_search)
    world.db.add(world.b)
    world.db.commit()
    start, end = date(2026, 3, 29), date(2026, 3, 31)
    by_group = world.report(start, end, dimension=Dimension.CHANNEL_GROUP, compare=Compare.NONE)
    groups = {r.key: r for r in by_group.rows}
    assert set(groups) == {"paid_social", "affiliates", "direct"}
    assert (groups["paid_social"].label, groups["affiliates"].label, groups["direct"].label) == (
        "Paid social", "Affiliates", "Direct / unmatched")  # fmt: skip
    assert groups["affiliates"].figures.money["EUR"].spend == 2_000 and groups["paid_social"].figures.sessions == 2
    by_platform = world.report(start, end, dimension=Dimension.CHANNEL, compare=Compare.NONE)
    assert {r.key for r in by_platform.rows} == {"meta", "google", "direct"}
    only = world.report(start, end, channel_group="affiliates", compare=Compare.NONE).total.figures
    assert only.money["EUR"].spend == 2_000 and only.sessions == 1
    both = world.report(start, end, channel_group="affiliates", channel="meta", compare=Compare.NONE).total.figures
    assert both.sessions == 0 and not both.money


def test_comparison_periods_and_deltas(world: World) -> None:
    report = world.report(date(2026, 3, 30), date(2026, 3, 31), compare=Compare.PREVIOUS)
    assert report.comparison == metrics.Period(date(2026, 3, 28), date(2026, 3, 29))
    assert report.total.previous is not None and report.total.previous.sessions == 3
    assert delta(report.total.figures.sessions, report.total.previous.sessions).percent == pytest.approx(0.0)
    year = metrics.comparison_period(metrics.Period(date(2026, 3, 30), date(2026, 4, 5)), "year")
    assert year == metrics.Period(date(2025, 3, 31), date(2025, 4, 6)) and year.start.weekday() == 0  # Monday again
    assert delta(5, 0).percent is None and delta(5, 0).absolute == 5  # n/a, never a division error
    assert delta(3, 4).percent == pytest.approx(-25.0)
    series = world.report(date(2026, 3, 30), date(2026, 3, 31), dimension=Dimension.DAY, compare=Compare.PREVIOUS)
    first = series.rows[0]
    assert first.key == "2026-03-30" and first.previous is not None and first.previous.sessions == 1  # Mar 28


def test_presets_and_bad_input() -> None:
    today = date(2026, 3, 31)
    assert metrics.resolve_period("last_7_days", today=today) == metrics.Period(date(2026, 3, 25), today)
    assert metrics.resolve_period("month_to_date", today=today).start == date(2026, 3, 1)
    assert metrics.resolve_period("yesterday", today=today).days == 1
    with pytest.raises(ValidationFailed, match="range must be one of"):
        metrics.resolve_period("forever", today=today)
    with pytest.raises(ValidationFailed, match="before the start"):
        metrics.resolve_period("custom", today=today, start=today, end=today - timedelta(days=1))


def test_model_and_lookback_are_checked(world: World) -> None:
    with pytest.raises(ValidationFailed, match="model must be one of"):
        world.report(date(2026, 3, 29), date(2026, 3, 29), model="data_driven")
    with pytest.raises(ValidationFailed, match="lookback must be one of"):
        world.report(date(2026, 3, 29), date(2026, 3, 29), lookback_days=3)


def _table(db: Session, account_id: int) -> tuple[list[Any], list[Any]]:
    db.expire_all()
    traffic = sorted(
        (r.day, r.campaign_id, r.campaign_version_id, r.sessions, r.visitors, r.converted_sessions)
        for r in db.exec(select(TrafficRollup).where(TrafficRollup.account_id == account_id))
    )
    sales = sorted(
        (r.day, r.model, r.campaign_id, r.campaign_version_id, r.product_id, r.price_id, r.currency,
         *(getattr(r, m) for m in rollups.SALES_MEASURES))
        for r in db.exec(select(SalesRollup).where(SalesRollup.account_id == account_id))
    )  # fmt: skip
    return traffic, sales


@pytest.mark.parametrize("source", ["rollup", "raw"])
def test_raw_and_rollups_give_identical_figures(world: World, source: str) -> None:
    for dimension in [None, *Dimension]:
        query = MetricsQuery(start=date(2026, 1, 1), end=date(2026, 3, 31), dimension=dimension, model="linear")
        rolled = metrics.metrics(session=world.db, account_id=world.account_id, query=query, source="rollup")
        raw = metrics.metrics(session=world.db, account_id=world.account_id, query=query, source=source)
        assert [(r.key, metrics.figure_dict(r.figures), metrics.figure_dict(r.previous)) for r in raw.rows] == [
            (r.key, metrics.figure_dict(r.figures), metrics.figure_dict(r.previous)) for r in rolled.rows
        ]
        assert metrics.figure_dict(raw.total.figures) == metrics.figure_dict(rolled.total.figures)


@pytest.mark.parametrize("source", ["rollup", "raw"])
def test_the_overviews_reports_read_together_equal_three_queries(world: World, source: str) -> None:
    """``overview_reports`` reads the campaigns and each period's spend once for its three reports, and SQL sums
    what a report does not tell apart (by day: every campaign of a day): the figures are those of three
    ``metrics`` queries, to the unit."""
    period, before = (
        metrics.Period(date(2026, 3, 2), date(2026, 3, 31)),
        metrics.Period(date(2026, 1, 31), date(2026, 3, 1)),
    )
    for model in ("last_touch", "linear"):
        found = metrics.overview_reports(session=world.db, account_id=world.account_id, period=period,
                                         comparison=before, model=model, source=source)  # fmt: skip
        for report, (p, dimension) in zip(
            (found.by_day, found.by_day_before, found.by_campaign),
            ((period, Dimension.DAY), (before, Dimension.DAY), (period, Dimension.CAMPAIGN)),
            strict=True,
        ):
            assert report is not None
            query = MetricsQuery(start=p.start, end=p.end, dimension=dimension, model=model, compare=Compare.NONE)
            alone = metrics.metrics(session=world.db, account_id=world.account_id, query=query, source=source)
            assert [(r.key, r.label, metrics.figure_dict(r.figures)) for r in [report.total, *report.rows]] == [
                (r.key, r.label, metrics.figure_dict(r.figures)) for r in [alone.total, *alone.rows]
            ]
        total = found.by_day.total.figures
        assert total.sessions and total.money["EUR"].spend and total.money["USD"].gross  # something to add up
    assert metrics.overview_reports(session=world.db, account_id=world.account_id, period=period, comparison=None,
                                    model="last_touch").by_day_before is None  # fmt: skip


def test_spend_summed_in_sql_equals_its_rows_added_up(world: World) -> None:
    """The reports that tell neither days nor campaigns apart read spend summed in SQL (``daily_spend(by=...)``):
    the same money, impressions and clicks per key as every stored row added up."""
    world.spend(date(2026, 2, 14), world.b, 900, currency="USD")  # a second currency, never added to euros
    world.db.commit()
    start, end = date(2026, 1, 1), date(2026, 3, 31)
    rows = spend_service.daily_spend(session=world.db, account_id=world.account_id, start=start, end=end)
    assert len({(r.day, r.campaign_id) for r in rows}) > 2 and len({r.currency for r in rows}) == 2
    for by in (frozenset(), frozenset({"day"}), frozenset({"campaign"}), frozenset({"day", "campaign"})):
        expected: dict[tuple[Any, ...], list[int]] = {}
        for r in rows:
            key = (r.currency, r.day if "day" in by else start, r.campaign_id if "campaign" in by else 0)
            sums = expected.setdefault(key, [0, 0, 0])
            sums[0], sums[1], sums[2] = sums[0] + r.amount, sums[1] + r.impressions, sums[2] + r.clicks
        summed = spend_service.daily_spend(session=world.db, account_id=world.account_id, start=start, end=end, by=by)
        assert {(r.currency, r.day, r.campaign_id): [r.amount, r.impressions, r.clicks] for r in summed} == expected
        assert len(summed) == len(expected)


def test_incremental_updates_in_any_order_equal_a_rebuild(world: World) -> None:
    db, account_id = world.db, world.account_id
    rebuilt = _table(db, account_id)
    # Start from nothing, then let every raw row "arrive" in a random order, marking days as the write paths do.
    db.execute(delete(TrafficRollup).where(TrafficRollup.account_id == account_id))
    db.execute(delete(SalesRollup).where(SalesRollup.account_id == account_id))
    db.commit()
    arrive_in_random_order(db, account_id, seed=7)
    assert _table(db, account_id) == rebuilt
    assert not db.exec(select(RollupDirty)).all()


def test_a_late_earlier_order_turns_the_later_one_returning(world: World) -> None:
    db = world.db
    later = world.order(utc(2026, 3, 31, 12), all_models(None), amount=1_000, email="carol@example.com")
    db.commit()
    rollups.mark_order_dirty(db, later)
    db.commit()
    rollups.refresh_dirty(db)
    assert world.report(date(2026, 3, 31), date(2026, 3, 31), compare=Compare.NONE).total.figures.new_customers == 1
    # Stripe reports an older order of the same customer only now (a late webhook).
    earlier = world.order(utc(2026, 3, 20, 12), all_models(None), amount=1_000, email="carol@example.com")
    db.commit()
    rollups.mark_order_dirty(db, earlier)
    db.commit()
    rollups.refresh_dirty(db)
    assert world.report(date(2026, 3, 31), date(2026, 3, 31), compare=Compare.NONE).total.figures.new_customers == 0
    assert _table(db, world.account_id) == (rollups.rebuild(db, world.account_id) and _table(db, world.account_id))


def test_a_frequent_buyers_late_order_marks_only_the_day_of_the_order_it_displaces(world: World) -> None:
    """A customer with many orders: a newly paid one can only take "first order" (new customer) from the order that
    held it, the next one by payment time; the orders after that one were returning and stay so. So its webhook
    marks its own day and that order's, not the day of every later order of the customer (thousands for a frequent
    buyer, each a day to recompute)."""
    db = world.db
    sales_marks = select(RollupDirty.day).where(RollupDirty.account_id == world.account_id, RollupDirty.kind == "sales")
    for n in range(12):  # one order a day, Apr 1 to Apr 12
        world.order(utc(2026, 4, 1 + n, 12), all_models(None), amount=1_000, email="dora@example.com")
    db.commit()
    rollups.rebuild(db, world.account_id)
    db.exec(delete(RollupDirty))
    db.commit()
    # Stripe reports an older order of the same customer only now: it becomes her first.
    earlier = world.order(utc(2026, 3, 20, 12), all_models(None), amount=1_000, email="dora@example.com")
    db.commit()
    rollups.mark_order_dirty(db, earlier)
    db.commit()
    assert sorted(db.exec(sales_marks).all()) == [date(2026, 3, 20), date(2026, 4, 1)]
    rollups.refresh_dirty(db)
    assert world.report(date(2026, 4, 1), date(2026, 4, 1), compare=Compare.NONE).total.figures.new_customers == 0
    assert world.report(date(2026, 3, 20), date(2026, 3, 20), compare=Compare.NONE).total.figures.new_customers == 1
    # One paid between two of hers changes nobody's first order: its day and the next order's at most.
    between = world.order(utc(2026, 4, 5, 18), all_models(None), amount=1_000, email="dora@example.com")
    db.commit()
    rollups.mark_order_dirty(db, between)
    db.commit()
    assert sorted(db.exec(sales_marks).all()) == [date(2026, 4, 5), date(2026, 4, 6)]
    rollups.refresh_dirty(db)
    assert _table(db, world.account_id) == (rollups.rebuild(db, world.account_id) and _table(db, world.account_id))


def test_a_customer_key_change_marks_the_old_keys_next_order(world: World) -> None:
    """An order's customer key changes when its e-mail is learnt later (Stripe's customer → the e-mail): the order
    leaves the old key. If it was the old key's first order, the old key's next order becomes its first (a new
    customer): its day must be recomputed too, or the rollups keep it returning while the raw tables say new."""
    db = world.db
    first = world.order(utc(2026, 4, 1, 12), all_models(None), amount=1_000)
    second = world.order(utc(2026, 4, 5, 12), all_models(None), amount=1_000)
    first.customer_id = second.customer_id = "cus_erin"
    for order in (first, second):
        rollups.mark_order_dirty(db, order)
    db.commit()
    rollups.refresh_dirty(db)
    assert world.report(date(2026, 4, 5), date(2026, 4, 5), compare=Compare.NONE).total.figures.new_customers == 0
    # Stripe's next event for the first order carries the buyer's e-mail: that order moves to the e-mail's key.
    first.customer_email = "erin@example.com"
    rollups.mark_order_dirty(db, first)
    db.commit()
    rollups.refresh_dirty(db)
    query = MetricsQuery(start=date(2026, 4, 5), end=date(2026, 4, 5), compare=Compare.NONE)
    for source in ("rollup", "raw"):
        report = metrics.metrics(session=db, account_id=world.account_id, query=query, source=source)
        assert report.total.figures.new_customers == 1, source
    assert _table(db, world.account_id) == (rollups.rebuild(db, world.account_id) and _table(db, world.account_id))


def test_version_comparison_uses_aligned_windows(world: World) -> None:
    windows = metrics.version_comparison(session=world.db, account_id=world.account_id,
                                         campaign_public_id=world.a.public_id)  # fmt: skip
    assert [w.number for w in windows] == [1, 2]
    v1, v2 = windows
    # v1 was live from Jan 1 to Mar 9 (68 days), v2 since Mar 10: both windows are v1's 68 days long at most.
    assert (v1.start, v1.live_days) == (date(2026, 1, 1), 68)
    assert v2.start == date(2026, 3, 10) and (v2.end - v2.start).days + 1 <= 68
    assert v1.figures.sessions == 2 and v1.figures.money["EUR"].gross == 1_500  # the month-end pair; the subscription
    assert v2.figures.sessions == 3 and v2.figures.orders == 1 and v2.figures.money["EUR"].gross == 3_000
    assert v2.figures.money["EUR"].spend == 5_000 and v1.figures.money["EUR"].spend == 700


def test_conversion_rate_counts_sessions_that_converted(db: Session) -> None:
    """Orders are credited by the attribution model and may come from other sessions than the ones counted (a direct
    return visit, a second order in one visit): the rate is converted sessions / sessions, one population, so the
    "Versions compared" table can no longer show 15 orders on 14 sessions as 107 %."""
    w = World(db)
    ad = w.visit(utc(2026, 4, 1, 9), w.a2, "ann")  # Spring sale v2's ad
    w.visit(utc(2026, 4, 1, 12), w.a2, "cy")  # another visit from the ad, no order
    back = w.visit(utc(2026, 4, 2, 9), None, "ann")  # Ann comes back directly
    w.visit(utc(2026, 4, 2, 10), w.b1, "bob")
    # Two orders in the ad's visit and one in the direct one: last touch credits all three to Spring sale v2.
    w.order(utc(2026, 4, 1, 9, 30), all_models(w.a2), amount=1_000, session=ad, visitor="ann")
    w.order(utc(2026, 4, 1, 9, 40), all_models(w.a2), amount=1_000, session=ad, visitor="ann")
    w.order(utc(2026, 4, 2, 9, 30), all_models(w.a2), amount=1_000, session=back, visitor="ann")
    # A checkout started without a session id converted the visitor's latest session before it (Bob's Search visit).
    w.order(utc(2026, 4, 2, 10, 30), all_models(w.b1), amount=2_000, visitor="bob",
            items=[("prod_sock", "price_sock", 2_000, 1)])  # fmt: skip
    db.commit()
    rollups.rebuild(db, w.account_id)

    for source in ("rollup", "raw"):
        query = MetricsQuery(start=date(2026, 4, 1), end=date(2026, 4, 2), dimension=Dimension.VERSION,
                             compare=Compare.NONE)  # fmt: skip
        report = metrics.metrics(session=db, account_id=w.account_id, query=query, source=source)
        rows = {r.label: r.figures for r in report.rows}
        spring = rows["Spring sale v2"]
        assert spring.conversion_rate == pytest.approx(0.5)  # was orders / sessions: 150 %
        assert (spring.sessions, spring.orders, spring.converted_sessions) == (2, 3, 1)
        direct = rows["Direct / unmatched"]  # the return visit converted, though its order went to the ad
        assert (direct.sessions, direct.orders, direct.converted_sessions) == (1, 0, 1)
        assert rows["Search v1"].converted_sessions == 1
        assert report.total.figures.conversion_rate == pytest.approx(3 / 4)
    # A product filter keeps every session and counts those that converted with the product in the order.
    sock = w.report(date(2026, 4, 1), date(2026, 4, 2), product="prod_sock", compare=Compare.NONE).total.figures
    assert (sock.sessions, sock.converted_sessions, sock.conversion_rate) == (4, 1, 0.25)
    # Alerts read the same definition over their windows.
    window = metrics.window_figures(session=db, account_id=w.account_id, start=utc(2026, 4, 1), end=utc(2026, 4, 3))
    assert window.campaign(w.a.id or 0).conversion_rate == pytest.approx(0.5)
    [_v1, v2] = metrics.version_comparison(session=db, account_id=w.account_id, campaign_public_id=w.a.public_id)
    assert (v2.figures.sessions, v2.figures.orders, v2.figures.conversion_rate) == (2, 3, 0.5)


def test_a_payment_marks_the_day_of_the_session_it_converted(db: Session) -> None:
    w = World(db)
    key = w.visit(utc(2026, 4, 1, 21, 30), w.a2, "ann")  # 23:30 on Apr 1 in Paris
    db.commit()
    rollups.rebuild(db, w.account_id)
    order = w.order(utc(2026, 4, 3, 9), all_models(w.a2), amount=1_000, session=key)  # paid two days later
    db.commit()
    rollups.mark_order_dirty(db, order)
    db.commit()
    assert (date(2026, 4, 1), rollups.TRAFFIC) in {(d.day, d.kind) for d in db.exec(select(RollupDirty))}
    rollups.refresh_dirty(db)
    day = w.report(date(2026, 4, 1), date(2026, 4, 1), compare=Compare.NONE).total.figures
    assert (day.sessions, day.converted_sessions, day.orders) == (1, 1, 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_conversion_rate_never_exceeds_one(db: Session, data: st.DataObject) -> None:
    """Random sessions and paid orders (linked to a session, to a visitor only, or to nothing; credited to any
    version; paid any time): every conversion rate, by every dimension, from rollups, raw tables and alert windows,
    is between 0 and 1."""
    w = World(db)
    versions = [w.a1, w.a2, w.b1, None]
    moments = st.builds(lambda day, minute: utc(2026, 4, 1) + timedelta(days=day, minutes=minute),
                        st.integers(0, 2), st.integers(0, 24 * 60 - 1))  # fmt: skip
    visitors = st.sampled_from(["ann", "bob", "cy"])
    sessions = [
        (w.visit(at, data.draw(st.sampled_from(versions)), visitor), visitor)
        for at, visitor in data.draw(st.lists(st.tuples(moments, visitors), max_size=6))
    ]
    for _ in range(data.draw(st.integers(0, 8))):
        link = data.draw(st.sampled_from([None, *sessions]))
        version = data.draw(st.sampled_from(versions))
        w.order(data.draw(moments), all_models(version), amount=1_000, session=link[0] if link else None,
                visitor=link[1] if link else data.draw(visitors))  # fmt: skip
    db.commit()
    rollups.rebuild(db, w.account_id)

    def check(figures: metrics.Figures) -> None:
        rate = figures.conversion_rate
        assert rate is None or 0 <= rate <= 1, (figures.sessions, figures.orders)

    for dimension in (None, Dimension.CAMPAIGN, Dimension.VERSION, Dimension.CHANNEL, Dimension.DAY):
        for source in ("rollup", "raw"):
            query = MetricsQuery(start=date(2026, 4, 1), end=date(2026, 4, 3), dimension=dimension)
            report = metrics.metrics(session=db, account_id=w.account_id, query=query, source=source)
            for row in [report.total, *report.rows]:
                check(row.figures)
    window = metrics.window_figures(session=db, account_id=w.account_id, start=utc(2026, 4, 1), end=utc(2026, 4, 4))
    for figures in [*window.campaigns.values(), *window.versions.values()]:
        check(figures)


def test_cpa_is_na_without_spend(world: World) -> None:
    """Orders but no spend: CPA is n/a (None), as ROAS is, never 0.00 (which reads as free customers)."""
    report = world.report(date(2026, 3, 30), date(2026, 3, 30), dimension=Dimension.CAMPAIGN, compare=Compare.NONE)
    direct = {r.label: r.figures for r in report.rows}["Direct / unmatched"]
    assert direct.orders == 1 and direct.money["USD"].spend == 0
    assert direct.cpa("USD") is None and direct.roas("USD") is None
    assert metrics.figure_dict(direct)["money"]["USD"]["cpa"] is None  # the API, CSV and assistant read this
    assert report.total.figures.cpa("EUR") == pytest.approx(2_000 / 2)  # with spend: spend / orders
