from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app.models import Role, Touch, VisitSession
from app.models.base import utcnow
from app.services import campaign_matching, campaigns
from app.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.services.ingest import IngestContext, Source, ingest_now
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import add_member, make_owner

SPRING = {
    "matching_rules": [{"conditions": [{"field": "utm_campaign", "value": "spring"}]}],
    "targets": {"min_roas": 2.0},
    "notes": "Spring sale creative A",
}


def _ingest(account_id: int, **fields: object) -> None:
    ingest_now([event(**fields)], IngestContext(account_id=account_id, source=Source.BROWSER, user_agent=DESKTOP_UA))


def test_the_diff_names_each_target_once_and_shows_money_in_major_units() -> None:
    """It said "target target cpa 2000 → 1500": the minor units of €20.00 and €15.00, the label doubled."""
    budget = {"amount": 5000, "currency": "EUR", "period": "daily"}
    before = {"budget": budget, "targets": {"target_cpa": 2000, "min_conversion_rate": 0.015}}
    after = {"budget": budget | {"amount": 2044250}, "targets": {"target_cpa": 1500, "min_conversion_rate": 0.02}}
    changes = {c.path: (c.before, c.after) for c in campaigns.diff_configs(before, after)}
    assert changes == {
        "Budget": ("€50.00 daily", "€20,442.50 daily"),
        "Target CPA": ("€20.00", "€15.00"),
        "Minimum conversion rate": ("1.5%", "2%"),
    }
    german = {c.path: (c.before, c.after) for c in campaigns.diff_configs(before, after, "de_DE")}
    assert german["Target CPA"] == ("20,00\xa0€", "15,00\xa0€")
    assert german["Budget"][1] == "20.442,50\xa0€ daily"


def test_draft_publish_edit_diff_and_rollback(db: Session) -> None:
    _, owner_user, owner = make_owner(db)
    row = campaigns.create_campaign(session=db, actor=owner, name="Spring sale", channel="meta", config=SPRING)
    assert (row.status, row.active_version, row.has_draft) == ("draft", None, True)
    v1 = campaigns.publish_draft(session=db, actor=owner, campaign_public_id=row.public_id, change_note="launch")
    assert (v1.number, v1.change_note, v1.author) == (1, "launch", owner_user.email)
    with pytest.raises(Conflict, match="no unpublished changes"):
        campaigns.publish_draft(session=db, actor=owner, campaign_public_id=row.public_id)

    edited = SPRING | {
        "notes": "Creative B",
        "targets": {"min_roas": 3.0},
        "matching_rules": [
            *SPRING["matching_rules"],
            {"conditions": [{"field": "landing_path", "op": "prefix", "value": "/spring"}]},
        ],
    }
    campaigns.save_draft(session=db, actor=owner, campaign_public_id=row.public_id, config=edited)
    v2 = campaigns.publish_draft(session=db, actor=owner, campaign_public_id=row.public_id, change_note="creative B")
    assert v2.number == 2
    changes = {
        c.path: (c.before, c.after)
        for c in campaigns.diff_versions(
            session=db, account_id=owner.account_id, campaign_public_id=row.public_id, from_number=1, to_number=2
        )
    }
    assert changes == {
        "Matching rule 2": ("—", "landing_path prefix '/spring'"),
        "Minimum ROAS": ("2.00×", "3.00×"),
        "Notes": ("Spring sale creative A", "Creative B"),
    }
    v3 = campaigns.rollback(session=db, actor=owner, campaign_public_id=row.public_id, version_number=1)
    assert (v3.number, v3.change_note, v3.config) == (3, "Rollback to v1", v1.config)
    detail = campaigns.campaign_detail(session=db, account_id=owner.account_id, campaign_public_id=row.public_id)
    assert [v.number for v in detail.versions] == [3, 2, 1]
    assert detail.row.active_version == 3 and detail.row.status == "active" and detail.draft == v1.config


