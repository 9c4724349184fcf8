"""Platform campaigns mapped to PaidSignal campaigns: by the ids landing URLs carry (captured at ingest), by hand
(suggested by name), never across currencies; unmapped ones listed with their spend; synced spend follows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from app.models import AdSpend, Event, PlatformCampaign, Touch, VisitSession
from app.models.base import utcnow
from app.services import ad_sync, attribution, campaigns, platform_mapping
from app.services.errors import NotFound, ValidationFailed
from app.services.ingest import IngestContext, Source, ingest_now
from app.services.permissions import Actor
from tests.services.test_ad_sync import (
    TODAY,
    _connect_google,
    _connect_meta,
    _d,
    _google_world,
    _meta_world,
    _run,
    fast_polls,  # noqa: F401  (a fixture)
)
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import make_owner


def _active(db: Session, actor: Actor, name: str, channel: str, utm_campaign: str) -> Any:
    row = campaigns.create_campaign(session=db, actor=actor, name=name, channel=channel)
    rules = [{"conditions": [{"field": "utm_campaign", "value": utm_campaign}]}]
    campaigns.publish(session=db, actor=actor, campaign_public_id=row.public_id, config={"matching_rules": rules})
    db.commit()
    return row


def _land(account_id: int, session_id: str, url: str, **fields: Any) -> None:
    ingest_now([event(session_id=session_id, visitor_id=f"v-{session_id}", url=url, **fields)],
               IngestContext(account_id=account_id, source=Source.BROWSER, user_agent=DESKTOP_UA))  # fmt: skip


def test_ingest_keeps_the_platform_ids_of_the_landing_url(db: Session) -> None:
    account, _, _ = make_owner(db)
    # pixel.js sends utm_id and gad_campaignid; a server sender's event only has them in its URL.
    _land(account.id, "s1", "https://shop.example/?utm_campaign=spring&utm_id=1201&utm_term=1202&utm_content=1203",
          utm_campaign="spring", utm_id="1201", utm_term="1202", utm_content="1203")  # fmt: skip
    _land(account.id, "s2", "https://shop.example/?utm_source=google&gad_source=1&gad_campaignid=456&gclid=Cj0")
    s1 = db.exec(select(VisitSession).where(VisitSession.session_key == "s1")).one()
    assert (s1.utm_id, s1.utm_term, s1.utm_content) == ("1201", "1202", "1203")
    s2 = db.exec(select(VisitSession).where(VisitSession.session_key == "s2")).one()
    assert s2.gad_campaignid == "456"
    touches = {t.session_key: (t.utm_id, t.gad_campaignid) for t in db.exec(select(Touch)).all()}
    assert touches == {"s1": ("1201", None), "s2": (None, "456")}  # a Google ad's id alone makes a touch
    assert db.exec(select(Event.gad_campaignid).where(Event.session_key == "s2")).one() == "456"
    # An order's attribution snapshot keeps the ad set and ad ids of its touches (the ad set / ad breakdown reads them).
    taken = attribution.snapshot(session=db, account_id=account.id, visitor_key="v-s1", at=utcnow())
    assert (taken["touches"][-1]["utm_term"], taken["touches"][-1]["utm_content"]) == ("1202", "1203")


def test_url_ids_map_platform_campaigns_and_synced_spend_follows(db: Session, ad_platforms: Any) -> None:
    _meta_world(ad_platforms)
    _google_world(ad_platforms)
    account, _, owner = make_owner(db)
    brand = _active(db, owner, "Brand", "meta", "brand")
    search = _active(db, owner, "Search brand", "google", "search")
    _land(account.id, "m1", "https://shop.example/?utm_campaign=brand&utm_id=1201", utm_campaign="brand",
          utm_id="1201")  # fmt: skip
    _land(account.id, "g1", "https://shop.example/?utm_campaign=search&gad_campaignid=456", utm_campaign="search")
    for connection in (_connect_meta(db, owner), _connect_google(db, owner)):
        connection.sync_state = ad_sync.plan("hourly", TODAY - timedelta(days=2), TODAY)
        db.commit()
        assert _run(db, connection).status == "done"
    mapped = {p.external_id: (p.campaign_id, p.mapped_by) for p in db.exec(select(PlatformCampaign)).all()}
    brand_id = db.exec(select(AdSpend.campaign_id).where(AdSpend.source == "meta")).first()
    assert mapped["1201"] == (brand_id, "url") and mapped["456"][1] == "url"
    spend = {(s.campaign_id, s.day.isoformat()): (s.amount, s.currency, s.source) for s in db.exec(select(AdSpend))}
    assert spend[(brand_id, _d(1))] == (6340, "USD", "meta")
    assert spend[(mapped["456"][0], _d(1))] == (1450, "EUR", "google")
    listed = platform_mapping.list_platform_campaigns(session=db, account_id=account.id, since=TODAY - timedelta(30),
                                                      until=TODAY)  # fmt: skip
    assert [(r.ref, r.campaign_name) for r in listed] == [("meta:1201", "Brand"), ("google:456", "Search brand")]
    assert brand.public_id and search.public_id


@pytest.mark.usefixtures("fast_polls")
def test_manual_mapping_suggested_by_name_refuses_a_second_currency_and_lists_the_unmapped(
    db: Session, ad_platforms: Any
) -> None:
    _meta_world(ad_platforms)
    _google_world(ad_platforms)
    account, _, owner = make_owner(db)
    spring = _active(db, owner, "Spring sale", "meta", "spring")
    for connection in (_connect_meta(db, owner), _connect_google(db, owner)):
        connection.sync_state = ad_sync.plan("hourly", TODAY - timedelta(days=25), TODAY)
        db.commit()
        assert _run(db, connection).status == "done"
    listed = platform_mapping.list_platform_campaigns(session=db, account_id=account.id, since=TODAY - timedelta(30),
                                                      until=TODAY)  # fmt: skip
    unmapped = {r.ref: r.spend for r in listed if not r.campaign_public_id}
    assert unmapped == {"meta:1201": {"USD": 8340}, "meta:1301": {"USD": 9999}, "google:456": {"EUR": 1450}}
    suggested = platform_mapping.suggestions(session=db, account_id=account.id, campaign_public_id=spring.public_id)
    assert [r.ref for r in suggested][:1] == ["meta:1301"]

    platform_mapping.map_campaign(session=db, actor=owner, ref="meta:1301", campaign_public_id=spring.public_id)
    db.commit()
    row = db.exec(select(AdSpend)).one()
    assert (row.amount, row.currency, row.source, row.day.isoformat()) == (9999, "USD", "meta", _d(20))
    with pytest.raises(ValidationFailed, match="already counts platform spend in USD"):
        platform_mapping.map_campaign(session=db, actor=owner, ref="google:456", campaign_public_id=spring.public_id)
    with pytest.raises(NotFound):
        platform_mapping.map_campaign(session=db, actor=owner, ref="meta:999", campaign_public_id=spring.public_id)
    with pytest.raises(ValidationFailed):
        platform_mapping.map_campaign(session=db, actor=owner, ref="tiktok:1", campaign_public_id=spring.public_id)

    # Unmapped by hand: its spend leaves the campaign, and URL ids do not map it again.
    platform_mapping.unmap_campaign(session=db, actor=owner, ref="meta:1301")
    db.commit()
    _land(account.id, "s9", "https://shop.example/?utm_campaign=spring&utm_id=1301", utm_campaign="spring",
          utm_id="1301")  # fmt: skip
    assert platform_mapping.auto_map(db, account.id) == 0
    db.commit()
    assert db.exec(select(AdSpend)).all() == []


def test_another_account_cannot_map_or_see_platform_campaigns(db: Session, ad_platforms: Any) -> None:
    _meta_world(ad_platforms)
    _, _, owner = make_owner(db)
    connection = _connect_meta(db, owner)
    connection.sync_state = ad_sync.plan("hourly", TODAY - timedelta(days=1), TODAY)
    db.commit()
    _run(db, connection)
    other_account, _, other = make_owner(db, email="other@example.com")
    theirs = campaigns.create_campaign(session=db, actor=other, name="Brand", channel="meta")
    with pytest.raises(NotFound):
        platform_mapping.map_campaign(session=db, actor=other, ref="meta:1201", campaign_public_id=theirs.public_id)
    assert platform_mapping.list_platform_campaigns(session=db, account_id=other_account.id, since=TODAY,
                                                    until=TODAY) == []  # fmt: skip
