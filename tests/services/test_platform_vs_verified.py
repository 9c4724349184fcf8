"""Platform claims against Stripe-verified figures, on the metrics tests' known shop (tests/utils/world.py) with
Meta and Google reports synced from the recording APIs: every figure worked out in advance."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import Session, select

from app.services import ad_connections, ad_sync, platform_mapping
from app.services import platform_vs_verified as pvv
from tests.utils.ad_reports import google_row, meta_row
from tests.utils.world import World, known_answers_world

SPRING = ("1201", "Spring sale – prospecting")
OTHER = ("1301", "Retargeting")
SEARCH = ("456", "Search – brand")


@pytest.fixture
def shop(db: Session, ad_platforms: Any) -> World:
    w = known_answers_world(db)
    ad_platforms.meta_accounts["1234567"] = {"name": "Shop", "currency": "EUR", "timezone_name": "Europe/Paris"}
    ad_platforms.google_customers["1234567890"] = {"descriptiveName": "Shop search", "currencyCode": "EUR",
                                                   "timeZone": "Europe/Paris"}  # fmt: skip
    ad_platforms.meta_rows[:] = [
        # Meta claims 3 purchases worth 240 € for Spring sale (the shop was paid 1 order): over-reporting ×3.
        meta_row("2026-03-29", SPRING, ("1202", "Broad"), ("1203", "Video"), spend="40.00", purchases=2, value="160"),
        meta_row("2026-03-30", SPRING, ("1202", "Broad"), ("1204", "Static"), spend="10.00", purchases=1, value="80"),
        meta_row("2026-03-30", OTHER, ("1302", "Visitors"), ("1303", "Carousel"), spend="12.00", purchases=1,
                 value="30"),
    ]  # fmt: skip
    ad_platforms.google_rows[:] = [
        google_row("2026-03-30", SEARCH, ("457", "Exact"), ("458", "RSA"), cost_micros=20_000_000, conversions=0.5,
                   value=50.0),
    ]  # fmt: skip
    for platform, settings, credentials in (
        ("meta", {"ad_account_id": "1234567"}, {"access_token": "EAAB-known-shop-token"}),
        ("google", {"customer_id": "1234567890"}, {"oauth_client_id": "client-known-shop",
                                                   "oauth_client_secret": "secret-known-shop",
                                                   "refresh_token": "1//refresh-known-shop"}),
    ):  # fmt: skip
        ad_connections.connect(session=db, actor=w.actor, platform=platform, settings=settings,
                               credentials=credentials)  # fmt: skip
    db.commit()
    for connection in ad_connections.list_connections(session=db, account_id=w.account_id):
        stored = ad_connections.get_connection(session=db, account_id=w.account_id, public_id=connection.public_id)
        stored.sync_state = ad_sync.plan("backfill", date(2026, 3, 28), date(2026, 3, 31))
        assert ad_sync.sync_connection(db, stored).status == "done"
    for ref, campaign in (("meta:1201", w.a), ("google:456", w.b)):
        platform_mapping.map_campaign(session=db, actor=w.actor, ref=ref, campaign_public_id=campaign.public_id)
    db.commit()
    return w


def test_claimed_against_verified_per_campaign(db: Session, shop: World) -> None:
    report = pvv.platform_vs_verified(session=db, account_id=shop.account_id, start=date(2026, 3, 28),
                                      end=date(2026, 3, 31), compare="none")  # fmt: skip
    rows = {r.campaign_name: r for r in report.rows}
    assert list(rows) == ["Spring sale", "Search", ""]  # mapped by claimed spend, the unmapped last
    spring = rows["Spring sale"]
    assert spring.platforms == ("meta",)
    assert (spring.claimed.currency, spring.claimed.spend, spring.claimed.purchases, spring.claimed.value) == (
        "EUR", 5_000, 3.0, 24_000,
    )  # fmt: skip
    # Verified (last touch): the Mar 30 order (30 €) and the subscription's renewal on Mar 29 (15 €).
    assert (spring.verified_orders, spring.verified_net) == (1.0, {"EUR": 4_500})
    assert spring.reporting_ratio == pytest.approx(3.0)
    assert spring.platform_roas == pytest.approx(240 / 50)
    assert spring.verified_roas == pytest.approx(45 / 50)
    search = rows["Search"]
    # Google's half conversion against the Mar 29 order of 100 €, 20 € refunded on Mar 31: under-reporting.
    assert (search.claimed.purchases, search.verified_orders, search.verified_net) == (0.5, 1.0, {"EUR": 8_000})
    assert search.reporting_ratio == pytest.approx(0.5)
    assert (search.platform_roas, search.verified_roas) == (pytest.approx(50 / 20), pytest.approx(80 / 20))
    unmapped = rows[""]
    assert (unmapped.claimed.spend, unmapped.claimed.purchases, unmapped.verified_orders) == (1_200, 1.0, 0.0)
    assert unmapped.reporting_ratio is None and unmapped.verified_roas is None
    assert not report.timezones_differ


def test_one_campaign_day_by_day_and_the_comparison(db: Session, shop: World) -> None:
    days = pvv.daily_claims(session=db, account_id=shop.account_id, campaign_public_id=shop.a.public_id,
                            start=date(2026, 3, 29), end=date(2026, 3, 31))  # fmt: skip
    assert [(d.day.day, d.claimed_purchases, d.verified_orders) for d in days] == [
        (29, 2.0, 0.0), (30, 1.0, 1.0), (31, 0.0, 0.0),
    ]  # fmt: skip
    report = pvv.platform_vs_verified(session=db, account_id=shop.account_id, start=date(2026, 3, 30),
                                      end=date(2026, 3, 31), campaign_public_id=shop.a.public_id)  # fmt: skip
    [row] = report.rows
    assert (row.claimed.purchases, row.verified_orders) == (1.0, 1.0)
    previous = report.previous[shop.a.public_id]  # Mar 28–29
    assert (previous.claimed.purchases, previous.verified_orders) == (2.0, 0.0)
    assert previous.reporting_ratio is None  # claims without a verified order: no ratio, not infinity


def test_the_assistants_tool_reads_the_same_figures(db: Session, shop: World) -> None:
    from app.services import assistant_tools

    result = assistant_tools.platform_vs_verified(db, shop.actor, start="2026-03-28", end="2026-03-31", compare="none")
    assert "error" not in result, result
    spring = next(c for c in result["campaigns"] if c["campaign"] == shop.a.public_id)
    assert (spring["claimed_purchases"], spring["verified_orders"], spring["reporting_ratio"]) == (3.0, 1.0, 3.0)
    assert spring["spend_formatted"] == "€50.00" and spring["verified_net"]["EUR"]["amount"] == 4_500
    assert assistant_tools.summary("platform_vs_verified", {}, result) == (
        "platform claims vs verified, 2026-03-28 – 2026-03-31, last touch"
    )
    assert "error" in assistant_tools.platform_vs_verified(db, shop.actor, campaign="cmp_nope")


def test_an_alert_rule_fires_when_meta_over_reports_a_campaign(db: Session, ad_platforms: Any) -> None:
    """ "Meta over-reports Spring sale by more than 30 % over 7 days": 3 claimed purchases, 1 paid order → +200 %."""
    from app.models import AlertRule
    from app.services import alerts, rollups
    from app.services.alerts.evaluation import evaluate
    from tests.utils.world import all_models, utc

    w = World(db)
    w.order(utc(2026, 6, 1, 8), all_models(w.a2), amount=5_000)
    ad_platforms.meta_accounts["1234567"] = {"name": "Shop", "currency": "EUR", "timezone_name": "Europe/Paris"}
    ad_platforms.meta_rows[:] = [
        meta_row("2026-05-30", SPRING, ("1202", "Broad"), ("1203", "Video"), spend="40.00", purchases=2, value="160"),
        meta_row("2026-06-01", SPRING, ("1202", "Broad"), ("1203", "Video"), spend="10.00", purchases=1, value="50"),
    ]  # fmt: skip
    ad_connections.connect(session=db, actor=w.actor, platform="meta", settings={"ad_account_id": "1234567"},
                           credentials={"access_token": "EAAB-alert-shop-token"})  # fmt: skip
    db.commit()
    [row] = ad_connections.list_connections(session=db, account_id=w.account_id)
    connection = ad_connections.get_connection(session=db, account_id=w.account_id, public_id=row.public_id)
    connection.sync_state = ad_sync.plan("backfill", date(2026, 5, 26), date(2026, 6, 1))
    assert ad_sync.sync_connection(db, connection).status == "done"
    platform_mapping.map_campaign(session=db, actor=w.actor, ref="meta:1201", campaign_public_id=w.a.public_id)
    db.commit()
    rollups.rebuild(db, w.account_id)
    data = {"name": "Meta over-reports Spring sale", "campaign": w.a.public_id, "metric": "platform_over_reporting",
            "comparator": "above", "threshold": 30, "window": "7d", "min_sessions": 0,
            "recipient_emails": "ops@shop.test"}  # fmt: skip
    public_id = alerts.create_rule(session=db, actor=w.actor, data=data).public_id
    db.commit()
    stored = db.exec(select(AlertRule).where(AlertRule.public_id == public_id)).one()
    [result] = evaluate(db, stored, now=utc(2026, 6, 1, 12))
    assert result.verdict == "breached" and result.value == pytest.approx(200.0)
    assert "200" in result.summary
    # A day later the two claims of May 30 are still in the 7 days; with a threshold of 250 it holds.
    stored.threshold = 250
    [calm] = evaluate(db, stored, now=utc(2026, 6, 2, 12))
    assert calm.verdict == "ok" and calm.value == pytest.approx(200.0)


def test_ad_sets_and_ads_with_orders_by_the_last_touchs_url_ids(db: Session, shop: World) -> None:
    # The Mar 30 order's last touch landed from the "Static" ad of the "Broad" ad set (URL template ids).
    shop.mar30.attribution = {**shop.mar30.attribution, "touches": [{"utm_term": "1202", "utm_content": "1204"}]}
    db.add(shop.mar30)
    db.commit()
    rows = pvv.breakdown(session=db, account_id=shop.account_id, campaign_public_id=shop.a.public_id,
                         start=date(2026, 3, 28), end=date(2026, 3, 31))  # fmt: skip
    assert [(r.level, r.name, r.claimed.spend, r.claimed.purchases, r.verified_orders) for r in rows] == [
        ("adset", "Broad", 5_000, 3.0, 1),
        ("ad", "Video", 4_000, 2.0, 0),
        ("ad", "Static", 1_000, 1.0, 1),
    ]
    assert [r.reporting_ratio for r in rows] == [pytest.approx(3.0), None, pytest.approx(1.0)]
    assert rows[0].platform_roas == pytest.approx(240 / 50)
    assert pvv.breakdown(session=db, account_id=shop.account_id, campaign_public_id=shop.b.public_id,
                         start=date(2026, 3, 31), end=date(2026, 3, 31)) == []  # fmt: skip