def test_config_validation_says_what_is_wrong(db: Session) -> None:
    _, _, owner = make_owner(db)
    bad = [
        ({"matching_rules": [{"conditions": [{"field": "utm_colour", "value": "x"}]}]}, "matching_rules.0"),
        ({"matching_rules": [{"conditions": []}]}, "matching_rules.0.conditions"),
        ({"budget": {"amount": 100, "currency": "EURO"}}, "budget.currency"),
        ({"landing_url": "shop.example.com/spring"}, "landing_url"),
        ({"targets": {"min_conversion_rate": 2}}, "targets.min_conversion_rate"),
        ({"colour": "red"}, "colour"),
    ]
    for config, field in bad:
        with pytest.raises(ValidationFailed) as caught:
            campaigns.create_campaign(session=db, actor=owner, name="x", channel="meta", config=config)
        assert caught.value.field is not None and caught.value.field.startswith(field), (config, caught.value.field)
    with pytest.raises(ValidationFailed, match="channel"):
        campaigns.create_campaign(session=db, actor=owner, name="x", channel="myspace")


def test_list_search_filters_and_pagination(db: Session) -> None:
    _, _, owner = make_owner(db)
    for n in range(25):
        campaigns.create_campaign(
            session=db, actor=owner, name=f"Campaign {n:02d}", channel="google" if n % 2 else "meta"
        )
    page = campaigns.list_campaigns(session=db, account_id=owner.account_id, per_page=10, page=3)
    assert (page.total, len(page.rows)) == (25, 5)
    metas = campaigns.list_campaigns(session=db, account_id=owner.account_id, channel="meta", per_page=100)
    assert metas.total == 13
    found = campaigns.list_campaigns(session=db, account_id=owner.account_id, search="campaign 1")
    assert {r.name for r in found.rows} == {f"Campaign 1{n}" for n in range(10)}


def test_viewers_cannot_edit_and_other_accounts_cannot_see(db: Session) -> None:
    account, _, owner = make_owner(db)
    _, viewer = add_member(db, account, Role.VIEWER)
    _, _, stranger = make_owner(db)
    row = campaigns.create_campaign(session=db, actor=owner, name="Mine", channel="meta", config=SPRING)
    with pytest.raises(PermissionDenied):
        campaigns.publish_draft(session=db, actor=viewer, campaign_public_id=row.public_id)
    with pytest.raises(PermissionDenied):
        campaigns.create_campaign(session=db, actor=viewer, name="x", channel="meta")
    for call in (
        lambda: campaigns.publish_draft(session=db, actor=stranger, campaign_public_id=row.public_id),
        lambda: campaigns.campaign_detail(session=db, account_id=stranger.account_id, campaign_public_id=row.public_id),
        lambda: campaigns.rollback(session=db, actor=stranger, campaign_public_id=row.public_id, version_number=1),
    ):
        with pytest.raises(NotFound):
            call()
    assert campaigns.list_campaigns(session=db, account_id=stranger.account_id).total == 0


def test_activation_needs_a_version(db: Session) -> None:
    _, _, owner = make_owner(db)
    row = campaigns.create_campaign(session=db, actor=owner, name="Later", channel="google")
    with pytest.raises(ValidationFailed, match="Publish a first version"):
        campaigns.update_campaign(session=db, actor=owner, campaign_public_id=row.public_id, status="active")


def test_rules_in_order_first_match_wins_and_unmatched_bucket(db: Session) -> None:
    _, _, owner = make_owner(db)
    generic = campaigns.create_campaign(
        session=db,
        actor=owner,
        name="All Meta",
        channel="meta",
        priority=200,
        config={"matching_rules": [{"conditions": [{"field": "click_id_type", "value": "fbclid"}]}]},
    )
    spring = campaigns.create_campaign(
        session=db, actor=owner, name="Spring", channel="meta", priority=10, config=SPRING
    )
    for row in (generic, spring):
        campaigns.publish_draft(session=db, actor=owner, campaign_public_id=row.public_id)
    db.commit()
    matcher = campaign_matching.load_matcher(db, owner.account_id)
    now = utcnow()
    spring_match = matcher.match({"utm_campaign": "SPRING", "click_id_type": "fbclid"}, now)
    generic_match = matcher.match({"utm_campaign": "autumn", "click_id_type": "fbclid"}, now)
    assert spring_match.campaign_id != generic_match.campaign_id and None not in (
        spring_match.campaign_id,
        generic_match.campaign_id,
    )
    assert matcher.match({"utm_campaign": "autumn"}, now) == campaign_matching.UNMATCHED
    assert matcher.match({"utm_campaign": "spring"}, now - timedelta(hours=1)) == campaign_matching.UNMATCHED


