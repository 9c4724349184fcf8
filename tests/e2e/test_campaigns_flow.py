"""Campaigns and pixels in a real browser: pixels with write-only secrets, a campaign's draft → v1 → v2, the diff,
a rollback to v1 as v3, pixels attached, a viewer who can only look, and sessions from a shop page tagged with the
version that was live when they started.
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.e2e.helpers import docs_screenshot, invite_link, invite_mail, log_out, open_form_page, sign_up, url_is
from tests.utils.browser import SCREENSHOTS, shop_page
from tests.utils.events import DESKTOP_UA
from tests.utils.server import Server

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
META_TOKEN = "EAAB-meta-token-abcd"
GA4_SECRET = "ga4-api-secret-wxyz"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _choose(page: Page, trigger: Locator, option: str, *, shows: bool = True) -> None:
    """Pick ``option`` in a Radix select (``shows``: and check that the select now shows it)."""
    trigger.click()
    page.get_by_role("option", name=option, exact=True).click()
    if shows:
        expect(trigger).to_have_text(option)


def _rule(page: Page, index: int) -> Locator:
    return page.locator(".rule-card").nth(index)


def _confirm(page: Page) -> None:
    page.get_by_role("alertdialog").locator(".confirm").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)


def _toast(page: Page, text: str) -> Locator:
    return page.locator("[data-sonner-toast]").filter(has_text=text)


def _create_campaign(page: Page, base: str, name: str) -> str:
    """Create a campaign on /campaigns; returns the editor's URL."""
    open_form_page(page, f"{base}/campaigns")
    page.locator("input[name=name]").fill(name)
    page.locator("#create-campaign").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/campaigns/cmp_\w+/?$"))
    expect(page.locator("#campaign-name")).to_have_text(name)
    return page.url


def _add_rule(page: Page, *, field: str, op: str, value: str) -> None:
    count = page.locator(".rule-card").count()
    page.locator("#add-rule").click()
    rule = _rule(page, count)
    expect(rule).to_be_visible()
    if field != "utm_campaign":
        _choose(page, rule.locator(".cond-field"), field)
    if op != "equals":
        _choose(page, rule.locator(".cond-op"), op)
    rule.locator(".cond-value input").fill(value)


def _publish(page: Page, note: str, number: int) -> None:
    page.locator("#publish-note").fill(note)
    page.locator("#publish").click()
    expect(page.locator("#live-version")).to_have_text(f"live: v{number}")
    expect(page.locator(".version-row").first).to_contain_text(f"v{number}")
    expect(page.locator(".version-row").first).to_contain_text(note)


def _pixel_card(page: Page, name: str) -> Locator:
    return page.locator(".pixel-card").filter(has=page.locator(".pixel-name", has_text=re.compile(f"^{name}$")))


