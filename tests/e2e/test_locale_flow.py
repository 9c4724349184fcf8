"""Money in the account's locale, in a real browser: an order of 20,442.50 EUR reads "€20,442.50" (en_US, the
default); the owner picks German (Germany) under Account settings on the team page, and the same order reads
"20.442,50 €" on the orders list and the order's page."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import log_in, open_form_page, url_is
from tests.utils.server import Server
from tests.utils.stripe_fakes import StripeRecorder

pytestmark = pytest.mark.e2e

PASSWORD = "locale-shop-pass-1"


def _order_of_20442_50(server: Server, recorder: StripeRecorder) -> tuple[str, str, str]:
    """An account whose shop started a checkout of 20,442.50 EUR. Returns (owner email, order id, secret key)."""
    tag = uuid.uuid4().hex[:8]
    email = f"locale-{tag}@example.com"
    out = server.cli("create-account", "--name", f"Locale shop {tag}", "--email", email, "--password", PASSWORD)
    assert re.search(r"id=(acc_\w+)", out), out
    slug = f"locale-shop-{tag}"
    product = recorder.add_product(name=f"Espresso machine {tag}")
    price = recorder.add_price(product=product["id"], unit_amount=2_044_250, currency="eur")
    server.cli("connect-stripe", "--account", slug, "--key", "sk_test_51LocaleShop00000",
               "--webhook-secret", "whsec_locale_shop_000000")  # fmt: skip
    key = server.cli("create-key", "--account", slug, "--kind", "secret").strip()
    started = httpx.post(
        f"{server.base}/api/v1/checkout/sessions",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "items": [{"price": price["id"], "quantity": 1}],
            "success_url": "https://shop.example.com/thanks",
            "cancel_url": "https://shop.example.com/cart",
        },
        timeout=30,
    )
    assert started.status_code == 200, started.text
    return email, str(started.json()["order_id"]), key


def test_the_owner_switches_money_to_german_formatting(
    server: Server, page: Page, _stripe_recorder: StripeRecorder
) -> None:
    email, order_id, key = _order_of_20442_50(server, _stripe_recorder)
    base = server.url
    log_in(page, base, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))

    page.goto(f"{base}/orders")
    amount = page.locator(".order-row .order-amount")
    expect(amount).to_have_text("€20,442.50")  # en_US, every account's default

    open_form_page(page, f"{base}/settings/team")
    settings = page.locator("#account-settings")
    expect(settings).to_contain_text("Number and money format")
    page.locator("#account-locale").click()
    page.get_by_role("option", name="German (Germany) · 20.442,50 €", exact=True).click()
    page.locator("#save-locale").click()
    expect(page.locator("[data-sonner-toast]").filter(has_text="amounts now read like 20.442,50")).to_be_visible()

    page.goto(f"{base}/orders")
    expect(amount).to_have_text("20.442,50\xa0€")  # CLDR keeps the amount and its sign on one line
    page.goto(f"{base}/orders/{order_id}")
    expect(page.locator("#order-amount")).to_have_text("20.442,50\xa0€")

    # The API keeps minor units whatever the locale.
    found = httpx.get(f"{server.base}/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert found.status_code == 200 and found.json()["amount"] == 2_044_250, found.text