def test_sessions_and_touches_are_tagged_with_the_version_active_at_their_start(db: Session) -> None:
    _, _, owner = make_owner(db)
    row = campaigns.create_campaign(session=db, actor=owner, name="Spring", channel="meta", config=SPRING)
    v1 = campaigns.publish_draft(session=db, actor=owner, campaign_public_id=row.public_id)
    db.commit()
    _ingest(owner.account_id, session_id="before", utm_campaign="spring")
    campaigns.save_draft(session=db, actor=owner, campaign_public_id=row.public_id, config=SPRING | {"notes": "v2"})
    v2 = campaigns.publish_draft(session=db, actor=owner, campaign_public_id=row.public_id)
    db.commit()
    _ingest(owner.account_id, session_id="after", utm_campaign="Spring")
    _ingest(owner.account_id, session_id="other", utm_campaign="autumn")
    _ingest(owner.account_id, session_id="before", utm_campaign="spring")  # a later event keeps the first tag
    versions = {
        v.public_id: v
        for v in campaigns.list_versions(session=db, account_id=owner.account_id, campaign_public_id=row.public_id)
    }
    ids = {s.session_key: s.campaign_version_id for s in db.exec(select(VisitSession)).all()}
    from app.models import CampaignVersion

    number = {cv.id: cv.number for cv in db.exec(select(CampaignVersion)).all()}
    assert number[ids["before"]] == 1 and number[ids["after"]] == 2 and ids["other"] is None
    assert {versions[v1.public_id].number, versions[v2.public_id].number} == {1, 2}
    touches = {t.session_key: t.campaign_version_id for t in db.exec(select(Touch)).all()}
    assert touches == ids


def test_attribute_conversions_uses_stored_touches(db: Session) -> None:
    from datetime import UTC, datetime

    from app.models import AttributionModel
    from app.services.attribution import ConversionInput, attribute_conversions

    _, _, owner = make_owner(db)
    row = campaigns.create_campaign(session=db, actor=owner, name="Spring", channel="meta", config=SPRING)
    v1 = campaigns.publish_draft(session=db, actor=owner, campaign_public_id=row.public_id)
    db.commit()
    _ingest(owner.account_id, visitor_id="buyer", session_id="s1", utm_campaign="spring")
    _ingest(owner.account_id, visitor_id="buyer", session_id="s2", utm_campaign="autumn")
    now = datetime.now(UTC)
    conversions = [ConversionInput("ord_1", "buyer", now, 1000, "EUR"), ConversionInput("ord_2", None, now, 500, "EUR")]
    first = attribute_conversions(
        session=db, account_id=owner.account_id, conversions=conversions, model=AttributionModel.FIRST_TOUCH
    )
    last = attribute_conversions(session=db, account_id=owner.account_id, conversions=conversions)
    from app.models import CampaignVersion

    version_id = db.exec(select(CampaignVersion.id).where(CampaignVersion.public_id == v1.public_id)).one()
    assert {(c.version_id, c.amount) for c in first} == {(version_id, 1000), (None, 500)}
    assert {(c.version_id, c.amount) for c in last} == {(None, 1500)}


def test_validation_messages_read_like_the_form(db: Session) -> None:
    _, _, owner = make_owner(db)
    with pytest.raises(ValidationFailed) as caught:
        campaigns.create_campaign(
            session=db,
            actor=owner,
            name="x",
            channel="meta",
            config={
                "matching_rules": [
                    {"conditions": [{"field": "utm_campaign", "value": "a"}, {"field": "utm_source", "value": "  "}]}
                ]
            },
        )
    assert caught.value.field == "matching_rules.0.conditions.1.value"
    assert caught.value.message.startswith("matching rule 1, condition 2, value:")
    with pytest.raises(ValidationFailed, match="target CPA is an amount"):
        campaigns.create_campaign(
            session=db, actor=owner, name="x", channel="meta", config={"targets": {"target_cpa": 500}}
        )