def test_pixels_campaign_versions_rollback_and_a_viewer(
    server: Server, page: Page, new_context: Callable[[], BrowserContext]
) -> None:
    base = server.url
    owner = f"{_unique('owner')}@example.com"
    viewer = f"{_unique('viewer')}@example.com"
    sign_up(page, base, account_name=_unique("Campaign Shop"), email=owner, password=PASSWORD)
    SCREENSHOTS.mkdir(exist_ok=True)

    # --- pixels: a Meta pixel and a GA4 pixel; secrets are write-only.
    open_form_page(page, f"{base}/pixels")
    expect(page.locator("#pixels-empty")).to_be_visible()
    expect(page.locator("#new-provider")).to_have_text("Meta (Conversions API)")
    page.locator("#new_name").fill("Meta main")
    page.locator("#new_setting_pixel_id").fill("123456789012345")
    page.locator("#new_secret_access_token").fill(META_TOKEN)
    page.locator("#create-pixel").click()
    meta = _pixel_card(page, "Meta main")
    expect(meta).to_contain_text("••••abcd")
    expect(meta.locator(".pixel-settings")).to_have_text("pixel_id: 123456789012345")
    expect(meta.locator(".pixel-events")).to_have_text("purchase")
    expect(page.locator("#new_secret_access_token")).to_have_value("")  # the form was reset

    _choose(page, page.locator("#new-provider"), "Google Analytics 4 (Measurement Protocol)")
    page.locator("#new_name").fill("GA4 shop")
    page.locator("#new_setting_measurement_id").fill("G-ABC123XYZ")
    page.locator("#new_secret_api_secret").fill(GA4_SECRET)
    page.get_by_role("checkbox", name="lead").click()
    page.get_by_role("switch", name=re.compile("Account default")).click()
    page.locator("#create-pixel").click()
    ga4 = _pixel_card(page, "GA4 shop")
    expect(ga4).to_contain_text("••••wxyz")
    expect(ga4.locator(".pixel-events")).to_have_text(re.compile("purchase.*lead"))
    expect(ga4.locator(".pixel-default")).to_be_visible()
    expect(page.locator(".pixel-card")).to_have_count(2)

    # A real test send: GA4's debug endpoint (the recording server) validates a sample purchase.
    ga4.locator(".send-test-event").click()
    expect(ga4.locator("#pixel-check-result")).to_contain_text("test purchase accepted")

    # Edit with an empty secret: the stored one is kept.
    meta.locator(".edit-pixel").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("#keep-secrets-note")).to_contain_text("••••abcd")
    expect(dialog.locator("#edit_setting_pixel_id")).to_have_value("123456789012345")
    dialog.locator("#edit_name").fill("Meta main pixel")
    dialog.locator("#edit_setting_test_event_code").fill("TEST123")
    page.screenshot(path=str(SCREENSHOTS / "pixel-edit.png"))
    docs_screenshot(page, "pixel-edit")
    dialog.locator("#save-pixel").click()
    expect(dialog).to_have_count(0)
    meta = _pixel_card(page, "Meta main pixel")
    expect(meta.locator(".pixel-settings")).to_have_text("pixel_id: 123456789012345, test_event_code: TEST123")
    expect(meta).to_contain_text("••••abcd")
    assert META_TOKEN not in page.content() and GA4_SECRET not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "pixels.png"), full_page=True)

    # --- a campaign: rule utm_campaign equals spring, saved, published as v1.
    page.goto(f"{base}/campaigns")
    expect(page.locator("#campaigns-empty")).to_be_visible()
    editor_url = _create_campaign(page, base, "Spring sale")
    expect(page.locator("#versions-empty")).to_be_visible()
    expect(page.locator("#live-version")).to_have_text("not published")
    _add_rule(page, field="utm_campaign", op="equals", value="spring")
    expect(page.locator("#unsaved-edits")).to_be_visible()
    page.locator("#save-draft").click()
    expect(_toast(page, "Draft saved")).to_have_count(1)
    expect(page.locator("#unsaved-edits")).to_have_count(0)
    expect(page.locator("#draft-badge")).to_be_visible()
    _publish(page, "launch", 1)
    expect(page.locator("#draft-badge")).to_have_count(0)
    expect(page.locator("#status-select")).to_have_text("active")  # publishing v1 activated it

    # Edit: notes and a second rule, published as v2 (publishing saves the edits).
    page.locator("#notes").fill("Creative B: 20% off")
    _add_rule(page, field="landing_path", op="prefix", value="/spring")
    _publish(page, "creative B", 2)
    expect(page.locator(".version-row")).to_have_count(2)

    # The diff v1 → v2 (the default comparison is the latest two).
    expect(page.locator("#compare-from")).to_have_text("v1")
    expect(page.locator("#compare-to")).to_have_text("v2")
    page.locator("#compare").click()
    expect(page.locator("#diff-title")).to_contain_text("v1 → v2")
    changed = page.locator("#diff-table .diff-row")
    expect(changed.filter(has_text="matching rule 2")).to_contain_text("landing_path prefix '/spring'")
    expect(changed.filter(has_text="notes")).to_contain_text("Creative B: 20% off")
    expect(changed).to_have_count(2)

    # Roll back to v1: a confirmation, then v3 with v1's config.
    page.locator(".version-row").filter(has_text="launch").locator(".rollback").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("Roll back to v1?")
    _confirm(page)
    expect(page.locator(".version-row")).to_have_count(3)
    top = page.locator(".version-row").first
    expect(top.locator(".version-label")).to_have_text("v3")
    expect(top.locator(".version-note")).to_have_text("Rollback to v1")
    expect(page.locator("#live-version")).to_have_text("live: v3")
    expect(page.locator(".rule-card")).to_have_count(1)
    expect(page.locator("#notes")).to_have_value("")
    _choose(page, page.locator("#compare-from"), "v1")
    _choose(page, page.locator("#compare-to"), "v3")
    page.locator("#compare").click()
    expect(page.locator("#diff-empty")).to_have_text("v1 → v3: no differences.")

    # Attach both pixels.
    expect(page.locator("#campaign-pixels-empty")).to_be_visible()
    _choose(page, page.locator("#attach-pixel-select"), "Meta main pixel (meta)")
    page.locator("#attach-pixel").click()
    expect(page.locator(".campaign-pixel-row")).to_have_count(1)
    _choose(page, page.locator("#attach-pixel-select"), "GA4 shop (ga4)")
    page.locator("#attach-pixel").click()
    rows = page.locator(".campaign-pixel-row")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Meta main pixel")).to_contain_text("meta")
    expect(rows.filter(has_text="GA4 shop")).to_contain_text("account default")
    expect(page.locator("#no-pixel-options")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "campaign-editor.png"), full_page=True)
    docs_screenshot(page, "campaign-editor", full_page=True)

    # Activation without a version is refused with the service's message.
    _create_campaign(page, base, "Autumn teaser")
    _choose(page, page.locator("#status-select"), "active", shows=False)
    expect(_toast(page, "Publish a first version before activating the campaign.")).to_have_count(1)
    expect(page.locator("#status-select")).to_have_text("draft")

    # --- the list: versions, draft badges, pixel counts; filters in the URL.
    page.goto(f"{base}/campaigns")
    rows = page.locator("#campaigns-table .campaign-row")
    expect(rows).to_have_count(2)
    spring = rows.filter(has_text="Spring sale")
    expect(spring.locator(".campaign-version")).to_have_text("v3")
    expect(spring.locator(".draft-badge")).to_have_count(0)
    expect(rows.filter(has_text="Autumn teaser").locator(".draft-badge")).to_be_visible()
    expect(rows.filter(has_text="Autumn teaser").locator(".campaign-version")).to_have_text("—")
    expect(page.locator("#page-info")).to_have_text("Page 1 of 1")
    _choose(page, page.locator("#filter-status"), "Active")
    expect(page).to_have_url(url_is(base, "/campaigns?status=active"))
    expect(rows).to_have_count(1)
    page.locator("#campaign-search").fill("autumn")
    page.locator("#search-campaigns").click()
    expect(page).to_have_url(url_is(base, "/campaigns?q=autumn&status=active"))
    expect(page.locator("#campaigns-no-match")).to_be_visible()
    page.reload()  # a shared link opens the same view
    expect(page.locator("#campaigns-no-match")).to_be_visible()
    expect(page.locator("#campaign-search")).to_have_value("autumn")
    expect(page.locator("#filter-status")).to_have_text("Active")
    page.locator("#clear-filters").click()
    expect(page).to_have_url(url_is(base, "/campaigns"))
    expect(rows).to_have_count(2)
    page.screenshot(path=str(SCREENSHOTS / "campaigns.png"), full_page=True)

    # --- a viewer: sees everything, can change nothing.
    page.goto(f"{base}/settings/team")
    page.locator("input[name=email]").fill(viewer)
    _choose(page, page.locator("#invite-role"), "viewer")
    page.locator("#send-invite").click()
    expect(page.locator("#invite-sent")).to_contain_text(viewer)
    link = invite_link(invite_mail(server.outbox, viewer), base)
    log_out(page, base)

    guest = new_context().new_page()
    open_form_page(guest, link)
    guest.locator("input[name=password]").fill("viewer-password-123")
    guest.locator("#invite-accept").click()
    expect(guest).to_have_url(url_is(base, "/"))
    expect(guest.locator("#current-role")).to_have_text("viewer")

    guest.goto(editor_url)
    expect(guest.locator("#campaign-name")).to_have_text("Spring sale")
    expect(guest.locator("#campaign-readonly-note")).to_be_visible()
    expect(guest.locator("#campaign-status")).to_have_text("active")
    expect(guest.locator(".rule-card .cond-value input")).to_have_value("spring")
    expect(guest.locator(".rule-card .cond-value input")).to_have_attribute("readonly", "")
    expect(guest.locator(".rule-card .cond-field")).to_be_disabled()
    expect(guest.locator(".version-row")).to_have_count(3)
    expect(guest.locator(".campaign-pixel-row")).to_have_count(2)
    for control in (
        "#publish",
        "#publish-note",
        "#save-draft",
        "#discard-draft",
        "#add-rule",
        "#status-select",
        ".rollback",
        ".detach-pixel",
        "#attach-pixel",
    ):
        expect(guest.locator(control)).to_have_count(0)
    guest.screenshot(path=str(SCREENSHOTS / "campaign-viewer.png"), full_page=True)
    guest.goto(f"{base}/campaigns")
    expect(guest.locator("#campaigns-readonly-note")).to_be_visible()
    expect(guest.locator("#create-campaign")).to_have_count(0)
    expect(guest.locator(".campaign-row")).to_have_count(2)
    guest.goto(f"{base}/pixels")
    expect(guest.locator("#pixels-readonly-note")).to_be_visible()
    expect(guest.locator(".pixel-card")).to_have_count(2)
    expect(guest.locator(".edit-pixel, .check-pixel, .delete-pixel, #create-pixel")).to_have_count(0)
    expect(guest.locator(".pixel-enabled").first).to_be_disabled()
    guest.goto(f"{base}/install")
    expect(guest.locator("#install-snippet")).to_be_visible()
    expect(guest.locator("#send-test-event")).to_have_count(0)


