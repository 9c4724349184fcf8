"""Lifetime value in a real browser: the dashboard flow's shop (a campaign, a paid order through Stripe's signed
webhook, rollups rebuilt by the CLI) plus a day of spend through the API; the overview shows MER and blended CPA beside
the attributed figures, and /ltv shows the acquiring campaign's customers, CPA and payback, the cohort heatmap, the
"computed live" mark for another model, and exports CSV."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import log_in, url_is
from tests.e2e.test_dashboard_flow import PASSWORD, _choose, _seed
from tests.utils.server import Server

pytestmark = pytest.mark.e2e


def test_blended_figures_and_the_ltv_page(server: Server, page: Page, _stripe_recorder: Any) -> None:
    email, campaign = _seed(server, _stripe_recorder)
    slug = re.sub(r"^dash-(\w+)@.*$", r"dashboard-shop-\1", email)
    key = server.cli("create-key", "--account", slug, "--kind", "secret").strip()
    today = datetime.now(UTC).date().isoformat()
    spent = httpx.post(
        f"{server.base}/api/v1/spend",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
        json={"entries": [{"date": today, "campaign": campaign, "spend": "50.00", "currency": "EUR"}]},
    )
    assert spent.status_code in {200, 201}, spent.text  # fmt: skip
    base = server.url
    log_in(page, base, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))

    # The whole business beside the campaigns: 99.00 net / 50.00 spent, one new customer (credited to Spring).
    line = page.locator("#blended .blended-line")
    expect(line.locator(".blended-mer")).to_have_text("1.98×")
    expect(line.locator(".blended-roas")).to_have_text("1.98×")
    expect(line.locator(".blended-cpa")).to_have_text("€50.00")

    page.locator("#go-ltv").click()
    expect(page).to_have_url(url_is(base, "/ltv"))
    row = page.locator("#ltv-table .ltv-row", has_text="Spring")
    expect(row.locator('[data-column="customers"]')).to_have_text("1")
    expect(row.locator('[data-column="cpa"]')).to_have_text("€50.00")
    expect(row.locator('[data-column="ltv_30"]')).to_have_text("n/a")  # acquired today: no cohort 30 days old yet
    expect(row.locator('[data-column="payback"]')).to_have_text("not yet")
    expect(page.locator("#ltv-table a", has_text="Spring")).to_have_attribute("href", f"/campaigns/{campaign}")
    expect(page.locator("#cohorts .js-plotly-plot")).to_be_visible()
    expect(page.locator("#ltv-computed-live")).to_have_count(0)

    with page.expect_download() as download:
        page.locator("#export-ltv").click()
    text = download.value.path().read_text()
    assert text.startswith("row,currency,customers") and "Spring" in text

    _choose(page, "ltv-model", "Linear")
    expect(page).to_have_url(re.compile(r"/ltv\?.*model=linear"))
    expect(page.locator("#ltv-computed-live")).to_be_visible()
    expect(page.locator("#ltv-table .ltv-row", has_text="Spring").locator('[data-column="customers"]')).to_have_text(
        "1"
    )
