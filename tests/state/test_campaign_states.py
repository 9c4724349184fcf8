from __future__ import annotations

import time
from typing import Any

import pytest
from reflex.state import State
from sqlmodel import Session, select

from app import routes
from app.models import Campaign, CampaignVersion, Pixel, Role
from app.services import campaigns
from app.state.campaign_editor import CampaignEditorState
from app.state.campaigns import CampaignsState
from app.state.pixels import PixelsState
from tests.utils.ad_platforms import AdPlatforms
from tests.utils.factories import add_member, make_owner
from tests.utils.states import sign_in, substate, visit


def test_create_save_publish_edit_and_roll_back_through_the_states(root: State, db: Session) -> None:
    _, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    listing = substate(root, CampaignsState)
    visit(root, routes.CAMPAIGNS)
    listing.load_campaigns()
    assert listing.loaded and listing.campaigns == [] and listing.total == 0
    assert listing.can_edit_marketing is True

    listing.set_new_channel("google")
    listing.create_campaign({"name": "  Spring   sale "})
    assert listing.error == ""
    listing.load_campaigns()
    [item] = listing.campaigns
    assert (item["name"], item["channel"], item["status"], item["version"]) == ("Spring sale", "google", "draft", "—")
    assert item["has_draft"] and item["url"] == routes.campaign_url(item["public_id"])

    editor = substate(root, CampaignEditorState)
    visit(root, item["url"])
    list(editor.load_campaign())
    assert editor.loaded and editor.not_found == "" and editor.name == "Spring sale" and editor.rules == []
    editor.add_rule()
    editor.set_condition_value(0, 0, "spring")
    editor.set_landing_url("https://shop.example.com/spring")
    editor.set_budget_amount("150.50")
    editor.set_budget_currency("eur")
    editor.set_target_cpa("25")
    editor.set_min_roas("2.5")
    editor.set_notes("Creative A")
    assert editor.dirty
    editor.save_draft()
    assert editor.error == "" and not editor.dirty and editor.has_draft
    draft = db.exec(select(Campaign)).one().draft_config
    assert draft is not None
    assert draft["budget"] == {"amount": 15050, "currency": "EUR", "period": "daily"}
    assert draft["targets"]["target_cpa"] == 2500 and draft["targets"]["min_roas"] == 2.5
    assert draft["matching_rules"] == [{"conditions": [{"field": "utm_campaign", "op": "equals", "value": "spring"}]}]
    # The editor shows the saved draft in major units again.
    assert (editor.budget_amount, editor.budget_currency, editor.target_cpa) == ("150.50", "EUR", "25.00")

    editor.set_publish_note("launch")
    editor.publish()
    assert editor.error == "" and editor.active_version == 1 and editor.status == "active"
    assert not editor.has_draft and editor.publish_note == ""
    assert [(v["label"], v["change_note"], v["author"]) for v in editor.versions] == [
        ("v1", "launch", owner_user.email)
    ]

    # Unsaved edits are saved as part of publishing.
    editor.set_notes("Creative B")
    editor.add_rule()
    editor.set_condition_field(1, 0, "landing_path")
    editor.set_condition_op(1, 0, "prefix")
    editor.set_condition_value(1, 0, "/spring")
    editor.set_publish_note("creative B")
    editor.publish()
    assert editor.active_version == 2 and len(editor.rules) == 2
    # The default comparison is the latest two versions.
    assert (editor.compare_from, editor.compare_to) == ("v1", "v2")
    assert {c["path"]: (c["before"], c["after"]) for c in editor.changes} == {
        "Matching rule 2": ("—", "landing_path prefix '/spring'"),
        "Notes": ("Creative A", "Creative B"),
    }
    editor.set_compare_from("v2")
    editor.set_compare_to("v2")
    editor.compare()
    assert editor.changes == [] and editor.compared == "v2 → v2"

    editor.rollback_to(1)
    assert editor.active_version == 3
    assert (editor.versions[0]["label"], editor.versions[0]["change_note"]) == ("v3", "Rollback to v1")
    assert editor.notes == "Creative A" and len(editor.rules) == 1
    v1, v3 = (db.exec(select(CampaignVersion).where(CampaignVersion.number == n)).one() for n in (1, 3))
    assert v1.config == v3.config

    # The list shows the live version; the filters come from the URL.
    visit(root, routes.campaigns_url(q="spring", status="active", channel="google"))
    listing.load_campaigns()
    assert (listing.search, listing.status_filter, listing.channel_filter) == ("spring", "active", "google")
    assert [c["version"] for c in listing.campaigns] == ["v3"] and listing.campaigns[0]["has_draft"] is False
    visit(root, routes.campaigns_url(status="paused"))
    listing.load_campaigns()
    assert listing.campaigns == [] and listing.filtered


