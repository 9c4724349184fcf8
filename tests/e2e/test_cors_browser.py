"""CORS as a real browser enforces it: a shop's page on another origin calls the API with a publishable key.

Reflex's outer CORS middleware only allows the backoffice origin, so a preflight from a shop is refused; a
CORS-simple request (text/plain POST, key in the query) reaches our route, which adds the key's own origin.
"""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.utils.server import Server, free_port

pytestmark = pytest.mark.e2e

SHOP_HTML = b"<!doctype html><html><head><title>Shop</title></head><body><h1>A shop</h1></body></html>"

# Runs in the shop's page; never throws, so a CORS failure comes back as {"error": ...}.
FETCH_JS = """async ({url, contentType, body}) => {
  try {
    const response = await fetch(url, {
      method: "POST", headers: {"Content-Type": contentType}, body, credentials: "omit",
    });
    const text = await response.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) {}
    return {status: response.status, json, text};
  } catch (error) {
    return {error: String(error)};
  }
}"""


class _ShopPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(SHOP_HTML)))
        self.end_headers()
        self.wfile.write(SHOP_HTML)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shop_origins() -> Iterator[tuple[str, str]]:
    """Two local "shops" on 127.0.0.1, each its own origin: the key allows the first only."""
    servers = [ThreadingHTTPServer(("127.0.0.1", free_port()), _ShopPage) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    allowed, other = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    yield allowed, other
    for s in servers:
        s.shutdown()
        s.server_close()
    for thread in threads:
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def shop_key(server: Server, shop_origins: tuple[str, str]) -> tuple[str, str]:
    """(account public id, publishable key allowed on the first shop origin), made with the operator CLI."""
    tag = uuid.uuid4().hex[:8]
    out = server.cli(
        "create-account", "--name", f"Cors Shop {tag}", "--email", f"cors-{tag}@example.com", "--password", "x" * 12
    )
    match = re.search(r"id=(\S+)", out)
    assert match, out
    key = server.cli("create-key", "--account", match.group(1), "--kind", "publishable", "--origin", shop_origins[0])
    return match.group(1), key.strip()


def _fetch(page: Page, url: str, *, content_type: str, body: str = "{}") -> dict[str, Any]:
    result = page.evaluate(FETCH_JS, {"url": url, "contentType": content_type, "body": body})
    assert isinstance(result, dict)
    return result


def test_simple_request_from_allowed_origin_is_readable(
    server: Server, page: Page, shop_origins: tuple[str, str], shop_key: tuple[str, str]
) -> None:
    account_id, key = shop_key
    page.goto(shop_origins[0] + "/")

    result = _fetch(page, f"{server.url}/api/v1/whoami?key={key}", content_type="text/plain")
    assert result.get("status") == 200, result
    assert result["json"] == {"account_id": account_id, "key_kind": "publishable"}

    # The key may ride in the (text/plain JSON) body instead of the URL.
    result = _fetch(page, f"{server.url}/api/v1/whoami", content_type="text/plain", body=f'{{"key": "{key}"}}')
    assert result.get("status") == 200, result
    assert result["json"]["account_id"] == account_id


def test_preflighted_request_from_shop_fails_in_browser(
    server: Server, page: Page, shop_origins: tuple[str, str], shop_key: tuple[str, str]
) -> None:
    _account_id, key = shop_key
    page.goto(shop_origins[0] + "/")

    result = _fetch(page, f"{server.url}/api/v1/whoami?key={key}", content_type="application/json")
    assert "error" in result, f"a preflighted request from the shop should fail, got {result}"
    assert "status" not in result

    # Why: the preflight itself is refused by the backoffice-only CORS policy.
    preflight = urllib.request.Request(
        f"{server.url}/api/v1/whoami",
        method="OPTIONS",
        headers={
            "Origin": shop_origins[0],
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(preflight, timeout=10)
    assert refused.value.code == 400
    assert refused.value.headers.get("Access-Control-Allow-Origin") != shop_origins[0]


def test_key_from_other_origin_is_refused(
    server: Server, page: Page, shop_origins: tuple[str, str], shop_key: tuple[str, str]
) -> None:
    account_id, key = shop_key
    page.goto(shop_origins[1] + "/")

    result = _fetch(page, f"{server.url}/api/v1/whoami?key={key}", content_type="text/plain")
    # Either the browser hides the response (no CORS header for this origin) or it is a readable 403.
    assert account_id not in str(result)
    if "error" not in result:
        assert result["status"] == 403, result
        assert result["json"]["error"]["code"] == "forbidden"

    # The server's answer itself, outside the browser: 403, and no CORS grant for that origin.
    request = urllib.request.Request(
        f"{server.url}/api/v1/whoami?key={key}",
        data=b"{}",
        method="POST",
        headers={"Origin": shop_origins[1], "Content-Type": "text/plain"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert refused.value.headers.get("Access-Control-Allow-Origin") is None
    assert account_id not in refused.value.read().decode()
