"""The foundation in a real browser: sign-up, keys, team invitation, roles enforced by the server, login."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.helpers import invite_link, invite_mail, log_in, log_out, open_form_page, sign_up, url_is
from tests.utils.browser import SCREENSHOTS
from tests.utils.server import Server

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_owner_invites_viewer_and_server_enforces_roles(
    server: Server, page: Page, new_context: Callable[[], BrowserContext]
) -> None:
    base = server.url
    owner = f"{_unique('owner')}@example.com"
    viewer = f"{_unique('viewer')}@example.com"
    account_name = _unique("Acme Store")

    # Sign up: land on the empty overview, which points to the install page.
    sign_up(page, base, account_name=account_name, email=owner, password=PASSWORD)
    expect(page.locator("#empty-overview")).to_be_visible()
    expect(page.locator("#account-name")).to_have_text(account_name)
    expect(page.locator("#current-role")).to_have_text("owner")
    expect(page.locator("a", has=page.locator("#go-install"))).to_have_attribute("href", "/install")

    # A secret key is shown once.
    page.goto(f"{base}/settings/keys")
    expect(page.locator("#keys-empty")).to_be_visible()
    expect(page.locator("#keys-readonly-note")).to_have_count(0)
    page.locator("#kind-secret").click()
    expect(page.locator("#origins")).to_have_count(0)  # secret keys have no origins
    page.locator("input[name=label]").fill("Backend")
    page.locator("#create-key").click()
    created = page.locator("#created-key")
    expect(created).to_have_value(re.compile(r"^ps_sk_\S{20,}$"))
    secret = created.input_value()
    expect(page.locator("#keys-table .key-row")).to_have_count(1)
    expect(page.locator("#keys-table")).not_to_contain_text(secret)

    # A publishable key with an allowed origin.
    page.locator("#kind-publishable").click()
    page.locator("input[name=label]").fill("Shop")
    page.locator("#origins").fill("https://shop.example.com")
    page.locator("#create-key").click()
    expect(created).to_have_value(re.compile(r"^ps_pk_\S+$"))
    rows = page.locator("#keys-table .key-row")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Shop")).to_contain_text("https://shop.example.com")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "keys.png"), full_page=True)

    # Shown once: after a reload only the masked form is left.
    page.reload()
    expect(rows).to_have_count(2)
    expect(page.locator("#created-key-callout")).to_be_hidden()
    expect(page.locator("#created-key")).to_have_value("")
    assert secret not in page.content()

    # Invite a viewer: the link goes only to the invitee's mailbox (the file backend writes DATA_DIR/outbox); the
    # inviter's page says where it went but never shows it (they could accept in the invitee's name).
    page.goto(f"{base}/settings/team")
    expect(page.locator("#members-table")).to_contain_text(owner)
    page.locator("input[name=email]").fill(viewer)
    page.locator("#invite-role").click()
    page.get_by_role("option", name="viewer", exact=True).click()
    expect(page.locator("#invite-role")).to_have_text("viewer")
    page.locator("#send-invite").click()
    expect(page.locator("#invite-sent")).to_have_text(f"Invitation sent to {viewer}.")
    expect(page.locator(".invite-row")).to_contain_text(viewer)
    page.screenshot(path=str(SCREENSHOTS / "team.png"), full_page=True)
    mail = invite_mail(server.outbox, viewer)
    assert account_name in str(mail["Subject"])
    link = invite_link(mail, base)
    assert link not in page.content()
    expect(page.locator("#invite-link")).to_have_count(0)

    log_out(page, base)

    # The viewer accepts in a fresh browser and is logged in.
    guest = new_context().new_page()
    open_form_page(guest, link)
    expect(guest.locator("#invite-summary")).to_contain_text(viewer)
    expect(guest.locator("#invite-summary")).to_contain_text("viewer")
    guest.locator("input[name=password]").fill("viewer-password-123")
    guest.locator("#invite-accept").click()
    expect(guest).to_have_url(url_is(base, "/"))
    expect(guest.locator("#user-email")).to_have_text(viewer)
    expect(guest.locator("#current-role")).to_have_text("viewer")

    # The viewer sees the keys and a note saying who manages them: no form the server would refuse (the server
    # refuses it regardless: tests/state/test_auth_and_keys_states.py).
    guest.goto(f"{base}/settings/keys")
    guest_rows = guest.locator("#keys-table .key-row")
    expect(guest_rows).to_have_count(2)
    expect(guest.locator("#keys-readonly-note")).to_be_visible()
    expect(guest.locator("#create-key")).to_have_count(0)
    expect(guest.locator("input[name=label]")).to_have_count(0)
    expect(guest.locator("#keys-table .key-row button")).to_have_count(0)  # no Revoke
    log_out(guest, base)

    # The owner logs back in: both keys are still there.
    log_in(page, base, email=owner, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))
    page.goto(f"{base}/settings/keys")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Backend")).to_contain_text("secret")
    expect(rows.filter(has_text="Shop")).to_contain_text("publishable")
    expect(page.locator("#keys-table")).not_to_contain_text("Sneaky")


def test_wrong_password_shows_one_message(server: Server, page: Page) -> None:
    owner = f"{_unique('login')}@example.com"
    server.cli("create-account", "--name", _unique("Login Shop"), "--email", owner, "--password", PASSWORD)

    log_in(page, server.url, email=owner, password="not-the-password")
    error = page.locator("#form-error")
    expect(error).to_have_text("Email or password is wrong.")
    expect(error).to_have_count(1)
    expect(page).to_have_url(url_is(server.url, "/login"))

    # An unknown email gets the very same message (no account enumeration).
    page.locator("input[name=email]").fill(f"{_unique('nobody')}@example.com")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("#login-submit").click()
    expect(error).to_have_text("Email or password is wrong.")

    page.locator("input[name=email]").fill(owner)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("#login-submit").click()
    expect(page).to_have_url(url_is(server.url, "/"))
    expect(page.locator("#user-email")).to_have_text(owner)


def test_password_never_lands_in_the_url_before_hydration(server: Server, browser: Browser) -> None:
    # Without JavaScript the prerendered form is submitted natively: it must not be a GET.
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/login")
        page.locator("input[name=email]").fill("someone@example.com")
        page.locator("input[name=password]").fill("never-in-a-url-123")
        with page.expect_request(lambda r: r.is_navigation_request() and r.frame == page.main_frame) as sent:
            page.locator("#login-submit").click()
        assert sent.value.method == "POST"
        assert "never-in-a-url" not in sent.value.url
    finally:
        context.close()
