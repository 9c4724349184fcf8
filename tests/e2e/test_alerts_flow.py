"""Alerts in a real browser: a campaign gets visitors through the real API and no paid order; the marketer writes a
"conversions stopped" rule, tests it before saving ("Would fire", with the e-mail it would send), saves it, the
evaluation runs (the operator CLI, as the scheduled job would), and the history shows the alert as fired and
e-mailed. Filters go into the URL; deleting the rule takes its history with it."""

from __future__ import annotations

import email
import re
import uuid
from email.message import EmailMessage
from email.policy import default as default_policy

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import docs_screenshot, log_in, url_is
from tests.utils.events import event
from tests.utils.server import Server

pytestmark = pytest.mark.e2e

PASSWORD = "alerts-pass-12345"
RULE = "Spring orders stopped"


def _toast(page: Page, text: str) -> Locator:
    return page.locator("[data-sonner-toast]").filter(has_text=text)


def _choose(page: Page, trigger: str, option: str) -> None:
    page.locator(trigger).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(trigger)).to_contain_text(option)


def _seed(server: Server) -> tuple[str, str, str]:
    """An account (Europe/Berlin) with an active campaign "Spring" (utm_campaign=spring) that had 2 sessions just
    now and no order. Returns (slug, owner e-mail, campaign id)."""
    tag = uuid.uuid4().hex[:8]
    owner = f"alerts-{tag}@example.com"
    server.cli("create-account", "--name", f"Alerts shop {tag}", "--email", owner, "--password", PASSWORD,
               "--timezone", "Europe/Berlin")  # fmt: skip
    slug = f"alerts-shop-{tag}"
    auth = {"Authorization": f"Bearer {server.cli('create-key', '--account', slug, '--kind', 'secret').strip()}"}
    with httpx.Client(base_url=server.base, headers=auth, timeout=30) as api:
        created = api.post("/api/v1/campaigns", json={
            "name": "Spring", "channel": "meta", "publish": True,
            "config": {"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": "spring"}]}]},
        })  # fmt: skip
        assert created.status_code == 201, created.text
        events = [
            event(visitor_id=f"vis-{tag}-{n}", session_id=f"s-{tag}-{n}", utm_source="facebook",
                  utm_campaign="spring", url="https://shop.example.com/?utm_campaign=spring")
            for n in (1, 2)
        ]  # fmt: skip
        recorded = api.post("/api/v1/events", json={"events": events})
        assert recorded.status_code == 200 and recorded.json()["accepted"] == 2, recorded.text
    return slug, owner, created.json()["id"]


