"""The dashboard in a real browser: data goes in through the real API (a campaign, server-side events, a checkout
paid by Stripe's signed webhook), the rollups are rebuilt with the operator CLI, then the overview shows the KPIs and
plotly charts, the range picker changes the URL, and the explorer sorts its table and exports it as CSV."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import log_in, url_is
from tests.utils.events import event
from tests.utils.server import Server
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event

pytestmark = pytest.mark.e2e

PASSWORD = "dashboard-pass-1"
WEBHOOK_SECRET = "whsec_dashboard_shop_0000000"


def _query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def _seed(server: Server, recorder: StripeRecorder) -> tuple[str, str]:
    """An account with a campaign "Spring" (utm_campaign=spring), 3 sessions today (2 from the campaign) and one
    paid order of 99.00 EUR from a campaign visitor. Returns (owner email, campaign id)."""
    tag = uuid.uuid4().hex[:8]
    email = f"dash-{tag}@example.com"
    out = server.cli("create-account", "--name", f"Dashboard shop {tag}", "--email", email, "--password", PASSWORD)
    account = re.search(r"id=(acc_\w+)", out)
    assert account, out
    slug = f"dashboard-shop-{tag}"
    product = recorder.add_product(name="Sneakers")
    price = recorder.add_price(product=product["id"], unit_amount=4_950, currency="eur")
    server.cli("connect-stripe", "--account", slug, "--key", f"sk_test_51DashboardShop{tag}",  # its own account
               "--webhook-secret", WEBHOOK_SECRET)  # fmt: skip
    auth = {"Authorization": f"Bearer {server.cli('create-key', '--account', slug, '--kind', 'secret').strip()}"}
    with httpx.Client(base_url=server.base, headers=auth, timeout=30) as api:
        created = api.post("/api/v1/campaigns", json={
            "name": "Spring", "channel": "meta", "publish": True,
            "config": {"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": "spring"}]}]},
        })  # fmt: skip
        assert created.status_code == 201, created.text
        campaign = created.json()["id"]
        events = [
            event(visitor_id=f"vis-{tag}-1", session_id=f"s-{tag}-1", url="https://shop.example.com/?utm_campaign=spring",
                  utm_source="facebook", utm_campaign="spring"),
            event(visitor_id=f"vis-{tag}-2", session_id=f"s-{tag}-2", url="https://shop.example.com/?utm_campaign=spring",
                  utm_source="facebook", utm_campaign="spring"),
            event(visitor_id=f"vis-{tag}-3", session_id=f"s-{tag}-3", url="https://shop.example.com/"),
        ]  # fmt: skip
        recorded = api.post("/api/v1/events", json={"events": events})
        assert recorded.status_code == 200 and recorded.json()["accepted"] == 3, recorded.text
        started = api.post("/api/v1/checkout/sessions", json={
            "items": [{"price": price["id"], "quantity": 2}], "visitor_id": f"vis-{tag}-1",
            "success_url": "https://shop.example.com/thanks", "cancel_url": "https://shop.example.com/cart",
        })  # fmt: skip
        assert started.status_code == 200, started.text
    order_id = started.json()["order_id"]
    [session] = [s for s in recorder.sessions.values() if s["client_reference_id"] == order_id]
    body = stripe_event("checkout.session.completed", recorder.complete_session(session["id"]))
    delivered = httpx.post(
        f"{server.base}/api/v1/stripe/webhook/{account.group(1)}",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, WEBHOOK_SECRET)},
        timeout=30,
    )
    assert delivered.status_code == 200 and delivered.json()["outcome"] == "applied", delivered.text
    # The update_rollups job would pick the dirty days up within ROLLUP_SECONDS; the CLI makes it happen now.
    assert "recomputed" in server.cli("rebuild-rollups", "--account", slug)
    return email, campaign


def _choose(page: Page, select_id: str, option: str) -> None:
    page.locator(f"#{select_id}").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_overview_range_picker_and_explorer(server: Server, page: Page, _stripe_recorder: Any) -> None:
    email, campaign = _seed(server, _stripe_recorder)
    base = server.url
    log_in(page, base, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))

    # The overview: KPIs of the last 28 days vs the previous period, charts, top campaigns, today's live list.
    expect(page.locator("#metric-net-eur .kpi-value")).to_have_text("€99.00")
    expect(page.locator("#metric-orders .kpi-value")).to_have_text("1")
    expect(page.locator("#metric-sessions .kpi-value")).to_have_text("3")
    expect(page.locator("#metric-conversion-rate .kpi-value")).to_have_text("33.3%")
    expect(page.locator("#metric-cpa-eur .kpi-value")).to_have_text("n/a")  # no spend: not 0.00 (free customers)
    expect(page.locator("#metric-net-eur .kpi-percent")).to_have_text("n/a")  # nothing the period before
    expect(page.locator("#metric-net-eur .kpi-previous")).to_have_text("was €0.00")
    expect(page.locator("#chart-revenue .js-plotly-plot")).to_be_visible()
    expect(page.locator("#chart-orders .js-plotly-plot")).to_be_visible()
    expect(page.locator("#top-campaigns .campaign-line").first).to_contain_text("Spring")
    expect(page.locator("#top-campaigns a", has_text="Spring")).to_have_attribute("href", f"/campaigns/{campaign}")
    expect(page.locator("#kpi-sessions")).to_have_text("3")  # today, live, below
    expect(page.locator("#overview-events")).to_be_visible()
    expect(page.locator("#range-period")).to_contain_text("(28 days)")

    # The range picker writes the URL: a view can be shared.
    _choose(page, "range-preset", "Last 7 days")
    expect(page).to_have_url(re.compile(r"\?.*range=last_7_days"))
    expect(page.locator("#range-period")).to_contain_text("(7 days)")
    expect(page.locator("#metric-orders .kpi-value")).to_have_text("1")
    _choose(page, "range-compare", "No comparison")
    expect(page).to_have_url(re.compile(r"compare=none"))
    expect(page.locator("#metric-net-eur .kpi-previous")).to_have_count(0)
    assert _query(page)["range"] == ["last_7_days"]
    _choose(page, "range-preset", "Custom")
    expect(page).to_have_url(re.compile(r"range=custom&.*start=\d{4}-\d\d-\d\d"))
    expect(page.locator("#range-start")).to_be_visible()

    # The shared link opens the same view in a fresh page.
    shared = page.url
    page.goto(shared)
    expect(page.locator("#metric-orders .kpi-value")).to_have_text("1")
    expect(page.locator("#range-preset")).to_have_text("Custom")

    # The explorer: rows by campaign, sortable headers, the comparison, CSV.
    page.goto(f"{base}/metrics?range=last_28_days&dimension=campaign")
    rows = page.locator("#explorer-table .explorer-row")
    expect(rows).to_have_count(2)
    expect(rows.first.locator(".row-label")).to_have_text("Spring")  # by net revenue
    expect(page.locator("#explorer-chart .js-plotly-plot")).to_be_visible()
    sessions = page.locator('#explorer-table th[data-column="sessions"]')
    sessions.click()
    expect(sessions).to_have_attribute("aria-sort", "desc")
    expect(rows.first.locator(".row-label")).to_have_text("Spring")  # 2 sessions
    sessions.click()
    expect(sessions).to_have_attribute("aria-sort", "asc")
    expect(rows.first.locator(".row-label")).to_have_text("Direct / unmatched")  # 1 session
    expect(page.locator("#explorer-table .explorer-total")).to_contain_text("€99.00")

    with page.expect_download() as downloaded:
        page.locator("#export-csv").click()
    text = downloaded.value.path().read_text()
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["label"] for r in table] == ["Direct / unmatched", "Spring", "Total"]  # as sorted on screen
    assert [r["key"] for r in table] == ["direct", campaign, "total"]  # the API's public ids, not database ids
    assert table[-1]["Net revenue (EUR)"] == "99.00" and table[-1]["Net revenue (EUR) comparison"] == "0.00"
    assert table[-1]["Sessions"] == "3" and "Orders change %" in table[0]

    # Another lookback is computed live; the choice is in the URL.
    _choose(page, "explorer-lookback", "7 days")
    expect(page).to_have_url(re.compile(r"lookback_days=7"))
    expect(page.locator("#computed-live")).to_be_visible()
    expect(page.locator("#explorer-table .explorer-total")).to_contain_text("€99.00")

    # The campaign page compares its versions, with the volumes.
    page.goto(f"{base}/campaigns/{campaign}")
    version = page.locator("#versions-compared-table .version-window-row")
    expect(version).to_have_count(1)
    expect(version).to_contain_text("v1")
    expect(version).to_contain_text("€99.00")
    expect(version.locator(".small-sample")).to_be_visible()


def test_a_test_event_changes_no_figure_and_latest_events_say_what_they_matched(
    server: Server, page: Page, _stripe_recorder: Any
) -> None:
    """Issue 16: "Send a test event" on /install raised sessions 2 → 3, lowered the conversion rate and added a
    `direct` row. It is listed, marked, and counts nowhere. Latest events show the receipt time they are sorted by
    and the campaign and version each event's session matched."""
    email, _campaign = _seed(server, _stripe_recorder)
    base = server.url
    log_in(page, base, email=email, password=PASSWORD)
    expect(page.locator("#metric-sessions .kpi-value")).to_have_text("3")

    page.goto(f"{base}/install")
    page.locator("#send-test-event").click()
    test_row = page.locator("#install-events .event-row").first
    expect(test_row).to_contain_text("test")
    expect(test_row.locator(".event-campaign")).to_have_text("—")
    # Whatever the update_rollups job would make of it: recompute every day now.
    tag = email.removeprefix("dash-").split("@")[0]
    assert "recomputed" in server.cli("rebuild-rollups", "--account", f"dashboard-shop-{tag}")

    page.goto(f"{base}/")
    expect(page.locator("#metric-sessions .kpi-value")).to_have_text("3")
    expect(page.locator("#metric-conversion-rate .kpi-value")).to_have_text("33.3%")
    expect(page.locator("#kpi-sessions")).to_have_text("3")  # today's live counters
    expect(page.locator("#kpi-events")).to_have_text("3")
    events = page.locator("#overview-events")
    expect(events.locator("th").first).to_have_text("Received")
    rows = events.locator(".event-row")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("test")  # listed, marked, newest received first
    campaigns = rows.locator(".event-campaign")
    expect(campaigns).to_have_text(["—", "direct", "Spring v1", "Spring v1"])
