"""Small Playwright helpers shared by the browser tests."""

from __future__ import annotations

import email
import re
import uuid
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.utils.server import ROOT, Server
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event

# The user guide's screenshots (docs/images, committed): the browser tests take them, so each run keeps them current.
DOCS_IMAGES = ROOT / "docs" / "images"
_NO_TOASTS = "[data-sonner-toaster], [data-sonner-toast] { display: none !important; }"

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


def docs_screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Save what ``page`` shows now as ``docs/images/<name>.png`` for the docs (the README shows ``overview``).

    Call it once the page shows what the guide describes (after the test's own expectations). The viewport is the
    test context's 1280×900; ``full_page`` for pages whose point is below the fold.
    """
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover highlight or tooltip in the picture
    page.screenshot(
        path=str(DOCS_IMAGES / f"{name}.png"),
        full_page=full_page,
        animations="disabled",
        style=_NO_TOASTS,  # a toast left by an earlier step of the test is no part of the page the docs describe
    )


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


def stripe_shop(
    server: Server, *, prefix: str, password: str, webhook_secret: str
) -> tuple[str, str, str, dict[str, str]]:
    """An account made with the operator CLI, its Stripe connected (webhook secret ``webhook_secret``) and a secret
    API key. Returns (owner e-mail, account id ``acc_…``, its slug for the CLI, the API's Authorization header)."""
    tag = uuid.uuid4().hex[:8]
    owner = f"{prefix}-{tag}@example.com"
    out = server.cli("create-account", "--name", f"{prefix} shop {tag}", "--email", owner, "--password", password)
    account = re.search(r"id=(acc_\w+)", out)
    assert account, out
    slug = f"{prefix}-shop-{tag}"
    # A key of its own: the recording Stripe API lists each key's Checkout Sessions apart (a history import of one
    # shop must not find another's sales).
    server.cli("connect-stripe", "--account", slug, "--key", f"sk_test_51E2eShop{tag}",
               "--webhook-secret", webhook_secret)  # fmt: skip
    key = server.cli("create-key", "--account", slug, "--kind", "secret").strip()
    return owner, account.group(1), slug, {"Authorization": f"Bearer {key}"}


def pay_checkout(server: Server, recorder: StripeRecorder, *, order_id: str, account: str, webhook_secret: str) -> None:
    """What Stripe does when the buyer pays: the recorded Checkout Session of ``order_id`` completes and its signed
    ``checkout.session.completed`` reaches the account's webhook."""
    [session] = [s for s in recorder.sessions.values() if s["client_reference_id"] == order_id]
    body = stripe_event("checkout.session.completed", recorder.complete_session(session["id"]))
    delivered = httpx.post(
        f"{server.base}/api/v1/stripe/webhook/{account}",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, webhook_secret)},
        timeout=30,
    )
    assert delivered.status_code == 200 and delivered.json()["outcome"] == "applied", delivered.text
