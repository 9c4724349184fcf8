"""paidsignal('purchase') on a shop's thank-you page: after a real checkout and Stripe's signed webhook, the shop's
own Meta pixel and gtag fire once with the order's event id / transaction id and the paid amount, and PaidSignal
stores a purchase event with the same id (so browser and server conversions deduplicate)."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route

from tests.utils.ad_platforms import AdPlatforms
from tests.utils.browser import shop_page
from tests.utils.events import DESKTOP_UA
from tests.utils.server import Server
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event

pytestmark = pytest.mark.e2e

WEBHOOK_SECRET = "whsec_purchase_shop_000000000"
# The shop's own tags are stubs that record their calls; on ?queued the page asks for its purchase before the
# pixel has loaded (the stub queue), with the order id Stripe's return URL carries.
SHOP_BODY = """<h1>Sneakers</h1>
<script>
  window.calls = [];
  window.fbq = function () { calls.push(['fbq'].concat([].slice.call(arguments))); };
  window.gtag = function () { calls.push(['gtag'].concat([].slice.call(arguments))); };
  const q = new URLSearchParams(location.search);
  if (q.has('queued')) paidsignal('purchase', {order_id: q.get('order')});
</script>
<button id="buy" onclick="paidsignal('checkout', {items: [{price: '{price}', quantity: 2}],
  success_url: location.origin + '/thanks?order={PAIDSIGNAL_ORDER_ID}' + (window.queued ? '&queued=1' : ''),
  cancel_url: location.origin + '/cart'})">Buy</button>
"""
LOADED = "() => window.paidsignal && window.paidsignal.loaded === true"


def _buy(page: Page, shop_origin: str, recorder: StripeRecorder, *, queued: bool = False) -> dict[str, Any]:
    """Check out on the shop page (Stripe's page is answered by the context's route); returns Stripe's session."""
    page.goto(f"{shop_origin}/?utm_source=facebook&utm_campaign=summer")
    page.wait_for_function(LOADED)
    page.evaluate(f"() => {{ window.queued = {json.dumps(queued)}; }}")
    with page.expect_navigation(url="https://checkout.stripe.com/**"):
        page.locator("#buy").click()
    created = recorder.requests_to("/v1/checkout/sessions", "POST")[-1].params
    [session] = [s for s in recorder.sessions.values() if s["client_reference_id"] == created["client_reference_id"]]
    return session


