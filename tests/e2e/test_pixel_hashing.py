"""pixel.js and the server hash user data the same way: the same inputs through ``paidsignal('identify')`` in
Chromium and through ``app.integrations.hashing`` give the same SHA-256 (or, both, nothing).

Meta matches a browser event and a server event of one buyer only when both carry the same hashes; an external_id
must be the same value on every channel. No PaidSignal server is needed: the page and pixel.js are answered by
Playwright's routing on http://127.0.0.1 (a secure context, so ``crypto.subtle`` works).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, Route

from app.integrations import hashing
from tests.utils.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.utils.server import ROOT

pytestmark = pytest.mark.e2e

ORIGIN = "http://127.0.0.1:9"
PAGE = f"""<!doctype html><html><head>
<script async src="{ORIGIN}/pixel.js" data-key="ps_pk_hashing_test"></script></head><body>shop</body></html>"""
# pixel.js takes the country as ISO 3166 code (data-country / identify's country); the server a calling code.
CALLING_CODES = {"US": "1", "GB": "44", "DE": "49", "FR": "33", "": None}

# (email, phone, country, external_id)
CASES = [
    (" John_Smith@Gmail.com ", "(650)555-1212", "US", " User-ABC "),
    ("ＪＯＨＮ@example.com", "16505551212", "US", "ＡＢＣ-1"),  # full-width letters: NFKC on both sides
    ("Ångström@Example.com", "+44 020 7946 0958", "GB", "cus_AbC123"),
    ("mary@example.com", "0044 20 7946 0958", "GB", "42"),
    ("jo@example.de", "0171 1234567", "DE", "Kunde 7"),
    ("jean@example.fr", "06 12 34 56 78", "FR", "ID-x"),
    ("nocountry@example.com", "555-1212", "", "x"),  # no calling code anywhere: neither side sends a phone
    ("62A14E44F765419D10FEA99367361A727C12365E2520F32218D505ED9AA0F62F", "+1 650 555 1212", "", "y"),  # a hash
]


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    require_chromium()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def _answer(route: Route) -> None:
    url = route.request.url
    if url.startswith(f"{ORIGIN}/pixel.js"):
        route.fulfill(body=(ROOT / "assets" / "pixel.js").read_text(), content_type="text/javascript")
    elif "/api/v1/" in url:
        route.fulfill(status=204, body="")
    else:
        route.fulfill(body=PAGE, content_type="text/html")


def test_pixel_and_server_hash_the_same_inputs_alike(chromium: Browser) -> None:
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.route("**/*", _answer)
        page.goto(f"{ORIGIN}/shop")
        page.wait_for_function("() => window.paidsignal && window.paidsignal.loaded === true")
        assert page.evaluate("() => window.isSecureContext")
        for email, phone, country, external_id in CASES:
            browser_hashes = page.evaluate(
                """async ([email, phone, country, external_id]) => {
                    await paidsignal('identify', {email: null, phone: null, external_id: null});
                    await paidsignal('identify', {email, phone, country, external_id});
                    return JSON.parse(localStorage.getItem('_ps_user') || '{}') || {};
                }""",
                [email, phone, country, external_id],
            )
            server_hashes = {
                "em": hashing.meta_hash("em", email),
                "ph": hashing.meta_hash("ph", phone, country_code=CALLING_CODES[country]),
                "external_id": hashing.meta_hash("external_id", external_id),
            }
            expected = {k: v for k, v in server_hashes.items() if v}
            assert browser_hashes == expected, json.dumps([email, phone, country, external_id], ensure_ascii=False)
    finally:
        context.close()
