"""Checkout's success_url and cancel_url against a key's allowed origins, as a browser reads them.

A publishable key is public, so a return URL is the one thing that decides where a shop's buyer lands after paying.
Python's ``urlsplit`` and browsers disagree on some spellings (``http://evil.example\\@localhost:8801/`` is
localhost to one and evil.example to the other): every spelling below is either refused or accepted with the very
origin Chromium computes for it (``new URL(u).origin``, in a real Chromium page).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.services import keys
from tests.utils.payments import Shop, make_shop
from tests.utils.stripe_fakes import StripeRecorder

LOCAL = "http://localhost:8801"
ORIGINS = [LOCAL, "https://shop.example.com", "https://bücher.example"]
IDN = "https://xn--bcher-kva.example"  # bücher.example as browsers write it

# url -> the allowed origin a browser goes to (accepted)
ACCEPTED = {
    f"{LOCAL}/thanks": LOCAL,
    "HTTP://LOCALHOST:8801/thanks": LOCAL,
    "http://localhost:08801/thanks": LOCAL,
    "https://shop.example.com:443/thanks?order={PAIDSIGNAL_ORDER_ID}": "https://shop.example.com",
    "https://shop.example.com/thanks?next=http://evil.example/#@evil.example": "https://shop.example.com",
    "https://bücher.example/danke": IDN,
    f"{IDN}/danke": IDN,
}
# url -> words of the refusal
REFUSED = {
    "http://evil.example\\@localhost:8801/": "backslash",  # the issue's: a browser goes to evil.example
    "http://localhost:8801\\@evil.example/": "backslash",
    "http://localhost:8801\\.evil.example/": "backslash",
    "http://localhost:8801@evil.example/": "user info",
    "http://evil.example@localhost:8801/": "user info",
    "http://user:pass@localhost:8801/thanks": "user info",
    "localhost:8801@evil.example": "absolute",
    "//evil.example/": "absolute",
    "//localhost:8801/thanks": "absolute",
    "https:evil.example": "absolute",  # a browser reads https://evil.example/
    "http:localhost:8801/thanks": "absolute",
    "http:/localhost:8801/thanks": "absolute",
    "http:///evil.example/": "host right after",
    "javascript:alert(1)//http://localhost:8801/": "absolute",
    "ht\ttp://localhost:8801/thanks": "tabs",
    "http://local\nhost:8801/thanks": "tabs",
    "http://localhost:8801\t.evil.example/": "tabs",
    "http://localhost:8801 /thanks": "spaces",
    "http://localhost:8801/\x01": "control",  # (NUL is refused with the body: app/api/body.py)
    "http://localhost%3a8801.evil.example/": "percent",
    "http://evil.example%2f@localhost:8801/": "user info",
    "http://localhost:8801%40evil.example/": "percent",
    "https://shop.example.com./thanks": "allowed origins",  # trailing dot: another origin for a browser
    "https://shop.exаmple.com/thanks": "allowed origins",  # a Cyrillic а
    "http://localhost:8802/thanks": "allowed origins",
    "https://localhost:8801/thanks": "allowed origins",
    "http://localhost/thanks": "allowed origins",
    "http://127.0.0.1:8801/thanks": "allowed origins",
    "http://0x7f.1:8801/thanks": "allowed origins",
    "http://evil.example/http://localhost:8801/": "allowed origins",
    "https://bücher.example.evil.example/": "allowed origins",
    "http://[::1]:8801/": "allowed origins",
}


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


@pytest.fixture
def key(db: Session, shop: Shop) -> str:
    created = keys.create_key(session=db, actor=shop.actor, kind="publishable", origins=ORIGINS)
    db.commit()
    return created.plaintext


def _checkout(client: TestClient, shop: Shop, key: str, url: str, field: str) -> object:
    other = "cancel_url" if field == "success_url" else "success_url"
    payload = {"items": [{"price": shop.price_one_off}], field: url, other: f"{LOCAL}/cart"}
    return client.post(
        f"/api/v1/checkout/sessions?key={key}",
        content=json.dumps(payload),
        headers={"Content-Type": "text/plain", "Origin": LOCAL},
    )


@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
@pytest.mark.parametrize("url", list(ACCEPTED), ids=repr)
def test_a_return_url_on_an_allowed_origin_is_accepted(
    client: TestClient, shop: Shop, key: str, url: str, field: str
) -> None:
    response = _checkout(client, shop, key, url, field)
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    [created] = shop.recorder.requests_to("/v1/checkout/sessions", "POST")
    order_id = response.json()["order_id"]  # type: ignore[attr-defined]
    expected = url.replace("{PAIDSIGNAL_ORDER_ID}", order_id) if field == "success_url" else url
    assert created.params[field] == expected  # the URL as given: only the origin was checked


@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
@pytest.mark.parametrize("url", list(REFUSED), ids=repr)
def test_a_return_url_a_browser_could_read_otherwise_is_refused(
    client: TestClient, shop: Shop, key: str, url: str, field: str
) -> None:
    response = _checkout(client, shop, key, url, field)
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["field"] == field
    assert REFUSED[url] in error["message"], error["message"]
    assert shop.recorder.requests_to("/v1/checkout/sessions", "POST") == []


def _origins_in_chromium(urls: list[str]) -> dict[str, str]:
    """``new URL(u).origin`` for each URL in a real Chromium page ("invalid" when it throws)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page()
            script = (
                "urls => urls.map(u => { try { return [u, new URL(u).origin]; } catch { return [u, 'invalid']; } })"
            )
            return dict(page.evaluate(script, urls))
        finally:
            browser.close()


@pytest.mark.e2e
def test_chromium_goes_to_the_allowed_origin_for_every_accepted_url() -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("/usr/bin/chromium is missing (apt-get install chromium)")
    urls = [*ACCEPTED, "http://evil.example\\@localhost:8801/", "https:evil.example", "http://localhost:8801\t.evil"]
    # Playwright's sync API runs an event loop: keep it off the test's thread.
    with ThreadPoolExecutor(1) as worker:
        seen = worker.submit(_origins_in_chromium, urls).result()
    assert {url: seen[url] for url in ACCEPTED} == ACCEPTED
    # What the refused spellings would have done: sent the buyer elsewhere.
    assert seen["http://evil.example\\@localhost:8801/"] == "http://evil.example"
    assert seen["https:evil.example"] == "https://evil.example"
    assert seen["http://localhost:8801\t.evil"] == "invalid"  # the tab dropped: port "8801.evil"