def _db_rows(server: Server, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(server.data_dir / "paidsignal.db")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def _stored_rows(server: Server, sql: str, *args: Any, timeout: float = 15) -> list[tuple[Any, ...]]:
    """The rows once there are any: an event the pixel sent with sendBeacon as the page unloaded (a reload) is
    committed after the page has moved on, so the test waits for it rather than reading too early."""
    deadline = time.monotonic() + timeout
    while not (rows := _db_rows(server, sql, *args)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return rows


def test_thank_you_page_fires_the_shops_pixels_once_with_our_ids(
    server: Server, browser: Browser, shop: dict[str, Any], _stripe_recorder: StripeRecorder
) -> None:
    recorder = _stripe_recorder
    tag = uuid.uuid4().hex[:8]
    product = recorder.add_product(name="Sneakers")
    price = recorder.add_price(product=product["id"], unit_amount=4_950, currency="eur")
    out = server.cli("create-account", "--name", f"Purchase shop {tag}", "--email", f"pu-{tag}@example.com",
                     "--password", "purchase-pass-1")  # fmt: skip
    account = re.search(r"id=(acc_\w+)", out)
    assert account, out
    slug = f"purchase-shop-{tag}"
    server.cli("connect-stripe", "--account", slug, "--key", "sk_test_51PurchaseShop000000",
               "--webhook-secret", WEBHOOK_SECRET)  # fmt: skip
    key = server.cli("create-key", "--account", slug, "--kind", "publishable", "--origin", shop["origin"]).strip()
    shop["html"] = shop_page(server.url, key, SHOP_BODY.replace("{price}", price["id"]))

    visitor = browser.new_context(user_agent=DESKTOP_UA)

    def stripe_hosted_page(route: Route) -> None:  # Stripe's own page is on the internet: answer it here
        route.fulfill(status=200, content_type="text/html", body="<title>Stripe Checkout</title>")

    visitor.route("https://checkout.stripe.com/**", stripe_hosted_page)
    try:
        page = visitor.new_page()
        session = _buy(page, shop["origin"], recorder)
        order_id = session["client_reference_id"]

        # Stripe says the order is paid (signed webhook to the server's real endpoint).
        assert session["success_url"] == f"{shop['origin']}/thanks?order={order_id}"  # our placeholder, filled in
        body = stripe_event("checkout.session.completed", recorder.complete_session(session["id"]))
        delivered = httpx.post(
            f"{server.base}/api/v1/stripe/webhook/{account.group(1)}",
            content=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, WEBHOOK_SECRET)},
            timeout=30,
        )
        assert delivered.status_code == 200 and delivered.json()["outcome"] == "applied", delivered.text
        [(status, amount_paid, event_id)] = _db_rows(
            server, "SELECT status, amount_paid, event_id FROM shop_order WHERE public_id = ?", order_id
        )
        assert (status, amount_paid) == ("paid", 9_900)

        # Back from Stripe on the thank-you page: no argument, the checkout was remembered.
        page.goto(session["success_url"])
        page.wait_for_function(LOADED)
        assert page.evaluate("() => JSON.parse(localStorage._ps_order)") == {"order_id": order_id, "event_id": event_id}
        result = page.evaluate("() => paidsignal('purchase')")
        assert result == {"order_id": order_id, "event_id": event_id, "value": 99, "currency": "EUR",
                          "fired": {"meta": True, "gtag": True}}  # fmt: skip
        calls = page.evaluate("() => calls")
        assert calls == [
            ["fbq", "track", "Purchase",
             {"value": 99, "currency": "EUR", "content_ids": [price["id"]], "content_type": "product",
              "order_id": order_id, "contents": [{"id": price["id"], "quantity": 2, "item_price": 49.5}]},
             {"eventID": event_id}],
            ["gtag", "event", "purchase",
             {"transaction_id": order_id, "value": 99, "currency": "EUR",
              "items": [{"item_id": price["id"], "quantity": 2, "price": 49.5}]}],
        ]  # fmt: skip

        # Once per order: again on the page, and after a reload.
        again = page.evaluate("() => paidsignal('purchase')")
        assert again["fired"] == {"meta": False, "gtag": False} and again["reason"] == "already fired"
        assert (again["order_id"], again["event_id"], again["value"]) == (order_id, event_id, 99)
        # Sent now and answered: left to the page's exit, the purchase would go by sendBeacon, which headless Chromium
        # sometimes drops when a test reloads the page (it reports the beacon queued, and it never arrives).
        page.evaluate("() => paidsignal('flush')")
        page.reload()
        page.wait_for_function(LOADED)
        assert page.evaluate("() => paidsignal('purchase')")["fired"] == {"meta": False, "gtag": False}
        assert page.evaluate("() => calls") == []
        page.evaluate("() => paidsignal('flush')")

        # PaidSignal's own purchase carries the order's event id: Meta gets one Purchase from browser and server.
        [(value, currency, properties, items)] = _stored_rows(
            server, "SELECT value, currency, properties, items FROM event WHERE type = 'purchase' AND event_id = ?",
            event_id,
        )  # fmt: skip
        assert (value, currency, json.loads(properties)) == (9_900, "EUR", {"order_id": order_id})
        assert json.loads(items)[0]["price_id"] == price["id"]

        # A purchase asked for before the pixel loaded (stub queue), with the order id from the return URL; the
        # order is not paid yet (the webhook can come later): the expected amount is fired.
        session = _buy(page, shop["origin"], recorder, queued=True)
        second = session["client_reference_id"]
        assert second != order_id and session["success_url"].endswith(f"/thanks?order={second}&queued=1")
        page.goto(f"{shop['origin']}/cart")
        page.evaluate("() => localStorage.removeItem('_ps_order')")  # the id must come from the URL
        page.goto(session["success_url"])
        page.wait_for_function("() => calls.length == 2")
        [[_, _, name, meta, options], [_, _, _, ga]] = page.evaluate("() => calls")
        [(second_event,)] = _db_rows(server, "SELECT event_id FROM shop_order WHERE public_id = ?", second)
        assert (name, meta["value"], meta["order_id"], options) == ("Purchase", 99, second, {"eventID": second_event})
        assert (ga["transaction_id"], ga["value"]) == (second, 99)
    finally:
        visitor.close()

    # Without an order id (a fresh browser, nothing given): a clear rejection, nothing fired.
    stranger = browser.new_context()
    try:
        page = stranger.new_page()
        page.goto(f"{shop['origin']}/thanks")
        page.wait_for_function(LOADED)
        message = page.evaluate("() => paidsignal('purchase').then(() => 'resolved', (e) => e.message)")
        assert "purchase needs {order_id}" in message
        # Someone else's order: the API's own message.
        error = page.evaluate(f"() => paidsignal('purchase', {{order_id: '{order_id}'}}).catch((e) => e.message)")
        assert "No order with this id for this visitor" in error
        assert page.evaluate("() => calls") == []
    finally:
        stranger.close()