def test_list_pages_of_twenty_from_the_url(root: State, db: Session) -> None:
    _, owner_user, owner = make_owner(db)
    for n in range(25):
        campaigns.create_campaign(session=db, actor=owner, name=f"Campaign {n:02d}", channel="meta")
    db.commit()
    sign_in(root, db, owner_user)
    listing = substate(root, CampaignsState)
    visit(root, routes.campaigns_url())
    listing.load_campaigns()
    assert (len(listing.campaigns), listing.total, listing.page, listing.pages) == (20, 25, 1, 2)
    assert listing.filtered is False
    visit(root, routes.campaigns_url(page=2))
    listing.load_campaigns()
    assert [c["name"] for c in listing.campaigns] == [f"Campaign {n}" for n in range(20, 25)]
    # A shared link to a page past the end shows the last page; junk in the URL is ignored.
    visit(root, "/campaigns?page=9&status=bogus&channel=myspace")
    listing.load_campaigns()
    assert (listing.page, len(listing.campaigns), listing.status_filter, listing.channel_filter) == (2, 5, "all", "all")
    assert listing.error == ""
    visit(root, "/campaigns?page=x&q=Campaign%2001")
    listing.load_campaigns()
    assert (listing.page, listing.search, [c["name"] for c in listing.campaigns]) == (1, "Campaign 01", ["Campaign 01"])


def test_editor_reports_the_services_messages(root: State, db: Session) -> None:
    _, owner_user, owner = make_owner(db)
    row = campaigns.create_campaign(session=db, actor=owner, name="Later", channel="meta")
    db.commit()
    sign_in(root, db, owner_user)
    editor = substate(root, CampaignEditorState)
    editor._open(row.public_id)

    editor.change_status("active")  # no version yet
    assert editor.status == "draft"
    editor.add_rule()  # an empty value is refused by the config schema
    editor.save_draft()
    assert editor.error.startswith("matching rule 1, condition 1, value")
    editor.remove_condition(0, 0)  # the rule's last condition: the rule goes too
    assert editor.rules == []
    editor.set_budget_amount("10.999")
    editor.set_budget_currency("EUR")
    editor.save_draft()
    assert "at most 2 decimals" in editor.error
    editor.set_budget_amount("")
    editor.set_target_cpa("5")
    editor.set_budget_currency("")
    editor.save_draft()
    assert editor.error.startswith("The target CPA needs a currency")

    # Version labels come from the browser: anything but a listed version is a message, not a crash.
    for label in ("x", "v", "vabc", "v99", "v" + "9" * 5000):
        editor.set_compare_from(label)
        editor.set_compare_to(label)
        assert "Choose two" in str(editor.compare().args)
        assert editor.changes == [] and editor.compared == ""

    editor._open("cmp_doesnotexist")
    assert editor.not_found == "Campaign not found."


def test_viewer_sees_campaigns_but_the_server_refuses_their_changes(root: State, db: Session) -> None:
    account, _, owner = make_owner(db)
    viewer, _ = add_member(db, account, Role.VIEWER)
    row = campaigns.create_campaign(
        session=db,
        actor=owner,
        name="Spring sale",
        channel="meta",
        config={"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": "spring"}]}]},
    )
    db.commit()
    sign_in(root, db, viewer)

    listing = substate(root, CampaignsState)
    listing.load_campaigns()
    assert [c["name"] for c in listing.campaigns] == ["Spring sale"] and listing.can_edit_marketing is False
    listing.create_campaign({"name": "Sneaky"})
    assert "Your role (viewer) cannot edit campaigns and pixels" in listing.error

    editor = substate(root, CampaignEditorState)
    editor._open(row.public_id)
    assert editor.not_found == "" and editor.can_edit_marketing is False
    editor.set_publish_note("sneaky")
    editor.publish()
    assert editor.error.startswith("Your role (viewer) cannot edit campaigns and pixels")
    assert editor.active_version == 0
    assert db.exec(select(CampaignVersion)).first() is None

    pixels = substate(root, PixelsState)
    pixels.load_pixels()
    pixels.create_pixel({"new_setting_pixel_id": "1234567890", "new_secret_access_token": "token-123456"})
    assert "viewer" in pixels.error
    assert db.exec(select(Pixel)).first() is None


