"""Stripe and orders in a real browser: an owner connects Stripe on Settings → Stripe (the server talks to the
recording Stripe API), sees the account and its catalogue; a checkout through the API and a signed
``checkout.session.completed`` POSTed to the server's webhook endpoint make the order paid on /orders, and the
order's page shows the webhook in its Stripe timeline.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import open_form_page, sign_up, url_is
from tests.utils.browser import SCREENSHOTS
from tests.utils.server import Server
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
STRIPE_KEY = "sk_test_51E2eBrowserKey000000000"
WEBHOOK_SECRET = "whsec_e2e_browser_0123456789abcdef"
SHOP = "https://shop.example.com"


def _toast(page: Page, text: str) -> Locator:
    return page.locator("[data-sonner-toast]").filter(has_text=text)


def _checkout(server: Server, account_public_id: str, price: str) -> str:
    """Start a checkout as the shop's server would (secret key); returns the order id."""
    key = server.cli("create-key", "--account", account_public_id, "--kind", "secret").strip()
    response = httpx.post(
        f"{server.base}/api/v1/checkout/sessions",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "items": [{"price": price, "quantity": 1}],
            "success_url": f"{SHOP}/thanks",
            "cancel_url": f"{SHOP}/cart",
            "customer_email": "ada@example.com",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["order_id"])


