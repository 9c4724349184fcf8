"""Every page under the production server's Content-Security-Policy in Chromium, with 0 violations.

A visitor signs up (the sign-up page asks the browser for its timezone), then a staff owner of a shop with data (a
campaign, sessions, a paid order) opens every registered backoffice page, draws the charts, changes the explorer's
measure, exports a CSV, asks the assistant a question, gets a toast from a handler, and opens the admin pages and the
API docs. Each page reports
every ``securitypolicyviolation`` event to the test as it happens, and Chromium's console messages about the policy
are collected too; every response of our server must carry the security headers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

import app.pages  # noqa: F401  (registers every page)
from app import routes
from app.components.layout import registered_pages
from tests.e2e.helpers import log_in, log_out, open_form_page, sign_up, url_is
from tests.e2e.test_dashboard_flow import PASSWORD, _seed
from tests.utils.llm_server import LlmServer, text
from tests.utils.server import Server

pytestmark = pytest.mark.e2e

# Runs in every document before its own scripts: each violation goes to the test at once (a page navigated away
# from cannot be asked afterwards) and is also kept on window for a look in the browser.
LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const seen = {page: location.href, directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample,
                source: `${e.sourceFile}:${e.lineNumber}`};
  window.__cspViolations.push(seen);
  window.__reportCspViolation(seen);
}, true);
"""
HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy")
ANSWER_TIMEOUT_MS = 90_000  # the first answer of a fresh server imports litellm first


class PolicyWatch:
    """What a browser context saw: policy violations, console messages about the policy, and our responses
    missing a security header."""

    def __init__(self, context: BrowserContext, server: Server) -> None:
        self.violations: list[dict[str, Any]] = []
        self.console: list[str] = []
        self.missing_headers: list[str] = []
        self.responses = 0
        origins = (server.url, server.base)

        def on_violation(seen: dict[str, Any]) -> None:
            self.violations.append(seen)

        def on_console(message: Any) -> None:
            if "Content Security Policy" in message.text:
                self.console.append(f"{message.page.url if message.page else '?'}: {message.text}")

        def on_response(response: Any) -> None:
            if not response.url.startswith(origins):
                return
            self.responses += 1
            headers = response.headers
            missing = [name for name in HEADERS if name not in headers]
            if missing:
                self.missing_headers.append(f"{response.status} {response.url}: no {', '.join(missing)}")

        context.expose_function("__reportCspViolation", on_violation)
        context.add_init_script(LISTENER)
        context.on("console", on_console)
        context.on("response", on_response)

    def report(self) -> str:
        """What was seen so far, one line each (printed when the test fails, to tell what the policy refused)."""
        lines = [f"violation: {v}" for v in self.violations] + [f"console: {m}" for m in self.console]
        return "\n".join(lines + self.missing_headers)

    def assert_clean(self) -> None:
        assert self.violations == [], "\n".join(map(str, self.violations))
        assert self.console == [], "\n".join(self.console)
        assert self.missing_headers == [], "\n".join(self.missing_headers)


def _page_is_loaded(page: Page, email: str) -> None:
    """The signed-in page is live (the sidebar shows the user) and its content is in (no loading spinner)."""
    expect(page.locator("#user-email")).to_have_text(email)
    expect(page.locator(".rt-Spinner")).to_have_count(0)


