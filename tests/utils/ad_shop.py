"""A shop whose Meta campaign has two ad sets of two ads, with sessions and orders landing from them (and from an
ad set the platform never reported, from no ids, from an unmapped campaign, direct): the ad_set / ad dimension tests'
data, written straight to the tables like tests/utils/world.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from app.models import AdConnection, AdSpend, CampaignVersion, Order, PlatformCampaign, PlatformDaily, VisitSession
from app.models.base import new_public_id
from app.services import rollups
from tests.utils.world import World, all_models, utc

START, END = date(2026, 4, 1), date(2026, 4, 2)
# Meta's "Spring sale – prospecting" (1201): ad set Broad (1202: ads Video 1203, Static 1204) and Lookalike (1302:
# ads Carousel 1303, Story 1304). Per day: (level, id, name, ad set, spend).
PLATFORM_ROWS = [
    ("adset", "1202", "Broad", "1202", 3_000), ("adset", "1302", "Lookalike", "1302", 1_000),
    ("ad", "1203", "Video", "1202", 2_000), ("ad", "1204", "Static", "1202", 1_000),
    ("ad", "1303", "Carousel", "1302", 600), ("ad", "1304", "Story", "1302", 400),
]  # fmt: skip


class AdShop(World):
    """Campaign A (meta) mapped to Meta's 1201; B (google) mapped to nothing."""

    def __init__(self, db: Session) -> None:
        super().__init__(db)
        connection = AdConnection(public_id=new_public_id("adc"), account_id=self.account_id, platform="meta",
                                  ad_account_id="1234567", currency="EUR", timezone="Europe/Paris")  # fmt: skip
        db.add(connection)
        db.flush()
        db.add(PlatformCampaign(account_id=self.account_id, connection_id=connection.id or 0, external_id="1201",
                                name="Spring sale – prospecting", campaign_id=self.a.id, mapped_by="url"))  # fmt: skip
        for day in (START, END):
            for level, external_id, name, adset, spend in PLATFORM_ROWS:
                db.add(PlatformDaily(connection_id=connection.id or 0, level=level, external_id=external_id, day=day,
                                     account_id=self.account_id, campaign_external_id="1201", adset_external_id=adset,
                                     name=name, currency="EUR", spend=spend, impressions=100, clicks=10))  # fmt: skip
            # What the sync writes at campaign level, and B's spend from a CSV (no ad set: the "No ad set" row).
            db.add(AdSpend(account_id=self.account_id, day=day, campaign_id=self.a.id or 0, currency="EUR",
                           amount=4_000, impressions=200, clicks=20, source="meta"))  # fmt: skip
        self.spend(START, self.b, 700)
        db.commit()

    def landing(self, at: datetime, version: CampaignVersion | None, visitor: str, term: str | None = None,
                content: str | None = None) -> str:  # fmt: skip
        key = self.visit(at, version, visitor)
        self.db.flush()
        stored = self.db.exec(select(VisitSession).where(VisitSession.session_key == key)).one()
        stored.utm_term, stored.utm_content = term, content
        self.db.add(stored)
        return key

    def paid(self, at: datetime, touches: list[tuple[datetime, CampaignVersion | None, str | None, str | None]],
             amount: int, *, session: str | None = None, currency: str = "EUR") -> Order:  # fmt: skip
        """An order whose snapshot has ``touches`` (at, version, utm_term, utm_content) and every model's credit
        wholly to the last touch's version (their campaign here is always one version)."""
        version = touches[-1][1] if touches else None
        order = self.order(at, all_models(version), amount=amount, session=session, currency=currency)
        order.attribution = {
            **order.attribution,  # type: ignore[dict-item]
            "at": (at - timedelta(minutes=5)).isoformat(),
            "touches": [{"at": t.isoformat(), "utm_term": term, "utm_content": content,
                         "campaign_version": v.public_id if v else None} for t, v, term, content in touches],
        }  # fmt: skip
        self.db.add(order)
        return order


def ad_shop(db: Session) -> AdShop:
    """The shop with two ad sets of two ads whose figures tests/services/test_metrics_ads.py works out. Rolled up."""
    w = AdShop(db)
    a2, b1 = w.a2, w.b1
    morning = utc(2026, 4, 1, 8)
    s1 = w.landing(morning, a2, "v1", "1202", "1203")
    w.landing(morning, a2, "v2", "1202", "1204")
    w.landing(morning, a2, "v3", "1302", "1303")
    s4 = w.landing(morning, a2, "v4", "9999", "9998")  # ids the platform never reported
    s5 = w.landing(morning, a2, "v5")  # a landing without the URL template
    w.landing(morning, b1, "v6", "5555", "5556")  # B is mapped to no platform campaign
    w.landing(morning, None, "v7")  # direct
    w.landing(morning, a2, "v8", "running shoes", "banner")  # not platform ids: none
    db.flush()
    # Paid Apr 1: the first came from Lookalike/Carousel then Broad/Video (last touch: Video; linear: half each).
    w.paid(utc(2026, 4, 1, 10), [(utc(2026, 3, 30, 9), a2, "1302", "1303"), (morning, a2, "1202", "1203")],
           10_000, session=s1)  # fmt: skip
    w.paid(utc(2026, 4, 1, 11), [(morning, a2, "9999", "9998")], 5_000, session=s4)
    w.paid(utc(2026, 4, 1, 12), [(morning, a2, None, None)], 2_000, session=s5)
    w.paid(utc(2026, 4, 1, 13), [(morning, b1, "5555", "5556")], 3_000)
    w.paid(utc(2026, 4, 1, 14), [], 1_000, currency="USD")  # direct, in dollars
    db.commit()
    rollups.rebuild(db, w.account_id)
    return w