def test_pixels_state_never_keeps_secrets(root: State, db: Session, ad_platforms: AdPlatforms) -> None:
    _, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    pixels = substate(root, PixelsState)
    pixels.load_pixels()
    secret = "EAAB-super-secret-token-4321"

    # Refused (bad pixel id): the non-secret values come back into the form, the secret does not.
    pixels.set_new_provider("meta")
    pixels.create_pixel(
        {"new_name": "Main", "new_setting_pixel_id": "abc", "new_secret_access_token": secret, "new_event_lead": "on"}
    )
    assert "pixel_id 'abc' does not look right" in pixels.error
    assert pixels.new_defaults == {"name": "Main", "pixel_id": "abc", "test_event_code": ""}
    assert pixels.new_events == ["lead"]

    pixels.create_pixel(
        {
            "new_name": "Main",
            "new_setting_pixel_id": "123456789012345",
            "new_secret_access_token": secret,
            "new_event_purchase": "on",
            "new_is_default": "on",
        }
    )
    assert pixels.error == ""
    [item] = pixels.pixels
    assert item["credentials_hint"] == "••••4321" and item["is_default"] and item["events"] == ["purchase"]
    assert item["settings"] == "pixel_id: 123456789012345"

    # Editing with empty secrets keeps the stored ones.
    pixels.start_edit(item["public_id"])
    assert pixels.editing and pixels.edit_defaults["pixel_id"] == "123456789012345"
    pixels.save_edit(
        {"edit_name": "Main pixel", "edit_setting_pixel_id": "123456789012345", "edit_secret_access_token": ""}
    )
    assert "at least one event" in pixels.edit_error  # every event unticked
    pixels.save_edit(
        {
            "edit_name": "Main pixel",
            "edit_setting_pixel_id": "123456789012345",
            "edit_secret_access_token": "",
            "edit_event_purchase": "on",
        }
    )
    assert pixels.edit_error == "" and not pixels.editing
    assert pixels.pixels[0]["name"] == "Main pixel" and pixels.pixels[0]["credentials_hint"] == "••••4321"
    # "Send test event": a live (non-test) Meta pixel has no test event code, so nothing leaves.
    list(pixels.send_test_event(item["public_id"]))
    assert not pixels.check_ok and "test event code" in pixels.check_message
    assert pixels.checked_id == item["public_id"] and pixels.testing_id == "" and ad_platforms.requests == []

    # Test mode needs Meta's test event code; with it, the test event reaches (the recording) Meta.
    pixels.start_edit(item["public_id"])
    assert pixels.edit_test_mode is False
    edit = {"edit_setting_pixel_id": "123456789012345", "edit_event_purchase": "on", "edit_test_mode": "on"}
    pixels.save_edit(edit)
    assert "test event code" in pixels.edit_error and pixels.edit_test_mode is True
    pixels.save_edit({**edit, "edit_setting_test_event_code": "TEST4242"})
    assert pixels.edit_error == "" and pixels.pixels[0]["test_mode"] is True
    list(pixels.send_test_event(item["public_id"]))
    assert pixels.check_ok and "test purchase accepted" in pixels.check_message, pixels.check_message
    [sent] = ad_platforms.bodies("/v")
    assert sent["test_event_code"] == "TEST4242"
    pixels.set_enabled(item["public_id"], False)
    assert pixels.pixels[0]["enabled"] is False

    everything = repr(root.dict())
    assert secret not in everything and "4321" in everything
    pixels.delete_pixel(item["public_id"])
    assert pixels.pixels == []


