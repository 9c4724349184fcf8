"""The demo shop page by page in a real browser, as the user guide shows it: ``seed-demo`` fills an account through
the real services (campaigns with versions, traffic, Stripe-paid orders, refunds, spend), its owner signs in, and
each page that shows that data shows it. Each is saved into docs/images (the README shows the overview), so a run of
the browser tests keeps the docs' screenshots current; the flow tests save the pages the demo cannot fill (alerts,
the assistant, conversions, usage, admin jobs)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.devtools.demo import DEMO_EMAIL
from tests.e2e.helpers import docs_screenshot, log_in, url_is
from tests.utils.server import Server

pytestmark = pytest.mark.e2e

PASSWORD = "docs-demo-pass-1"


def test_the_demo_shop_page_by_page(server: Server, page: Page) -> None:
    # Two months: the overview's last 28 days have a previous period to compare with.
    server.cli("seed-demo", "--days", "60", "--sessions-per-day", "120", "--password", PASSWORD, "--reset")
    base = server.url
    log_in(page, base, email=DEMO_EMAIL, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))

    # Overview: KPI cards against the previous period, the charts, the top campaigns.
    expect(page.locator("#metric-net-eur .kpi-value")).to_have_text(re.compile(r"^€[\d,]+\.\d\d$"))
    expect(page.locator("#metric-net-eur .kpi-previous")).to_have_text(re.compile(r"^was €[\d,]+\.\d\d$"))
    expect(page.locator("#chart-revenue .js-plotly-plot")).to_be_visible()
    expect(page.locator("#chart-orders .js-plotly-plot")).to_be_visible()
    expect(page.locator("#top-campaigns")).to_contain_text("Autumn sale")
    docs_screenshot(page, "overview")

    page.goto(f"{base}/metrics?dimension=campaign")
    expect(page.locator("#explorer-table .explorer-row").filter(has_text="Brand search")).to_have_count(1)
    expect(page.locator("#explorer-chart .js-plotly-plot")).to_be_visible()
    docs_screenshot(page, "metrics")

    page.goto(f"{base}/campaigns")
    expect(page.locator(".campaign-row")).to_have_count(5)
    docs_screenshot(page, "campaigns")
    page.locator(".campaign-link", has_text="Autumn sale").click()
    expect(page).to_have_url(re.compile(r"/campaigns/cmp_\w+$"))
    expect(page.locator("#versions-compared-table .version-window-row")).to_have_count(3)
    docs_screenshot(page, "campaign", full_page=True)

    page.goto(f"{base}/pixels")
    expect(page.locator(".pixel-card")).to_have_count(2)
    docs_screenshot(page, "pixels")

    page.goto(f"{base}/orders")
    expect(page.locator(".order-row").first).to_be_visible()
    docs_screenshot(page, "orders")
    page.locator(".order-row .order-link").first.click()
    expect(page).to_have_url(re.compile(r"/orders/ord_\w+$"))
    expect(page.locator("#order-timeline .timeline-entry").first).to_be_visible()
    docs_screenshot(page, "order", full_page=True)

    page.goto(f"{base}/spend")
    expect(page.locator(".spend-row").first).to_be_visible()
    docs_screenshot(page, "spend")

    page.goto(f"{base}/install")
    expect(page.locator("#install-snippet")).to_contain_text("pixel.js")
    expect(page.locator("#install-events .event-row").first).to_be_visible()
    docs_screenshot(page, "install")

    page.goto(f"{base}/settings/keys")
    expect(page.locator(".key-row")).to_have_count(1)  # the demo shop's publishable key
    docs_screenshot(page, "keys")

    page.goto(f"{base}/settings/team")
    expect(page.locator(".member-row")).to_have_count(1)
    docs_screenshot(page, "team")

    page.goto(f"{base}/settings/stripe")
    expect(page.locator("#stripe-connection")).to_be_visible()
    expect(page.locator(".price-row").first).to_be_visible()
    docs_screenshot(page, "stripe")
