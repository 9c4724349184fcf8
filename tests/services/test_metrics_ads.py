"""The ``ad_set`` and ``ad`` dimensions of the metrics: a shop whose Meta campaign has two ad sets of two ads (one ad
set and one ad the platform never reported, one landing without ids), every figure worked out in advance; the
ad-level rollups equal the raw computation after a rebuild and after incremental updates."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import Session, delete, select

from app.models import (
    AdConnection,
    AdSalesRollup,
    AdTrafficRollup,
    Order,
    PlatformCampaign,
    RollupDirty,
)
from app.services import metrics, rollups
from app.services.errors import ValidationFailed
from app.services.metrics import Dimension, MetricsQuery
from tests.utils.ad_shop import END, START, AdShop, ad_shop
from tests.utils.rollup_arrivals import arrive_in_random_order


@pytest.fixture
def shop(db: Session) -> AdShop:
    return ad_shop(db)


def _rows(report: metrics.MetricsReport) -> dict[str, tuple[Any, ...]]:
    return {
        r.key: (r.label, r.figures.sessions, r.figures.visitors, r.figures.converted_sessions,
                round(r.figures.orders, 6), {c: (m.net, m.spend) for c, m in sorted(r.figures.money.items())})
        for r in report.rows
    }  # fmt: skip


def test_rows_by_ad_set_with_synced_names_an_unknown_id_and_the_none_bucket(shop: AdShop) -> None:
    report = shop.report(START, END, dimension=Dimension.AD_SET)
    assert _rows(report) == {
        "1202": ("Broad · Meta · EUR", 2, 2, 1, 1.0, {"EUR": (10_000, 6_000)}),
        "9999": ("9999 · Meta · EUR", 1, 1, 1, 1.0, {"EUR": (5_000, 0)}),
        "1302": ("Lookalike · Meta · EUR", 1, 1, 0, 0.0, {"EUR": (0, 2_000)}),
        # s5, B's s6, the direct s7 and s8 (a keyword, not an id); orders 3–5; B's CSV spend.
        "none": ("No ad set", 4, 4, 1, 3.0, {"EUR": (5_000, 700), "USD": (1_000, 0)}),
    }
    assert [r.key for r in report.rows] == ["1202", "none", "9999", "1302"]  # by net revenue
    total = report.total.figures
    assert (total.sessions, total.orders) == (8, 5.0)
    assert {c: (m.net, m.spend) for c, m in total.money.items()} == {"EUR": (20_000, 8_700), "USD": (1_000, 0)}
    broad = next(r for r in report.rows if r.key == "1202").figures
    assert broad.roas("EUR") == pytest.approx(10_000 / 6_000)
    assert broad.cpa("EUR") == pytest.approx(6_000)
    assert broad.conversion_rate == pytest.approx(0.5)


def test_rows_by_ad_and_the_linear_model_splits_an_order_across_its_touches(shop: AdShop) -> None:
    by_ad = _rows(shop.report(START, END, dimension=Dimension.AD))
    assert by_ad["1203"] == ("Video · Meta · EUR", 1, 1, 1, 1.0, {"EUR": (10_000, 4_000)})
    assert by_ad["1204"] == ("Static · Meta · EUR", 1, 1, 0, 0.0, {"EUR": (0, 2_000)})
    assert by_ad["1303"] == ("Carousel · Meta · EUR", 1, 1, 0, 0.0, {"EUR": (0, 1_200)})
    assert by_ad["1304"] == ("Story · Meta · EUR", 0, 0, 0, 0.0, {"EUR": (0, 800)})
    assert by_ad["9998"] == ("9998 · Meta · EUR", 1, 1, 1, 1.0, {"EUR": (5_000, 0)})
    assert by_ad["none"][0] == "No ad"
    linear = _rows(shop.report(START, END, dimension=Dimension.AD, model="linear"))
    assert linear["1203"][4:] == (0.5, {"EUR": (5_000, 4_000)})
    assert linear["1303"][4:] == (0.5, {"EUR": (5_000, 1_200)})


def test_filters_and_bad_input(shop: AdShop) -> None:
    only_a = _rows(shop.report(START, END, dimension=Dimension.AD_SET, campaign=shop.a.public_id))
    assert only_a["none"] == ("No ad set", 2, 2, 1, 1.0, {"EUR": (2_000, 0)})  # s5 and s8; the order of s5
    assert set(only_a) == {"1202", "1302", "9999", "none"}
    assert set(_rows(shop.report(START, END, dimension=Dimension.AD_SET, channel="google"))) == {"none"}
    with pytest.raises(ValidationFailed) as error:
        shop.report(START, END, dimension=Dimension.AD, product="prod_shoe")
    assert error.value.field == "product"


def test_a_campaign_mapped_later_needs_no_rebuild(shop: AdShop) -> None:
    connection = shop.db.exec(select(AdConnection).where(AdConnection.account_id == shop.account_id)).one()
    shop.db.add(PlatformCampaign(account_id=shop.account_id, connection_id=connection.id or 0, external_id="777",
                                 name="Search", campaign_id=shop.b.id, mapped_by="manual"))  # fmt: skip
    shop.db.commit()
    rows = _rows(shop.report(START, END, dimension=Dimension.AD_SET))
    assert rows["5555"] == ("5555 · Meta · EUR", 1, 1, 0, 1.0, {"EUR": (3_000, 0)})


def _ad_tables(db: Session, account_id: int) -> tuple[list[Any], list[Any]]:
    db.expire_all()
    traffic = sorted(
        (r.day, r.campaign_id, r.adset_id, r.ad_id, r.sessions, r.visitors, r.converted_sessions)
        for r in db.exec(select(AdTrafficRollup).where(AdTrafficRollup.account_id == account_id))
    )
    sales = sorted(
        (r.day, r.model, r.campaign_id, r.adset_id, r.ad_id, r.currency,
         *(getattr(r, m) for m in rollups.SALES_MEASURES))
        for r in db.exec(select(AdSalesRollup).where(AdSalesRollup.account_id == account_id))
    )  # fmt: skip
    return traffic, sales


@pytest.mark.parametrize("model", ["last_touch", "linear", "position_based", "time_decay"])
def test_rollups_equal_the_raw_figures(shop: AdShop, model: str) -> None:
    for dimension in (Dimension.AD_SET, Dimension.AD):
        for campaign in (None, shop.a.public_id):
            query = MetricsQuery(start=date(2026, 3, 28), end=END, dimension=dimension, model=model, campaign=campaign)
            rolled = metrics.metrics(session=shop.db, account_id=shop.account_id, query=query, source="rollup")
            raw = metrics.metrics(session=shop.db, account_id=shop.account_id, query=query, source="raw")
            assert [(r.key, r.label, metrics.figure_dict(r.figures)) for r in rolled.rows] == [
                (r.key, r.label, metrics.figure_dict(r.figures)) for r in raw.rows
            ]
            assert rolled.rows


def test_ad_level_sales_sum_to_the_campaign_rollup_exactly(shop: AdShop) -> None:
    zone = rollups.account_zone(shop.db, shop.account_id)
    campaign_level = rollups.sales_for_day(shop.db, shop.account_id, START, zone)
    ad_level = rollups.ad_sales_for_day(shop.db, shop.account_id, START, zone)
    for model in rollups.MODELS:
        for campaign_id in {c for (m, c, *_rest) in campaign_level if m == model}:
            for measure in rollups.SALES_MEASURES:
                expected = sum(v[measure] for (m, c, _v, p, _pr, _cur), v in campaign_level.items()
                               if m == model and c == campaign_id and not p)  # fmt: skip
                found = sum(v[measure] for (m, c, *_r), v in ad_level.items() if m == model and c == campaign_id)
                assert found == expected, (model, campaign_id, measure)


def test_incremental_updates_in_any_order_equal_a_rebuild(shop: AdShop) -> None:
    db, account_id = shop.db, shop.account_id
    rebuilt = _ad_tables(db, account_id)
    assert rebuilt[0] and rebuilt[1]
    db.execute(delete(AdTrafficRollup).where(AdTrafficRollup.account_id == account_id))  # type: ignore[arg-type]
    db.execute(delete(AdSalesRollup).where(AdSalesRollup.account_id == account_id))  # type: ignore[arg-type]
    db.commit()
    arrive_in_random_order(db, account_id, seed=11)
    assert _ad_tables(db, account_id) == rebuilt
    assert not db.exec(select(RollupDirty)).all()


def test_a_snapshot_stored_data_cannot_break(shop: AdShop) -> None:
    """Touches with a naive or unreadable time: the order counts under no ad set, the read does not fail."""
    order = shop.db.exec(select(Order).where(Order.account_id == shop.account_id, Order.amount_paid == 5_000)).one()
    order.attribution = {**order.attribution, "touches": [{"at": "yesterday", "utm_term": "9999"}]}  # type: ignore[dict-item]
    shop.db.add(order)
    shop.db.commit()
    rollups.rebuild(shop.db, shop.account_id)
    rows = _rows(shop.report(START, END, dimension=Dimension.AD_SET))
    assert rows["9999"][4] == 0.0 and rows["none"][4] == 4.0