def test_pixels_state_refuses_webhooks_to_internal_hosts_and_never_shows_their_answer(
    root: State, db: Session, ad_platforms: AdPlatforms, guard_settings: Any
) -> None:
    _, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    pixels = substate(root, PixelsState)
    pixels.load_pixels()
    pixels.set_new_provider("webhook")
    form = {"new_name": "Hook", "new_secret_signing_secret": "hook-signing-secret-0123", "new_event_purchase": "on"}
    guard_settings("")
    pixels.create_pixel({**form, "new_setting_url": "https://127.1:8443/hook"})
    assert "The host 127.1 is not on the public internet (loopback (this server))" in pixels.error
    assert db.exec(select(Pixel)).first() is None

    guard_settings("127.0.0.1")  # a receiver the operator allows; its refusal still shows only a status
    pixels.create_pixel({**form, "new_setting_url": f"{ad_platforms.url}/hooks/shop"})
    assert pixels.error == ""
    [item] = pixels.pixels
    ad_platforms.fail_next("/hooks/", 403, {"error": "internal-admin-token-7f3c"})
    list(pixels.send_test_event(item["public_id"]))
    assert not pixels.check_ok
    assert pixels.check_message == (
        "Hook: HTTP 403 Forbidden: the receiver refused the request (its answer is not shown)."
    )
    assert "internal-admin-token" not in repr(root.dict())


def _editor_for(root: State, db: Session) -> tuple[CampaignEditorState, str]:
    _, owner_user, owner = make_owner(db)
    row = campaigns.create_campaign(session=db, actor=owner, name="Money", channel="meta")
    db.commit()
    sign_in(root, db, owner_user)
    editor = substate(root, CampaignEditorState)
    editor._open(row.public_id)
    return editor, row.public_id


@pytest.mark.parametrize(
    ("text", "currency", "minor", "shown"),
    [
        ("150.50", "EUR", 15050, "150.50"),
        ("150", "EUR", 15000, "150.00"),
        ("1200", "JPY", 1200, "1200"),
        ("1.234", "KWD", 1234, "1.234"),
    ],
)
def test_money_inputs_use_the_currency_exponent(
    root: State, db: Session, text: str, currency: str, minor: int, shown: str
) -> None:
    editor, public_id = _editor_for(root, db)
    editor.set_budget_amount(text)
    editor.set_budget_currency(currency)
    editor.set_target_cpa(text)
    editor.save_draft()
    assert editor.error == ""
    draft = db.exec(select(Campaign).where(Campaign.public_id == public_id)).one().draft_config
    assert draft is not None and draft["budget"]["amount"] == minor and draft["targets"]["target_cpa"] == minor
    assert (editor.budget_amount, editor.target_cpa) == (shown, shown)  # read back in major units


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("12.5", "JPY", "The budget: JPY amounts take no decimals."),
        ("10.999", "EUR", "The budget: EUR amounts take at most 2 decimals."),
        ("abc", "EUR", "is not an amount"),
        ("NaN", "EUR", "is not an amount"),
        ("-5", "EUR", "is not an amount"),
        ("1e999990", "EUR", "is not an amount"),  # Decimal took ~40 s of CPU for this one
        ("1e10000000", "EUR", "is not an amount"),  # and raised decimal.Overflow for that one
        ("9" * 13, "EUR", "is too large"),
        ("5", "", "The budget needs a currency"),
        ("5", "EURO", "not an ISO 4217 currency code"),
    ],
)
def test_money_inputs_refuse_what_they_cannot_read(
    root: State, db: Session, text: str, currency: str, message: str
) -> None:
    editor, public_id = _editor_for(root, db)
    editor.set_budget_amount(text)
    editor.set_budget_currency(currency)
    started = time.monotonic()
    editor.save_draft()
    assert time.monotonic() - started < 2
    assert message in editor.error
    campaign = db.exec(select(Campaign).where(Campaign.public_id == public_id)).one()
    db.refresh(campaign)
    assert campaign.draft_config is None or campaign.draft_config.get("budget") is None


