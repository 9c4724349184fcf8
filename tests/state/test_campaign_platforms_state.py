"""The campaign page's ad platform section through its state: name-alike suggestions first, map, unmap, and the
unmapped platform campaigns listed with their spend on Settings → Ad platforms."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from reflex.state import State
from sqlmodel import Session

from app import routes
from app.services import ad_sync, campaigns
from app.state.ad_platforms import AdPlatformsState
from app.state.campaign_platforms import CampaignPlatformsState
from tests.services.test_ad_sync import TODAY, _connect_meta, _meta_world, _run
from tests.utils.factories import make_owner
from tests.utils.states import sign_in, substate, visit


def test_map_a_platform_campaign_on_the_campaign_page(root: State, db: Session, ad_platforms: Any) -> None:
    _meta_world(ad_platforms)
    _, owner_user, owner = make_owner(db)
    spring = campaigns.create_campaign(session=db, actor=owner, name="Spring sale", channel="meta")
    connection = _connect_meta(db, owner)
    connection.sync_state = ad_sync.plan("hourly", TODAY - timedelta(days=1), TODAY)
    db.commit()
    assert _run(db, connection).status == "done"
    sign_in(root, db, owner_user)

    settings = substate(root, AdPlatformsState)
    settings.load_ad_platforms()
    assert [(c["name"], c["spend"], c["campaign_name"]) for c in settings.platform_campaigns] == [
        ("Brand", "$83.40", "")
    ]

    page = substate(root, CampaignPlatformsState)
    visit(root, routes.campaign_url(spring.public_id))
    page.load_campaign_platforms()
    assert page.mapped == [] and [c["label"] for c in page.choices] == ["Meta · Brand (1201)"]
    page.set_chosen_ref("meta:1201")
    page.map_chosen()
    assert [(m["name"], m["spend"], m["mapped_by"]) for m in page.mapped] == [("Brand", "$83.40", "chosen here")]
    assert page.choices == []
    settings.load_ad_platforms()
    assert settings.platform_campaigns[0]["campaign_name"] == "Spring sale"

    page.unmap("meta:1201")
    assert page.mapped == [] and [c["ref"] for c in page.choices] == ["meta:1201"]
