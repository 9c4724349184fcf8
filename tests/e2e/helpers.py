"""Small Playwright helpers shared by the browser tests."""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from playwright.sync_api import Page, expect

# The form is interactive once React has hydrated it (the pages are prerendered HTML until then; a click before
# that would submit the form natively). Reflex queues events until its websocket is connected.
_HYDRATED_FORM = """() => {
  const form = document.querySelector('form');
  return !!form && Object.keys(form).some((k) => k.startsWith('__reactFiber$') || k.startsWith('__reactProps$'));
}"""


def open_form_page(page: Page, url: str) -> None:
    page.goto(url)
    # Poll on a timer: requestAnimationFrame (the default) can stall in a page that is not in front.
    page.wait_for_function(_HYDRATED_FORM, polling=100)


def url_is(base: str, path: str) -> re.Pattern[str]:
    """A pattern for ``expect(page).to_have_url``: ``base + path``, with or without a trailing slash or query."""
    return re.compile(rf"^{re.escape(base + path.rstrip('/'))}/?(\?.*)?$")


def sign_up(page: Page, base: str, *, account_name: str, email: str, password: str) -> None:
    open_form_page(page, f"{base}/signup")
    # The timezone comes from the browser (Intl) through a websocket round trip: proof the page is live.
    expect(page.locator("input[name=timezone]")).to_have_value("Europe/Berlin")
    page.locator("input[name=account_name]").fill(account_name)
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("#signup-submit").click()
    expect(page).to_have_url(url_is(base, "/"))
    # The new account's overview has finished loading (its on_load events ran): the page is idle, so a click on
    # the sidebar right after is not raced by the first page's loading (a flake seen once in CI).
    expect(page.locator("#empty-overview")).to_be_visible()


def log_in(page: Page, base: str, *, email: str, password: str) -> None:
    open_form_page(page, f"{base}/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("#login-submit").click()


def log_out(page: Page, base: str) -> None:
    page.locator("#logout").click()
    expect(page).to_have_url(url_is(base, "/login"))


def invite_mail(outbox: Path, to: str) -> EmailMessage:
    """The invitation emailed to ``to`` (the file email backend writes one .eml per message to the outbox)."""
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        assert isinstance(message, EmailMessage)
        if message["To"] == to:
            return message
    raise AssertionError(f"no .eml for {to} in {outbox}: {sorted(p.name for p in outbox.glob('*'))}")


def invite_link(message: EmailMessage, base: str) -> str:
    """The accept link in an invitation's plain-text body: only the invitee gets it, the inviter's page never shows
    it."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(rf"{re.escape(base)}/invite/\S+", body.get_content())
    assert found, body.get_content()
    return found.group(0)