def test_a_session_that_started_unmatched_stays_unmatched_after_a_publish(db: Session) -> None:
    _, _, owner = make_owner(db)
    _ingest(owner.account_id, session_id="early", utm_campaign="spring")
    row = campaigns.create_campaign(session=db, actor=owner, name="Spring", channel="meta", config=SPRING)
    campaigns.publish_draft(session=db, actor=owner, campaign_public_id=row.public_id)
    db.commit()
    _ingest(owner.account_id, session_id="early", utm_campaign="spring")
    stored = db.exec(select(VisitSession)).one()
    assert (stored.campaign_id, stored.campaign_version_id, stored.event_count) == (None, None, 2)
    touch = db.exec(select(Touch)).one()
    assert (touch.campaign_id, touch.campaign_version_id) == (None, None)


def test_channel_group_defaults_from_the_platform_and_is_editable(db: Session) -> None:
    _, _, owner = make_owner(db)
    defaults = {
        platform: campaigns.create_campaign(session=db, actor=owner, name=platform, channel=platform).channel_group
        for platform in ("meta", "tiktok", "google", "email", "other")
    }
    assert defaults == {"meta": "paid_social", "tiktok": "paid_social", "google": "paid_search", "email": "email",
                        "other": "other"}  # fmt: skip
    chosen = campaigns.create_campaign(
        session=db, actor=owner, name="Partners", channel="other", channel_group="affiliates"
    )
    assert (chosen.channel, chosen.channel_group) == ("other", "affiliates")

    # Editable; a new platform keeps the group (the marketer chose it).
    moved = campaigns.update_campaign(
        session=db, actor=owner, campaign_public_id=chosen.public_id, channel_group="referral"
    )
    assert moved.channel_group == "referral"
    moved = campaigns.update_campaign(session=db, actor=owner, campaign_public_id=chosen.public_id, channel="google")
    assert (moved.channel, moved.channel_group) == ("google", "referral")
    with pytest.raises(ValidationFailed) as caught:
        campaigns.update_campaign(session=db, actor=owner, campaign_public_id=chosen.public_id, channel_group="tv")
    assert caught.value.field == "channel_group" and "paid_social" in caught.value.message

    social = campaigns.list_campaigns(session=db, account_id=owner.account_id, channel_group="paid_social")
    assert sorted(r.name for r in social.rows) == ["meta", "tiktok"]


def test_a_target_cpa_needs_a_currency_not_a_budget(db: Session) -> None:
    _, _, owner = make_owner(db)
    row = campaigns.create_campaign(
        session=db, actor=owner, name="t", channel="meta", config={"targets": {"target_cpa": 500, "currency": "eur"}}
    )
    detail = campaigns.campaign_detail(session=db, account_id=owner.account_id, campaign_public_id=row.public_id)
    assert detail.draft["budget"] is None and detail.draft["targets"]["currency"] == "EUR"
    # With a budget, the budget's currency is the target's (older configs have no target currency).
    config = campaigns.parse_config({"budget": {"amount": 100, "currency": "USD"}, "targets": {"target_cpa": 500}})
    assert config.target_currency == "USD"
    with pytest.raises(ValidationFailed, match="give its currency"):
        campaigns.parse_config({"targets": {"target_cpa": 500}})
    with pytest.raises(ValidationFailed, match="the target CPA is in EUR and the budget in USD"):
        campaigns.parse_config(
            {"budget": {"amount": 100, "currency": "USD"}, "targets": {"target_cpa": 500, "currency": "EUR"}}
        )
    # A currency without a target CPA says nothing: it is dropped.
    assert campaigns.parse_config({"targets": {"currency": "EUR"}}).targets.currency is None
