"""The pixel on a real shop page: a page on another local port embeds /pixel.js from the production server.

Chromium lands with UTM and fbclid, navigates inside the SPA and adds to cart; the stored events, session, touch
and fbc are checked in the server's database, and /install flips to "received" without a reload.
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import sign_up, url_is
from tests.utils.browser import shop_page
from tests.utils.events import DESKTOP_UA
from tests.utils.server import Server

pytestmark = pytest.mark.e2e

SHOP_BODY = """<h1>Spring sale</h1>
<button id="to-product" onclick="history.pushState({}, '', '/product/42'); document.title='Product 42'">Product</button>
<button id="add" onclick="window.lastId = paidsignal('track', 'add_to_cart',
  {value: 1999, currency: 'EUR', items: [{product_id: 'prod_42', price_id: 'price_42', quantity: 1,
  unit_amount: 1999}]})">Add to cart</button>
"""


def test_shop_page_traffic_reaches_install_and_overview_live(
    server: Server, browser: Browser, page: Page, shop: dict[str, Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    sign_up(
        page,
        server.url,
        account_name=f"Pixel shop {tag}",
        email=f"pixel-{tag}@example.com",
        password="pixel-password-1",
    )
    key = server.cli(
        "create-key", "--account", f"pixel-shop-{tag}", "--kind", "publishable", "--origin", shop["origin"]
    ).strip()
    shop["html"] = shop_page(server.url, key, SHOP_BODY)

    page.goto(f"{server.url}/install")
    status = page.locator("#install-status")
    expect(status).to_have_attribute("data-status", "waiting")
    expect(page.locator("#install-snippet")).to_contain_text(key)

    visitor = browser.new_context(user_agent=DESKTOP_UA)
    try:
        visit = visitor.new_page()
        visit.goto(f"{shop['origin']}/?utm_campaign=spring&fbclid=AbC")
        visit.wait_for_function("() => window.paidsignal && window.paidsignal.loaded === true")
        visit.locator("#to-product").click()
        visit.locator("#add").click()
        visit.evaluate("() => window.paidsignal('flush')")
        fbc_cookie = next(c["value"] for c in visitor.cookies() if c["name"] == "_fbc")
    finally:
        visitor.close()

    deadline = time.monotonic() + 20
    while True:
        with sqlite3.connect(server.data_dir / "paidsignal.db") as db:
            db.row_factory = sqlite3.Row
            account_id = db.execute("SELECT id FROM account WHERE slug = ?", (f"pixel-shop-{tag}",)).fetchone()[0]
            events = db.execute(
                "SELECT * FROM event WHERE account_id = ? ORDER BY occurred_at", (account_id,)
            ).fetchall()
            sessions = db.execute("SELECT * FROM visit_session WHERE account_id = ?", (account_id,)).fetchall()
            touches = db.execute("SELECT * FROM touch WHERE account_id = ?", (account_id,)).fetchall()
            visitors = db.execute("SELECT * FROM visitor WHERE account_id = ?", (account_id,)).fetchall()
            pending = db.execute(
                "SELECT COUNT(*) FROM event WHERE account_id = ? AND derive_pending IS NOT NULL", (account_id,)
            ).fetchone()[0]

        # Visitors, sessions and touches are derived a moment after the events' commit (off the request path).
        if (len(events) >= 3 and not pending) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [e["type"] for e in events] == ["page_view", "page_view", "add_to_cart"]
    assert events[1]["url"].endswith("/product/42")
    assert {e["session_key"] for e in events} == {sessions[0]["session_key"]} and len(sessions) == 1
    assert {e["utm_campaign"] for e in events} == {"spring"} and {e["source"] for e in events} == {"browser"}
    assert events[2]["value"] == 1999 and events[2]["currency"] == "EUR"
    assert events[0]["user_agent"] == DESKTOP_UA
    assert re.fullmatch(r"fb\.1\.\d{13}\.AbC", events[0]["fbc"]), events[0]["fbc"]
    assert fbc_cookie == events[0]["fbc"]
    assert re.fullmatch(r"fb\.1\.\d{13}\.AbC", visitors[0]["fbc"])
    assert sessions[0]["landing_url"].endswith("/?utm_campaign=spring&fbclid=AbC")
    assert sessions[0]["event_count"] == 3
    assert len(touches) == 1
    touch = touches[0]
    assert (touch["utm_campaign"], touch["click_id_type"], touch["click_id"], touch["is_first"]) == (
        "spring",
        "fbclid",
        "AbC",
        1,
    )

    # The install page flips by itself (a background event polls), no reload.
    expect(status).to_have_attribute("data-status", "received", timeout=20_000)
    expect(status).to_contain_text("127.0.0.1")

    # The overview shows today's traffic and the latest events.
    page.goto(f"{server.url}/")
    expect(page).to_have_url(url_is(server.url, "/"))
    expect(page.locator("#kpi-events")).to_have_text("3")
    expect(page.locator("#kpi-sessions")).to_have_text("1")
    expect(page.locator("#overview-events .event-row")).to_have_count(3)

    # The test-event button goes through the same pipeline and shows up marked as a test.
    page.goto(f"{server.url}/install")
    page.locator("#send-test-event").click()
    expect(page.locator("#install-events .event-row").first).to_contain_text("test")
