"""Server-side conversions in a real browser: an owner adds a Meta pixel in test mode and a live GA4 pixel on
/pixels (and sends Meta a test event), a signed ``checkout.session.completed`` to the server's webhook endpoint pays
an order, the server's job runner sends both conversions to the recording ad platforms, and /conversions shows them
(totals, filters, the detail with its checklist and the request sent, the Google Ads CSV); the order's page lists
them under "Conversions sent".
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import docs_screenshot, open_form_page, sign_up, url_is
from tests.utils.ad_platforms import AdPlatforms
from tests.utils.browser import SCREENSHOTS
from tests.utils.events import DESKTOP_UA
from tests.utils.server import Server
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
STRIPE_KEY = "sk_test_51E2eConversionsKey00000000"
WEBHOOK_SECRET = "whsec_e2e_conversions_0123456789abcdef"
META_TOKEN = "EAAe2e-conversions-token-9876"
GA4_SECRET = "ga4-e2e-secret-5432"
SHOP = "https://shop.example.com"
SEND_TIMEOUT_S = 45


def _toast(page: Page, text: str) -> Locator:
    return page.locator("[data-sonner-toast]").filter(has_text=text)


def _pixel_card(page: Page, name: str) -> Locator:
    return page.locator(".pixel-card").filter(has=page.locator(".pixel-name", has_text=re.compile(f"^{name}$")))


def _choose(page: Page, trigger: Locator, option: str) -> None:
    trigger.click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(trigger).to_have_text(option)


def _pay_an_order(server: Server, stripe_api: StripeRecorder, account_public_id: str, price: str) -> str:
    """A checkout from the shop's page (publishable key, the buyer's browser headers: Meta needs its user agent)
    and Stripe's signed webhook to the real endpoint."""
    key = server.cli("create-key", "--account", account_public_id, "--kind", "publishable", "--origin", SHOP).strip()
    started = httpx.post(
        f"{server.base}/api/v1/checkout/sessions",
        headers={"Origin": SHOP, "User-Agent": DESKTOP_UA},
        json={
            "key": key,
            "items": [{"price": price, "quantity": 1}],
            "success_url": f"{SHOP}/thanks",
            "cancel_url": f"{SHOP}/cart",
            "customer_email": "ada@example.com",
        },
        timeout=30,
    )
    assert started.status_code == 200, started.text
    order_id = str(started.json()["order_id"])
    [checkout] = [s for s in stripe_api.sessions.values() if s["metadata"].get("paidsignal_order_id") == order_id]
    completed = stripe_api.complete_session(checkout["id"], amount_total=4_900, currency="eur")
    body = stripe_event("checkout.session.completed", completed)
    delivered = httpx.post(
        f"{server.base}/api/v1/stripe/webhook/{account_public_id}",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, WEBHOOK_SECRET)},
        timeout=30,
    )
    assert delivered.status_code == 200 and delivered.json()["outcome"] == "applied", delivered.text
    return order_id