# --- sessions tagged with the live version ---------------------------------------------------------------------------


def _land(browser: Browser, url: str) -> None:
    """A new visitor (fresh context: new visitor and session ids) lands on the shop page."""
    visitor = browser.new_context(user_agent=DESKTOP_UA)
    try:
        visit = visitor.new_page()
        visit.goto(url)
        visit.wait_for_function("() => window.paidsignal && window.paidsignal.loaded === true")
        visit.evaluate("() => window.paidsignal('flush')")
    finally:
        visitor.close()


def _sessions(server: Server, slug: str, count: int) -> list[tuple[str | None, int | None]]:
    """(utm_campaign, tagged version number) of the account's sessions in start order, once there are ``count``."""
    deadline = time.monotonic() + 20
    while True:
        with sqlite3.connect(server.data_dir / "paidsignal.db") as db:
            rows = db.execute(
                """SELECT s.utm_campaign, s.campaign_id, v.number FROM visit_session s
                   JOIN account a ON a.id = s.account_id
                   LEFT JOIN campaign_version v ON v.id = s.campaign_version_id
                   WHERE a.slug = ? ORDER BY s.started_at""",
                (slug,),
            ).fetchall()
        if len(rows) >= count or time.monotonic() > deadline:
            assert len(rows) == count, rows
            assert all((cid is None) == (number is None) for _, cid, number in rows), rows
            return [(utm, number) for utm, _, number in rows]
        time.sleep(0.2)


def test_sessions_are_tagged_with_the_version_live_when_they_started(
    server: Server, browser: Browser, page: Page, shop: dict[str, Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    sign_up(page, server.url, account_name=f"Tag shop {tag}", email=f"tag-{tag}@example.com", password=PASSWORD)
    slug = f"tag-shop-{tag}"
    key = server.cli("create-key", "--account", slug, "--kind", "publishable", "--origin", shop["origin"]).strip()
    shop["html"] = shop_page(server.url, key)

    _create_campaign(page, server.url, "Spring sale")
    _add_rule(page, field="utm_campaign", op="equals", value="spring")
    _publish(page, "launch", 1)

    _land(browser, f"{shop['origin']}/?utm_campaign=spring")
    _land(browser, f"{shop['origin']}/?utm_campaign=autumn")  # matches no rule
    assert _sessions(server, slug, 2) == [("spring", 1), ("autumn", None)]

    page.locator("#notes").fill("Creative B")
    _publish(page, "creative B", 2)
    _land(browser, f"{shop['origin']}/?utm_campaign=Spring")  # rules ignore case
    # The new session carries v2; the first keeps the version it started with.
    assert _sessions(server, slug, 3) == [("spring", 1), ("autumn", None), ("Spring", 2)]
