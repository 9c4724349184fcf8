"""What the ad platforms claim against what was paid, in a real browser: a shop's visitors land from Meta with the
campaign id in the URL (``utm_id``) and from Google without it; three of them pay through Stripe's signed webhook.
The owner connects Meta and Google Ads on Settings → Ad platforms against the recording Graph and Google Ads APIs,
the sync fetches the reports by itself, Meta's campaign is mapped by the URL ids, Google's by hand on the campaign
page, and the platform-vs-verified table reads the figures worked out in advance."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import log_in, pay_checkout, stripe_shop, url_is
from tests.utils.ad_reports import google_row, meta_row
from tests.utils.events import event
from tests.utils.server import Server
from tests.utils.stripe_fakes import StripeRecorder

pytestmark = pytest.mark.e2e

PASSWORD = "ad-platforms-pass-1"
WEBHOOK_SECRET = "whsec_ad_platforms_shop_0000"
SPRING = ("1201", "Spring sale – prospecting")
SEARCH = ("456", "Search – brand")


def _seed(server: Server, recorder: StripeRecorder) -> tuple[str, str, str]:
    """Campaigns "Spring sale" (2 paid orders from visits carrying Meta's campaign id 1201) and "Brand search" (1 paid
    order from a visit without platform ids). Returns (owner e-mail, Spring sale's id, Brand search's id)."""
    email, account, slug, auth = stripe_shop(
        server, prefix="adplatforms", password=PASSWORD, webhook_secret=WEBHOOK_SECRET
    )
    tag = account.removeprefix("acc_")
    price = recorder.add_price(product=recorder.add_product(name="Sneakers")["id"], unit_amount=4_950, currency="eur")
    landings = {
        "spring": "https://shop.example.com/?utm_source=facebook&utm_campaign=spring&utm_id=1201",
        "brand": "https://shop.example.com/?utm_source=google&utm_campaign=brand",
    }
    # Meta's URL template also carries the ad set and ad (utm_term / utm_content): the two paid Spring sale visits
    # came from the "Broad" ad set's "Video" and "Static" ads, the third visit from an ad set Meta never reported.
    ad_ids = {("spring", 0): ("1202", "1203"), ("spring", 1): ("1202", "1204"), ("spring", 2): ("1999", "1998")}
    sources = {"spring": "facebook", "brand": "google"}
    ids: dict[str, str] = {}
    with httpx.Client(base_url=server.base, headers=auth, timeout=30) as api:
        for key, name, channel in (("spring", "Spring sale", "meta"), ("brand", "Brand search", "google")):
            config = {"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": key}]}]}
            body = {"name": name, "channel": channel, "publish": True, "config": config}
            created = api.post("/api/v1/campaigns", json=body)
            assert created.status_code == 201, created.text
            ids[key] = created.json()["id"]
        visits = [("spring", 0), ("spring", 1), ("spring", 2), ("brand", 0), ("brand", 1)]
        # Server-sent events carry their UTM fields; Meta's campaign id is only in the landing URL (its template).
        events = []
        for k, i in visits:
            term, content = ad_ids.get((k, i), (None, None))
            url = landings[k] + (f"&utm_term={term}&utm_content={content}" if term else "")
            events.append(event(visitor_id=f"vis-{tag}-{k}-{i}", session_id=f"s-{tag}-{k}-{i}", url=url,
                                utm_source=sources[k], utm_campaign=k, utm_term=term, utm_content=content))  # fmt: skip
        recorded = api.post("/api/v1/events", json={"events": events})
        assert recorded.status_code == 200 and recorded.json()["accepted"] == len(events), recorded.text
        for key, i in (("spring", 0), ("spring", 1), ("brand", 0)):
            started = api.post("/api/v1/checkout/sessions", json={
                "items": [{"price": price["id"], "quantity": 1}], "visitor_id": f"vis-{tag}-{key}-{i}",
                "session_id": f"s-{tag}-{key}-{i}", "success_url": "https://shop.example.com/thanks",
                "cancel_url": "https://shop.example.com/cart",
            })  # fmt: skip
            assert started.status_code == 200, started.text
            pay_checkout(server, recorder, order_id=started.json()["order_id"], account=account,
                         webhook_secret=WEBHOOK_SECRET)  # fmt: skip
    assert "recomputed" in server.cli("rebuild-rollups", "--account", slug)
    return email, ids["spring"], ids["brand"]


def _platforms(platforms: Any) -> None:
    """Meta claims 3 purchases (240 €) for 50 € of spend on Spring sale; Google claims 4 conversions (200 €) for 20 €
    on Search – brand. Yesterday and the day before, in UTC (the account's and the ad accounts' timezone)."""
    today = datetime.now(UTC).date()
    d1, d2 = (today - timedelta(days=2)).isoformat(), (today - timedelta(days=1)).isoformat()
    platforms.meta_accounts["7654321"] = {"name": "Shop ads", "currency": "EUR", "timezone_name": "UTC"}
    platforms.google_customers["1234567890"] = {"descriptiveName": "Shop search", "currencyCode": "EUR",
                                                "timeZone": "UTC"}  # fmt: skip
    platforms.meta_rows[:] = [
        meta_row(d1, SPRING, ("1202", "Broad"), ("1203", "Video"), spend="40.00", purchases=2, value="160"),
        meta_row(d2, SPRING, ("1202", "Broad"), ("1204", "Static"), spend="10.00", purchases=1, value="80"),
    ]
    platforms.google_rows[:] = [
        google_row(d1, SEARCH, ("457", "Exact"), ("458", "RSA"), cost_micros=12_000_000, conversions=3.0, value=150.0),
        google_row(d2, SEARCH, ("457", "Exact"), ("458", "RSA"), cost_micros=8_000_000, conversions=1.0, value=50.0),
    ]


def _connect(page: Page, platform: str, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        page.locator(f"#{platform}-{name}").fill(value)
    page.locator(f"#connect-{platform}").click()
    expect(page.locator(f"#connection-{platform} .ad-account-currency")).to_have_text("EUR")


def _until_synced(page: Page, rows: Locator, count: int) -> None:
    """The sync job runs in the server every 2 s: read the page again until both backfills have landed."""
    for _ in range(60):
        page.locator("#refresh-progress").click()
        try:
            expect(rows).to_have_count(count, timeout=1_000)
            return
        except AssertionError:
            continue
    expect(rows).to_have_count(count)


def _claim(table: Locator, campaign: str) -> Locator:
    return table.locator(".claim-row").filter(has=table.page.get_by_role("link", name=campaign, exact=True))


def test_connect_sync_map_and_read_claims_against_paid(
    server: Server, page: Page, _stripe_recorder: Any, ad_platforms: Any
) -> None:
    email, spring, brand = _seed(server, _stripe_recorder)
    _platforms(ad_platforms)
    log_in(page, server.url, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(server.url, "/"))

    page.goto(f"{server.url}/settings/ad-platforms")
    _connect(page, "meta", {"ad_account_id": "act_7654321", "access_token": "EAAB-e2e-system-user"})
    expect(page.locator("#connection-meta .ad-account-name")).to_have_text("Shop ads")
    google = {"customer_id": "123-456-7890", "oauth_client_id": "client-e2e-shop",
              "oauth_client_secret": "secret-e2e-shop", "refresh_token": "1//refresh-e2e-shop"}  # fmt: skip
    _connect(page, "google", google)
    expect(page.locator("#connection-google .ad-account-name")).to_have_text("Shop search")

    # Both backfills land by themselves: Meta's campaign counts for Spring sale (its id was in the landing URLs),
    # Google's is listed, not mapped, with its spend.
    rows = page.locator("#platform-campaigns .platform-campaign-row")
    _until_synced(page, rows, 2)
    by_url = rows.filter(has_text=SPRING[1])
    expect(by_url.locator("td").nth(3)).to_have_text("Spring sale")
    expect(by_url).to_contain_text("€50.00")
    unmapped = rows.filter(has_text=SEARCH[1])
    expect(unmapped).to_contain_text("€20.00")
    expect(unmapped.locator(".unmapped")).to_have_text("not mapped")

    # Google's campaign mapped by hand on Brand search's page.
    page.goto(f"{server.url}/campaigns/{brand}")
    expect(page.locator("#campaign-platforms-empty")).to_be_visible()
    page.locator("#map-platform-select").click()
    page.get_by_role("option", name=f"Google Ads · {SEARCH[1]} ({SEARCH[0]})", exact=True).click()
    page.locator("#map-platform").click()
    mapped = page.locator(".mapped-platform-campaign")
    expect(mapped).to_have_count(1)
    expect(mapped).to_contain_text(SEARCH[1])
    expect(mapped).to_contain_text("chosen here")
    page.reload()
    claims = page.locator("#campaign-claims-table")
    expect(claims.locator(".claimed-purchases")).to_have_text("4")
    expect(claims.locator(".verified-orders")).to_have_text("1")
    expect(claims.locator(".reporting-ratio")).to_have_text("4.00×")
    # Day by day as a chart (plotly, drawn once the table shows): claimed purchases against verified orders.
    chart = page.locator("#campaign-claims-chart")
    expect(chart.locator(".js-plotly-plot")).to_be_visible()
    expect(chart).to_contain_text("Claimed purchases")
    expect(chart).to_contain_text("Verified orders")

    page.goto(f"{server.url}/campaigns/{spring}")
    expect(page.locator(".mapped-platform-campaign")).to_contain_text("by URL ids")

    # /metrics: both campaigns, the platform's claims next to the paid orders (49.50 € each).
    page.goto(f"{server.url}/metrics")
    table = page.locator("#platform-vs-verified-table")
    spring_row, brand_row = _claim(table, "Spring sale"), _claim(table, "Brand search")
    expect(spring_row.locator(".claimed-purchases")).to_have_text("3")
    expect(spring_row.locator(".verified-orders")).to_have_text("2")
    expect(spring_row.locator(".reporting-ratio")).to_have_text("1.50×")
    expect(spring_row.locator(".platform-roas")).to_have_text("4.80×")  # 240 € / 50 €
    expect(spring_row.locator(".verified-roas")).to_have_text("1.98×")  # 99 € / 50 €
    expect(spring_row).to_contain_text("over-reports")
    expect(brand_row.locator(".claimed-purchases")).to_have_text("4")
    expect(brand_row.locator(".verified-orders")).to_have_text("1")
    expect(brand_row.locator(".platform-roas")).to_have_text("10.00×")  # 200 € / 20 €
    expect(brand_row.locator(".verified-roas")).to_have_text("2.48×")  # 49.50 € / 20 €

    # The explorer by ad set: Meta's "Broad" (synced name, platform, currency) with both paid orders and its spend;
    # the unreported ad set by its id; everything else (Google's visits, carrying no ids) under "No ad set".
    page.goto(f"{server.url}/metrics?range=last_28_days&compare=none")
    page.locator("#explorer-dimension").click()
    page.get_by_role("option", name="Ad set", exact=True).click()
    expect(page).to_have_url(re.compile(r"dimension=ad_set"))
    rows = page.locator("#explorer-table .explorer-row")
    broad = rows.filter(has=page.locator(".row-label", has_text="Broad · Meta · EUR"))
    expect(broad).to_have_count(1)
    expect(broad.locator('[data-column="sessions"]')).to_have_text("2")
    expect(broad.locator('[data-column="orders"]')).to_have_text("2")
    expect(broad.locator('[data-column="net:EUR"]')).to_have_text("€99.00")
    expect(broad.locator('[data-column="spend:EUR"]')).to_have_text("€50.00")
    expect(rows.filter(has=page.locator(".row-label", has_text="1999 · Meta · EUR"))).to_have_count(1)
    expect(rows.filter(has=page.locator(".row-label", has_text="No ad set"))).to_have_count(1)