def _choose(page: Page, select_id: str, option: str) -> None:
    page.locator(f"#{select_id}").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_every_page_loads_under_the_policy_without_a_violation(
    server: Server,
    new_context: Callable[[], BrowserContext],
    _stripe_recorder: Any,
    llm_server: LlmServer,
    request: pytest.FixtureRequest,
) -> None:
    base = server.url
    visited: set[str] = set()

    # Signed out: log-in and sign-up pages, then a new account's empty overview.
    context = new_context()
    watch = PolicyWatch(context, server)
    request.addfinalizer(lambda: print(watch.report()))  # shown when the test fails midway
    page = context.new_page()
    open_form_page(page, f"{base}{routes.LOGIN}")
    visited.add(routes.LOGIN)
    tag = uuid.uuid4().hex[:8]
    sign_up(page, base, account_name=f"Policy shop {tag}", email=f"policy-{tag}@example.com", password="policy-pass-1")
    visited |= {routes.SIGNUP, routes.HOME}
    log_out(page, base)

    # A staff owner of a shop with data.
    email, campaign = _seed(server, _stripe_recorder)
    server.cli("make-staff", "--email", email)
    log_in(page, base, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(base, routes.HOME))
    expect(page.locator("#chart-revenue .js-plotly-plot")).to_be_visible()
    expect(page.locator("#chart-orders .js-plotly-plot")).to_be_visible()
    _page_is_loaded(page, email)
    # Plotly's own PNG export (its mode bar) draws the chart through an image made from the SVG.
    page.locator("#chart-revenue .js-plotly-plot").hover()
    with page.expect_download() as png:
        page.locator("#chart-revenue .modebar-btn[data-title^='Download plot']").click()
    assert png.value.suggested_filename.endswith(".png")

    # The explorer: its chart, another measure (written into the URL without a reload), the CSV export.
    page.goto(f"{base}{routes.METRICS}?range=last_28_days&dimension=campaign")
    expect(page.locator("#explorer-chart .js-plotly-plot")).to_be_visible()
    _choose(page, "explorer-measure", "Orders")
    expect(page).to_have_url(re.compile(r"[?&]measure=orders"))
    with page.expect_download() as downloaded:
        page.locator("#export-csv").click()
    assert downloaded.value.path().read_text().startswith("key,label,")
    _page_is_loaded(page, email)
    visited.add(routes.METRICS)

    page.goto(f"{base}{routes.ORDERS}")
    page.locator("#orders-table .order-link").first.click()
    expect(page.locator("#order-id")).to_be_visible()
    _page_is_loaded(page, email)
    visited |= {routes.ORDERS, routes.ORDER}

    page.goto(f"{base}{routes.campaign_url(campaign)}")
    expect(page.locator("#campaign-name")).to_have_text("Spring")
    _page_is_loaded(page, email)
    visited.add(routes.CAMPAIGN)

    # The assistant answers in markdown, with the tool call it made.
    llm_server.script(text("Spring earned **99.00 EUR** in the last 28 days.\n\n| campaign | net |\n|---|---|\n"
                           "| Spring | 99.00 EUR |"))  # fmt: skip
    page.goto(f"{base}{routes.ASSISTANT}")
    box = page.locator("#assistant-input")
    box.fill("What did Spring earn?")
    box.press("Enter")
    expect(page.locator(".message-assistant .message-content").last).to_contain_text(
        "99.00 EUR", timeout=ANSWER_TIMEOUT_MS
    )
    expect(box).to_be_enabled(timeout=ANSWER_TIMEOUT_MS)
    visited.add(routes.ASSISTANT)

    plain = [
        routes.CONVERSIONS,
        routes.CAMPAIGNS,
        routes.SPEND,
        routes.ALERTS,
        routes.PIXELS,
        routes.INSTALL,
        routes.SETTINGS_KEYS,
        routes.SETTINGS_TEAM,
        routes.SETTINGS_STRIPE,
        routes.SETTINGS_AD_PLATFORMS,
        routes.LTV,
        routes.USAGE,
        routes.ADMIN_JOBS,
        routes.ADMIN_USAGE,
    ]
    for route in plain:
        page.goto(f"{base}{route}")
        _page_is_loaded(page, email)
        visited.add(route)
    expect(page.locator("#usage-accounts-section")).to_be_visible()  # staff see the admin pages' figures

    # A toast a handler sends (it reaches the page as state, not as a script).
    page.goto(f"{base}{routes.INSTALL}")
    page.locator("#send-test-event").click()
    toast = page.locator("[data-sonner-toast]").filter(has_text="recorded through the ingest pipeline")
    expect(toast).to_have_count(1)

    # An invitation link (a spent or wrong one says so).
    page.goto(f"{base}/invite/not-a-real-token")
    expect(page.locator("#form-error")).to_be_visible()
    visited.add(routes.INVITE)

    # The API docs (Swagger UI, with its own inline start script).
    page.goto(f"{base}{routes.API_DOCS}")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("PaidSignal API")
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()

    assert visited == {options["route"] for _, options in registered_pages()}, "a page is not visited here"
    assert watch.responses > 50  # the watch saw the pages and their files
    watch.assert_clean()
