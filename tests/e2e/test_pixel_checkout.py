"""paidsignal('checkout') on a real shop page: Chromium on another origin starts a Stripe Checkout through the
production server and is sent to Stripe's page; the order carries the visit's campaign attribution; a double click
is one attempt, one order and one Checkout Session."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser, Route

from tests.utils.browser import shop_page
from tests.utils.events import DESKTOP_UA
from tests.utils.server import Server
from tests.utils.stripe_fakes import StripeRecorder

pytestmark = pytest.mark.e2e

SHOP_BODY = """<h1>Sneakers</h1>
<button id="buy" onclick="paidsignal('checkout', {items: [{price: '{price}', quantity: 2}],
  success_url: location.origin + '/thanks', cancel_url: location.origin + '/cart', customer_email: 'buyer@example.com'})
  .catch((e) => { document.title = 'error: ' + e.message; })">Buy</button>
<button id="stay" onclick="paidsignal('checkout', {items: [{price: '{price}'}], redirect: false,
  success_url: location.origin + '/thanks', cancel_url: location.origin + '/cart'})
  .then((j) => { (window.started = window.started || []).push(j.order_id); })">Buy, stay here</button>
<button id="bad" onclick="paidsignal('checkout', {items: [{price: 'price_missing'}],
  success_url: location.origin + '/thanks', cancel_url: location.origin + '/cart'})
  .catch((e) => { document.body.dataset.error = e.message; document.body.dataset.field = e.field; })">Bad</button>
"""


def _connected_shop(server: Server, shop: dict[str, Any], recorder: StripeRecorder) -> str:
    """A shop connected to the recording Stripe, its page serving SHOP_BODY; returns the account's slug."""
    tag = uuid.uuid4().hex[:8]
    product = recorder.add_product(name="Sneakers")
    price = recorder.add_price(product=product["id"], unit_amount=4_900, currency="eur")
    server.cli("create-account", "--name", f"Checkout shop {tag}", "--email", f"co-{tag}@example.com",
               "--password", "checkout-pass-1")  # fmt: skip
    slug = f"checkout-shop-{tag}"
    out = server.cli("connect-stripe", "--account", slug, "--key", "sk_test_51CheckoutShop000000",
                     "--webhook-secret", "whsec_checkout_shop_0000000")  # fmt: skip
    assert "connected Test Shop" in out
    key = server.cli("create-key", "--account", slug, "--kind", "publishable", "--origin", shop["origin"]).strip()
    shop["html"] = shop_page(server.url, key, SHOP_BODY.replace("{price}", price["id"]))
    return slug


def _stripe_sessions_created(recorder: StripeRecorder) -> int:
    return len([r for r in recorder.requests_to("/v1/checkout/sessions", "POST") if r.params.get("line_items")])


def test_checkout_from_the_shop_page_goes_to_stripe_with_attribution(
    server: Server, browser: Browser, shop: dict[str, Any], _stripe_recorder: StripeRecorder
) -> None:
    recorder = _stripe_recorder
    _connected_shop(server, shop, recorder)
    visitor = browser.new_context(user_agent=DESKTOP_UA)
    stripe_pages: list[str] = []

    def stripe_hosted_page(route: Route) -> None:  # Stripe's own page is on the internet: answer it here
        stripe_pages.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>Stripe Checkout</title>")

    visitor.route("https://checkout.stripe.com/**", stripe_hosted_page)
    try:
        page = visitor.new_page()
        page.goto(f"{shop['origin']}/?utm_source=facebook&utm_campaign=spring&fbclid=AbCdE")
        page.wait_for_function("() => window.paidsignal && window.paidsignal.loaded === true")

        page.locator("#bad").click()
        page.wait_for_function("() => document.body.dataset.error")
        assert "Stripe has no price" in page.evaluate("() => document.body.dataset.error")
        assert page.evaluate("() => document.body.dataset.field") == "items.0.price"

        with page.expect_navigation(url="https://checkout.stripe.com/**"):
            page.locator("#buy").click()
        assert page.title() == "Stripe Checkout"
    finally:
        visitor.close()

    created = [r for r in recorder.requests_to("/v1/checkout/sessions", "POST") if r.params.get("line_items")]
    params = created[-1].params
    assert stripe_pages and stripe_pages[-1] == recorder.sessions[next(reversed(recorder.sessions))]["url"]
    order_id = params["client_reference_id"]
    assert params["metadata"]["paidsignal_order_id"] == order_id
    assert params["success_url"] == f"{shop['origin']}/thanks"

    db = sqlite3.connect(server.data_dir / "paidsignal.db")
    try:
        row = db.execute(
            "SELECT status, amount_expected, visitor_id, customer_email, attribution FROM shop_order"
            " WHERE public_id = ?",
            (order_id,),
        ).fetchone()
        begin = db.execute("SELECT count(*) FROM event WHERE type = 'begin_checkout'").fetchone()[0]
    finally:
        db.close()
    status, amount, visitor_id, email, attribution = row
    assert (status, amount, email) == ("created", 9_800, "buyer@example.com")
    assert visitor_id and '"utm_campaign": "spring"' in attribution and ".AbCdE" in attribution
    assert begin >= 1


def test_a_double_click_on_buy_is_one_order_and_one_checkout_session(
    server: Server, browser: Browser, shop: dict[str, Any], _stripe_recorder: StripeRecorder
) -> None:
    recorder = _stripe_recorder
    slug = _connected_shop(server, shop, recorder)
    before = _stripe_sessions_created(recorder)
    visitor = browser.new_context(user_agent=DESKTOP_UA)
    visitor.route(
        "https://checkout.stripe.com/**", lambda route: route.fulfill(status=200, body="<title>Stripe</title>")
    )
    try:
        page = visitor.new_page()
        page.goto(f"{shop['origin']}/?utm_source=facebook&utm_campaign=spring")
        page.wait_for_function("() => window.paidsignal && window.paidsignal.loaded === true")

        page.locator("#stay").dblclick()  # both clicks land before the first answer (it waits for the events' flush)
        page.wait_for_function("() => (window.started || []).length === 2")
        first, second = page.evaluate("() => window.started")
        assert first == second  # the second click joined the first attempt
        assert _stripe_sessions_created(recorder) - before == 1

        page.locator("#stay").click()  # that attempt is over (redirect: false): a new click is a new checkout
        page.wait_for_function("() => (window.started || []).length === 3")
        assert page.evaluate("() => window.started[2]") != first
        assert _stripe_sessions_created(recorder) - before == 2

        with page.expect_navigation(url="https://checkout.stripe.com/**"):
            page.locator("#buy").dblclick()
    finally:
        visitor.close()
    assert _stripe_sessions_created(recorder) - before == 3  # the double click that went to Stripe: one session

    db = sqlite3.connect(server.data_dir / "paidsignal.db")
    try:
        orders = db.execute(
            "SELECT count(*) FROM shop_order JOIN account ON account.id = shop_order.account_id WHERE account.slug = ?",
            (slug,),
        ).fetchone()
    finally:
        db.close()
    assert orders == (3,)