def test_owner_connects_stripe_and_a_paid_order_shows_up(
    server: Server, page: Page, stripe_api: StripeRecorder
) -> None:
    base = server.url
    tag = uuid.uuid4().hex[:6]
    shoes = stripe_api.add_product(name=f"Trail shoes {tag}")
    one_off = stripe_api.add_price(product=shoes["id"], unit_amount=4_900, currency="eur")
    club = stripe_api.add_product(name=f"Sock club {tag}")
    stripe_api.add_price(product=club["id"], unit_amount=1_500, currency="eur", recurring={"interval": "month"})
    sign_up(page, base, account_name=f"Stripe Shop {tag}", email=f"owner-{tag}@example.com", password=PASSWORD)
    SCREENSHOTS.mkdir(exist_ok=True)

    # --- no orders yet: the empty state points to Stripe and the install page.
    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page).to_have_url(url_is(base, "/orders"))
    expect(page.locator("#orders-empty")).to_contain_text("No orders yet")
    expect(page.locator("#empty-stripe-link")).to_have_attribute("href", "/settings/stripe")

    # --- connect Stripe: a refused key first, then the real one.
    open_form_page(page, f"{base}/settings/stripe")
    expect(page.locator("#stripe-not-connected")).to_be_visible()
    webhook_url = page.locator("#webhook-url")
    expect(webhook_url).to_have_text(re.compile(rf"^{re.escape(base)}/api/v1/stripe/webhook/acc_\w+$"))
    account_public_id = webhook_url.inner_text().rsplit("/", 1)[-1]
    expect(page.locator("#stripe-listen-command")).to_contain_text(f"stripe listen --forward-to {base}/api/v1/")
    expect(page.locator("#webhook-events")).to_contain_text("checkout.session.completed")

    page.locator("#connect-secret-key").fill("pk_test_51NotASecretKey")
    page.locator("#connect-stripe").click()
    expect(page.locator("#connect-error")).to_contain_text("That is a publishable key")
    expect(page.locator("#connect-secret-key")).to_have_value("")  # never kept in the form

    page.locator("#connect-secret-key").fill(STRIPE_KEY)
    page.locator("#connect-webhook-secret").fill(WEBHOOK_SECRET)
    page.locator("#connect-stripe").click()
    expect(page.locator("#stripe-account-name")).to_have_text("Test Shop")
    expect(_toast(page, "Connected to Test Shop")).to_be_visible()
    expect(page.locator("#stripe-account-id")).to_have_text(stripe_api.account_id)
    expect(page.locator("#stripe-mode")).to_have_text("test mode")
    expect(page.locator("#stripe-key-hint")).to_have_text(f"{STRIPE_KEY[:8]}…{STRIPE_KEY[-4:]}")
    expect(page.locator("#stripe-webhook-secret-status")).to_have_text("saved")
    expect(page.locator("#connect-error")).to_have_count(0)
    expect(page.locator("#connect-secret-key")).to_have_value("")
    prices = page.locator("#prices-table")
    expect(prices.locator(".price-row").filter(has_text=f"Trail shoes {tag}")).to_contain_text("€49.00")
    expect(prices.locator(".price-row").filter(has_text=f"Sock club {tag}")).to_contain_text("per month")
    expect(prices.locator(".price-row").filter(has_text=f"Trail shoes {tag}")).to_contain_text("one-time")

    page.locator("#sync-catalog").click()
    # Case-sensitive: the "Connected to …" toast says "synced" too and may still be on screen.
    expect(page.locator("[data-sonner-toast]").filter(has_text=re.compile(r"^Synced "))).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "stripe-settings.png"), full_page=True)
    assert STRIPE_KEY not in page.content() and WEBHOOK_SECRET not in page.content()

    # --- a checkout through the API, then Stripe's signed webhook to the server's real endpoint.
    order_id = _checkout(server, account_public_id, one_off["id"])
    [checkout] = [s for s in stripe_api.sessions.values() if s["metadata"].get("paidsignal_order_id") == order_id]
    completed = stripe_api.complete_session(checkout["id"], amount_total=4_900, currency="eur")
    body = stripe_event("checkout.session.completed", completed)
    delivered = httpx.post(
        f"{server.base}/api/v1/stripe/webhook/{account_public_id}",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, WEBHOOK_SECRET)},
        timeout=30,
    )
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["outcome"] == "applied"

    # --- the order is listed as paid; its page shows the webhook in the Stripe timeline.
    page.goto(f"{base}/orders")
    row = page.locator(".order-row").filter(has_text=order_id)
    expect(row.locator(".order-status")).to_have_text("paid")
    expect(row.locator(".order-amount")).to_have_text("€49.00")
    expect(row.locator(".order-products")).to_have_text(f"Trail shoes {tag}")
    expect(row.locator(".order-email")).to_have_text("ada@example.com")
    expect(page.locator("#orders-total")).to_have_text("Showing 1 of 1 order")
    page.screenshot(path=str(SCREENSHOTS / "orders.png"), full_page=True)

    page.locator("#filter-status").click()
    page.get_by_role("option", name="Refunded", exact=True).click()
    expect(page).to_have_url(url_is(base, "/orders?status=refunded"))
    expect(page.locator("#orders-no-match")).to_be_visible()
    page.goto(f"{base}/orders?status=paid")
    expect(page.locator(".order-row")).to_have_count(1)

    page.locator(".order-link").first.click()
    expect(page).to_have_url(url_is(base, f"/orders/{order_id}"))
    expect(page.locator("#order-status")).to_have_text("paid")
    expect(page.locator("#order-amount")).to_have_text("€49.00")
    entry = page.locator(".timeline-entry").filter(has_text="checkout.session.completed")
    expect(entry.locator(".timeline-outcome")).to_have_text("applied")
    expect(entry).to_contain_text("created → paid")
    expect(page.locator(".timeline-entry").first).to_contain_text("Checkout started")
    expect(page.locator("#order-conversions")).to_contain_text("No conversions for this order")
    page.screenshot(path=str(SCREENSHOTS / "order.png"), full_page=True)

    # Stripe's settings now show when the last webhook arrived; another id is a friendly not-found.
    page.goto(f"{base}/settings/stripe")
    expect(page.locator("#stripe-last-webhook")).not_to_have_text("none received yet")
    page.goto(f"{base}/orders/ord_doesnotexist")
    expect(page.locator("#order-not-found")).to_have_text("No order with this id in this account.")