def test_checkout_to_meta_and_ga4_end_to_end(
    server: Server,
    browser: Browser,
    shop: dict[str, Any],
    _stripe_recorder: StripeRecorder,
    _ad_platforms: AdPlatforms,
) -> None:
    """pixel.js on the shop → checkout → Stripe's signed webhook → the server's own job sends exactly one Meta
    Purchase and one GA4 purchase, with the ids the browser fired (event_id / transaction_id) and the paid value."""
    recorder, platforms = _stripe_recorder, _ad_platforms
    tag = uuid.uuid4().hex[:8]
    pixel_id, measurement_id = str(int(tag, 16) % 10**12 + 10**14), f"G-E2E{tag.upper()}"
    product = recorder.add_product(name="Sneakers")
    price = recorder.add_price(product=product["id"], unit_amount=4_950, currency="eur")
    out = server.cli("create-account", "--name", f"E2E conversions {tag}", "--email", f"cv-{tag}@example.com",
                     "--password", "conversions-pass-1")  # fmt: skip
    account = re.search(r"id=(acc_\w+)", out)
    assert account, out
    slug = f"e2e-conversions-{tag}"
    server.cli("connect-stripe", "--account", slug, "--key", "sk_test_51ConversionsShop00", "--webhook-secret",
               WEBHOOK_SECRET)  # fmt: skip
    server.cli("create-pixel", "--account", slug, "--provider", "meta", "--default", "--setting",
               f"pixel_id={pixel_id}", "--secret", "access_token=EAAe2etoken0123456")  # fmt: skip
    server.cli("create-pixel", "--account", slug, "--provider", "ga4", "--default", "--setting",
               f"measurement_id={measurement_id}", "--secret", "api_secret=e2e-ga-secret")  # fmt: skip
    key = server.cli("create-key", "--account", slug, "--kind", "publishable", "--origin", shop["origin"]).strip()
    shop["html"] = shop_page(server.url, key, SHOP_BODY.replace("{price}", price["id"]))

    visitor = browser.new_context(user_agent=DESKTOP_UA)
    # A GA session that started a minute ago: its id (its start, in seconds) goes with a purchase inside it only.
    ga_session = str(int(time.time()) - 60)
    visitor.add_cookies([
        {"name": "_ga", "value": "GA1.1.555123.1732000000", "url": shop["origin"]},
        {"name": "_ga_E2E", "value": f"GS1.1.{ga_session}.1.1.{ga_session}.0.0.0", "url": shop["origin"]},
    ])  # fmt: skip
    stripe_page = {"status": 200, "content_type": "text/html", "body": "<title>Stripe</title>"}
    visitor.route("https://checkout.stripe.com/**", lambda route: route.fulfill(**stripe_page))
    try:
        page = visitor.new_page()
        page.goto(f"{shop['origin']}/?utm_source=facebook&utm_campaign=summer&fbclid=IwAR2-CaSe_Kept")
        session = _buy(page, shop["origin"], recorder)
        order_id = session["client_reference_id"]
        body = stripe_event("checkout.session.completed", recorder.complete_session(session["id"]))
        delivered = httpx.post(
            f"{server.base}/api/v1/stripe/webhook/{account.group(1)}",
            content=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, WEBHOOK_SECRET)},
            timeout=30,
        )
        assert delivered.status_code == 200 and delivered.json()["outcome"] == "applied", delivered.text
        [(event_id,)] = _db_rows(server, "SELECT event_id FROM shop_order WHERE public_id = ?", order_id)

        page.goto(session["success_url"])
        page.wait_for_function(LOADED)
        page.evaluate("() => paidsignal('purchase')")
        [[*_, meta_options], [_, _, _, ga_params]] = page.evaluate("() => calls")

        def ours(requests: list[Any]) -> tuple[list[Any], list[Any]]:
            meta = [r for r in requests if r.path.endswith(f"/{pixel_id}/events")]
            ga = [r for r in requests if r.path == "/mp/collect" and r.query.get("measurement_id") == measurement_id]
            return meta, ga

        platforms.wait_for(lambda requests: all(ours(requests)), timeout=30)
        time.sleep(2)  # anything sent twice would arrive by now (the sender runs every 5 s and on each webhook)
        [meta], [ga] = ours(platforms.requests)
        event = meta.json()["data"][0]
        assert event["event_name"] == "Purchase" and event["event_id"] == event_id == meta_options["eventID"]
        assert event["custom_data"]["value"] == 99.0 and event["custom_data"]["order_id"] == order_id
        assert event["user_data"]["fbc"].endswith(".IwAR2-CaSe_Kept")
        assert event["user_data"]["client_user_agent"] == DESKTOP_UA
        purchase = ga.json()
        assert purchase["client_id"] == "555123.1732000000"
        params = purchase["events"][0]["params"]
        assert params["transaction_id"] == order_id == ga_params["transaction_id"]
        assert (params["value"], params["currency"], params["session_id"]) == (99.0, "EUR", ga_session)
        [(statuses,)] = _db_rows(
            server, "SELECT group_concat(d.status) FROM conversion_delivery d JOIN shop_order o ON o.id = d.order_id "
            "WHERE o.public_id = ?", order_id,
        )  # fmt: skip
        assert sorted(statuses.split(",")) == ["sent", "sent"]
    finally:
        visitor.close()