def _alert_mail(server: Server, to: str) -> EmailMessage:
    for path in sorted(server.outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        assert isinstance(message, EmailMessage)
        if to in str(message["To"]) and "no paid order" in str(message["Subject"]):
            return message
    raise AssertionError(f"no alert e-mail to {to} in {server.outbox}")


def test_create_test_save_fire_and_delete_a_rule(server: Server, page: Page) -> None:
    slug, owner, campaign = _seed(server)
    base = server.url
    log_in(page, base, email=owner, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))

    page.locator("a[href='/alerts']").click()
    expect(page).to_have_url(url_is(base, "/alerts"))
    expect(page.locator("#rules-empty")).to_contain_text("An alert watches a campaign")
    expect(page.locator("#history-empty")).to_contain_text("Nothing has fired yet")

    # The editor: a rule that fires after an hour of visitors without a paid order.
    page.locator("#new-rule-empty").click()
    editor = page.locator("#rule-editor")
    expect(editor).to_contain_text("New alert rule")
    expect(editor).to_contain_text("Leave empty: uses the version's KPI target")  # ROAS, the default metric
    page.locator("#rule-name").fill(RULE)
    _choose(page, "#rule-campaign", "Spring")
    _choose(page, "#rule-metric", "Conversions stopped")
    expect(page.locator("#rule-threshold")).to_have_count(0)
    page.locator("#rule-stopped_hours").fill("1")
    expect(page.locator("#rule-min_sessions")).to_have_value("100")  # a new rule's minimum volume
    page.locator("#rule-min_sessions").fill("1")

    # A refusal is shown next to its field, and goes away once the field is corrected.
    page.locator("#rule-recipient_emails").fill("ops@shop.test, not-an-address")
    page.locator("#save-rule").click()
    expect(page.locator("#error-recipients")).to_have_text("addresses: not-an-address is not an e-mail address")
    page.locator("#rule-recipient_emails").fill("")
    expect(page.locator("#error-recipients")).to_have_count(0)

    # Tested before it is saved: what it would say, and the e-mail it would send.
    page.locator("#test-rule").click()
    result = editor.locator(".preview-result")
    expect(result).to_have_count(1)
    expect(result.locator(".preview-verdict")).to_have_text("Would fire")
    expect(result.locator(".preview-campaign")).to_have_text("Spring v1")
    expect(result.locator(".preview-summary")).to_contain_text("No paid order in the last 1 h while 2 sessions arrived")
    expect(result.locator(".preview-drivers")).to_contain_text("This window: 2 sessions, 0 orders")
    result.locator(".preview-email summary").click()
    expect(result.locator(".preview-subject")).to_contain_text("[PaidSignal] Spring v1: no paid order in 1 h")
    expect(result.locator(".preview-text")).to_contain_text(f"Open the campaign: {base}/campaigns/{campaign}")
    docs_screenshot(page, "alert-editor")

    page.locator("#save-rule").click()
    expect(_toast(page, f"Rule {RULE} saved")).to_be_visible()
    expect(editor).to_have_count(0)
    row = page.locator(".rule-row")
    expect(row).to_have_count(1)
    expect(row.locator(".rule-name")).to_have_text(RULE)
    expect(row.locator("a.rule-campaign")).to_have_attribute("href", f"/campaigns/{campaign}")
    expect(row.locator(".rule-condition")).to_have_text("No paid order for 1 h while sessions arrive")
    expect(row.locator(".rule-recipients")).to_have_text("owners, admins")
    expect(row.locator(".rule-status")).to_contain_text("Not checked yet")  # not "OK" after "Would fire"

    # The scheduled job's work, now: evaluate, then send what is due. (Should the server's own job have run in
    # between, it found and sent the same alert, and this run finds nothing new: the history is the same.)
    out = server.cli("evaluate-alerts", "--account", slug)
    assert re.search(r"\d+ rules?, \d+ evaluations?, \d+ fired", out), out
    message = _alert_mail(server, owner)
    assert message["Subject"] == "[PaidSignal] Spring v1: no paid order in 1 h"

    page.reload()
    expect(row.locator(".rule-status")).to_contain_text("Firing: 1")
    entry = page.locator(".event-row")
    expect(entry).to_have_count(1)
    expect(entry.locator(".event-kind")).to_have_text("Fired")
    expect(entry.locator(".event-rule")).to_have_text(RULE)
    expect(entry.locator(".event-campaign")).to_have_text("Spring v1")
    expect(entry.locator(".event-summary")).to_contain_text("No paid order in the last 1 h while 2 sessions arrived")
    expect(entry.locator(".event-email")).to_have_text("sent")
    entry.locator(".event-toggle").click()
    expect(page.locator(".event-details .event-to")).to_contain_text(owner)
    expect(page.locator(".event-details")).to_contain_text("sent")
    docs_screenshot(page, "alerts")

    # Filters are in the URL.
    _choose(page, "#filter-kind", "Resolved")
    expect(page).to_have_url(re.compile(r"/alerts\?kind=resolved$"))
    expect(page.locator("#alerts-no-match")).to_be_visible()
    page.locator("#alerts-no-match button").click()
    expect(page).to_have_url(url_is(base, "/alerts"))
    expect(entry).to_have_count(1)

    # Deleting asks first, and says the history goes too.
    row.locator(".delete-rule").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("history")
    dialog.locator(".confirm").click()
    expect(page.locator("#rules-empty")).to_be_visible()
    expect(page.locator("#history-empty")).to_be_visible()