def _wait_until_sent(page: Page, url: str, count: int) -> None:
    """The server's job runner sends in the background: reload the sent list until it has ``count`` rows."""
    deadline = time.monotonic() + SEND_TIMEOUT_S
    while True:
        page.goto(url)
        try:
            expect(page.locator(".delivery-row")).to_have_count(count, timeout=3_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_paid_order_conversions_are_sent_and_explained(
    server: Server, page: Page, stripe_api: StripeRecorder, ad_platforms: AdPlatforms
) -> None:
    base = server.url
    tag = uuid.uuid4().hex[:6]
    shoes = stripe_api.add_product(name=f"Trail shoes {tag}")
    price = stripe_api.add_price(product=shoes["id"], unit_amount=4_900, currency="eur")
    sign_up(page, base, account_name=f"Conversions Shop {tag}", email=f"owner-{tag}@example.com", password=PASSWORD)
    SCREENSHOTS.mkdir(exist_ok=True)

    # --- nothing yet: the empty state points to the pixels.
    page.get_by_role("link", name="Conversions", exact=True).click()
    expect(page).to_have_url(url_is(base, "/conversions"))
    expect(page.locator("#conversions-empty")).to_contain_text("No conversions yet")
    expect(page.locator("#empty-pixels-link")).to_have_attribute("href", "/pixels")
    expect(page.locator("#total-sent")).to_contain_text("0")

    open_form_page(page, f"{base}/settings/stripe")
    account_public_id = page.locator("#webhook-url").inner_text().rsplit("/", 1)[-1]
    assert account_public_id.startswith("acc_")
    server.cli(
        "connect-stripe", "--account", account_public_id, "--key", STRIPE_KEY, "--webhook-secret", WEBHOOK_SECRET
    )

    # --- pixels: Meta in test mode (with its test event code), GA4 live; both account defaults.
    open_form_page(page, f"{base}/pixels")
    expect(page.get_by_role("checkbox", name="renewal (subscription renewals)")).to_be_visible()
    page.locator("#new_name").fill("Meta test")
    page.locator("#new_setting_pixel_id").fill("123456789012345")
    page.locator("#new_setting_test_event_code").fill("TEST4242")
    page.locator("#new_secret_access_token").fill(META_TOKEN)
    page.get_by_role("checkbox", name="Test mode").click()
    page.get_by_role("switch", name=re.compile("Account default")).click()
    page.locator("#create-pixel").click()
    meta = _pixel_card(page, "Meta test")
    expect(meta.locator(".pixel-test-mode")).to_have_text("test")

    meta.locator(".send-test-event").click()
    expect(meta.locator("#pixel-check-result")).to_contain_text("test purchase accepted")
    expect(_toast(page, "test purchase accepted")).to_be_visible()
    [test_send] = ad_platforms.bodies("/v")
    assert test_send["test_event_code"] == "TEST4242"

    _choose(page, page.locator("#new-provider"), "Google Analytics 4 (Measurement Protocol)")
    page.locator("#new_name").fill("GA4 live")
    page.locator("#new_setting_measurement_id").fill("G-TEST1234")
    page.locator("#new_secret_api_secret").fill(GA4_SECRET)
    page.get_by_role("switch", name=re.compile("Account default")).click()
    page.locator("#create-pixel").click()
    ga4 = _pixel_card(page, "GA4 live")
    expect(ga4.locator(".pixel-default")).to_be_visible()
    expect(ga4.locator(".pixel-test-mode")).to_have_count(0)

    # --- a paid order; the job runner sends its two conversions.
    order_id = _pay_an_order(server, stripe_api, account_public_id, price["id"])
    _wait_until_sent(page, f"{base}/conversions?status=sent", 2)
    page.goto(f"{base}/conversions")
    expect(page.locator("#total-sent")).to_contain_text("2")
    expect(page.locator("#total-dead")).to_contain_text("0")
    expect(page.locator("#deliveries-total")).to_have_text("Showing 2 of 2 conversions")
    meta_row = page.locator(".delivery-row").filter(has_text="Meta test")
    expect(meta_row.locator(".delivery-status")).to_have_text("sent")
    expect(meta_row.locator(".delivery-test")).to_be_visible()
    expect(meta_row.locator(".delivery-value")).to_have_text("€49.00")
    expect(meta_row.locator(".delivery-kind")).to_have_text("purchase")
    expect(meta_row.locator(".delivery-order")).to_have_text(order_id)
    ga_row = page.locator(".delivery-row").filter(has_text="GA4 live")
    expect(ga_row.locator(".delivery-status")).to_have_text("sent")
    expect(ga_row.locator(".delivery-test")).to_have_count(0)
    assert ad_platforms.requests_to("/mp/collect")  # GA4 live, Meta with its test code
    assert any(
        b.get("test_event_code") == "TEST4242" and b["data"][0].get("event_id") for b in ad_platforms.bodies("/v")
    )

    # --- one delivery: its checklist, the request sent (secrets redacted) and its attempt.
    meta_row.click()
    detail = page.locator("#delivery-detail")
    expect(detail).to_be_visible()
    expect(detail.locator(".delivery-status")).to_have_text("sent")
    expect(detail.locator(".check-item").filter(has_text="Deduplication with the browser")).to_be_visible()
    expect(detail.locator(".check-item[data-state=warn]").filter(has_text="Test mode")).to_be_visible()
    expect(detail.locator(".delivery-request-json")).to_contain_text('"test_event_code": "TEST4242"')
    expect(detail.locator(".delivery-request-json")).to_contain_text("[redacted]")
    expect(detail.locator(".delivery-conversion-json")).to_contain_text(order_id)
    expect(detail.locator(".send-again")).to_have_count(0)  # sent: nothing to send again
    detail.locator(".delivery-attempts > summary").click()
    attempt = detail.locator(".attempt-entry")
    expect(attempt).to_have_count(1)
    expect(attempt.locator(".attempt-outcome")).to_have_text("sent")
    expect(attempt.locator(".attempt-http")).to_have_text("HTTP 200")
    assert META_TOKEN not in page.content() and GA4_SECRET not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "conversion-detail.png"), full_page=True)
    detail.evaluate("el => { el.scrollTop = 0; el.scrollIntoView({block: 'start'}); }")  # the checklist, at the top
    docs_screenshot(page, "conversion-detail")
    page.keyboard.press("Escape")
    expect(detail).to_have_count(0)

    # --- filters live in the URL; a status from the totals bar; a filter nothing matches.
    page.locator("#total-dead").click()
    expect(page).to_have_url(url_is(base, "/conversions?status=dead"))
    expect(page.locator("#conversions-no-match")).to_be_visible()
    page.locator("#clear-filters").click()
    expect(page).to_have_url(url_is(base, "/conversions"))
    expect(page.locator(".delivery-row")).to_have_count(2)
    docs_screenshot(page, "conversions")
    page.goto(f"{base}/conversions?provider=ga4")
    expect(page.locator(".delivery-row")).to_have_count(1)
    expect(page.locator("#filter-provider")).to_have_text("GA4")
    page.screenshot(path=str(SCREENSHOTS / "conversions.png"), full_page=True)

    # --- the Google Ads CSV downloads (this order has no Google click id: the header only).
    with page.expect_download() as download_info:
        page.locator("#export-csv").click()
    download = download_info.value
    assert re.fullmatch(r"google-ads-conversions-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    saved = Path(download.path())
    assert saved.read_text().splitlines()[0] == "Parameters:TimeZone=+0000"

    # --- the order's page lists what was sent for it.
    page.goto(f"{base}/conversions")
    page.locator(".delivery-row").filter(has_text="GA4 live").locator(".delivery-order").click()
    expect(page).to_have_url(url_is(base, f"/orders/{order_id}"))
    section = page.locator("#order-conversions")
    expect(section).to_contain_text("Conversions sent")
    deliveries = section.locator(".order-delivery")
    expect(deliveries).to_have_count(2)
    expect(deliveries.locator(".delivery-status")).to_have_text(["sent", "sent"])
    ga_card = deliveries.filter(has_text="GA4 live")
    expect(ga_card.locator(".check-item").filter(has_text="GA client_id")).to_be_visible()
    ga_card.locator(".delivery-request > summary").click()
    expect(ga_card.locator(".delivery-request-json")).to_contain_text('"name": "purchase"')
    page.screenshot(path=str(SCREENSHOTS / "order-conversions.png"), full_page=True)