def test_pixel_handlers_refuse_crafted_events(root: State, db: Session) -> None:
    _, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    pixels = substate(root, PixelsState)
    pixels.load_pixels()
    pixels.set_new_provider("no-such-provider")
    pixels.create_pixel({"new_name": "x"})
    assert pixels.error and pixels.pixels == []
    pixels.set_new_provider("meta")
    pixels.create_pixel(["not", "a", "form"])  # type: ignore[arg-type]
    assert pixels.error and pixels.pixels == []
    pixels.save_edit({"edit_name": "x"})  # no edit in progress
    assert pixels.edit_error
    assert db.exec(select(Pixel)).first() is None


def test_a_target_cpa_needs_its_currency_only_asked_in_one_step(root: State, db: Session) -> None:
    """A target CPA is an amount: the editor asks for its currency, and with it the draft saves (no budget)."""
    _, owner_user, owner = make_owner(db)
    row = campaigns.create_campaign(session=db, actor=owner, name="Targets", channel="meta")
    db.commit()
    sign_in(root, db, owner_user)
    editor = substate(root, CampaignEditorState)
    editor._open(row.public_id)

    editor.set_target_cpa("25")
    editor.save_draft()
    assert editor.error.startswith("The target CPA needs a currency")  # and only that: no budget
    editor.set_budget_currency("eur")
    editor.save_draft()
    assert editor.error == ""
    draft = db.get(Campaign, db.exec(select(Campaign.id).where(Campaign.public_id == row.public_id)).one())
    assert draft is not None and draft.draft_config is not None
    db.refresh(draft)
    assert draft.draft_config["budget"] is None
    assert draft.draft_config["targets"]["target_cpa"] == 2500 and draft.draft_config["targets"]["currency"] == "EUR"
    editor._open(row.public_id)  # read back: the amount in the currency shown next to it
    assert (editor.target_cpa, editor.budget_currency, editor.budget_amount) == ("25.00", "EUR", "")


def test_channel_group_defaults_from_the_platform_and_is_edited_on_the_campaign(root: State, db: Session) -> None:
    _, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    listing = substate(root, CampaignsState)
    visit(root, routes.CAMPAIGNS)
    listing.load_campaigns()
    assert (listing.new_channel, listing.new_channel_group) == ("meta", "paid_social")
    listing.set_new_channel("google")  # the group follows the platform …
    assert listing.new_channel_group == "paid_search"
    listing.set_new_channel_group("display")  # … and can be changed
    listing.create_campaign({"name": "Banners"})
    listing.load_campaigns()
    [item] = listing.campaigns
    assert (item["channel"], item["channel_group"]) == ("google", "Display")
    visit(root, routes.campaigns_url(group="display"))
    listing.load_campaigns()
    assert listing.group_filter == "display" and listing.filtered and len(listing.campaigns) == 1
    assert "group=paid_search" in str(listing.filter_group("paid_search").args)

    editor = substate(root, CampaignEditorState)
    visit(root, item["url"])
    list(editor.load_campaign())
    assert (editor.channel, editor.channel_group) == ("google", "display")
    editor.change_channel_group("referral")
    assert editor.channel_group == "referral"
    assert db.exec(select(Campaign.channel_group)).one() == "referral"
    assert "channel_group must be one of" in str(editor.change_channel_group("tv").args)
    assert editor.channel_group == "referral"


def test_publishing_reloads_the_versions_compared(root: State, db: Session) -> None:
    """The "Versions compared" section shows a version published a moment ago (no reload needed)."""
    from app.state.metrics import VersionComparisonState

    _, owner_user, owner = make_owner(db)
    row = campaigns.create_campaign(session=db, actor=owner, name="Fresh", channel="meta")
    db.commit()
    sign_in(root, db, owner_user)
    visit(root, routes.campaign_url(row.public_id))
    editor = substate(root, CampaignEditorState)
    list(editor.load_campaign())
    comparison = substate(root, VersionComparisonState)
    comparison.load_version_comparison()
    assert comparison.version_windows == []

    events = editor.publish()
    assert VersionComparisonState.load_version_comparison in events
    comparison.load_version_comparison()  # what the event does in the browser
    assert [line["version"] for line in comparison.version_windows] == ["v1"]
    assert VersionComparisonState.load_version_comparison in editor.rollback_to(1)
