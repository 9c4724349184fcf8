"""Security headers: the policy built from settings and the build, and every kind of response carrying them.

The responses come from the whole ASGI app as Reflex serves it in production: our API, Reflex's own routes, and the
built frontend (mounted here on a small build in a temporary folder, as ``reflex run --env prod`` mounts ``.web``).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app.security_headers import (
    API_POLICY,
    HSTS,
    SecurityHeaders,
    built_pages_script_hashes,
    common_headers,
    inline_script_hashes,
    page_policy,
)

BOOT_SCRIPT = 'window.__reactRouterContext = {"basename":"/"};'
THEME_SCRIPT = "\ndocument.documentElement.classList.add('dark');\n"
PAGE = (
    '<!DOCTYPE html><html><head><script src="/assets/app.js"></script><script>'
    f"{THEME_SCRIPT}</script></head><body><div>Log in</div><script>{BOOT_SCRIPT}</script>"
    f'<script type="module" async="">{BOOT_SCRIPT}</script></body></html>'
)
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy")


def sha256_source(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


# --- the policy -----------------------------------------------------------------------------------------------------


def test_the_page_policy_allows_the_builds_scripts_by_hash_and_nothing_loose() -> None:
    policy = directives(page_policy("https://paidsignal.example.com", ["'sha256-AAA='", "'sha256-BBB='"]))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'", "'sha256-AAA='", "'sha256-BBB='"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"] and "font-src" not in policy  # fonts: default-src
    # The websocket (/_event) and uploads go to PUBLIC_URL, which may be another spelling of the host than the page.
    assert policy["connect-src"] == ["'self'", "https://paidsignal.example.com", "wss://paidsignal.example.com"]
    assert directives(page_policy("http://localhost:3000"))["connect-src"][1:] == [
        "http://localhost:3000",
        "ws://localhost:3000",
    ]
    sources = [source for values in policy.values() for source in values]
    assert "'unsafe-eval'" not in sources and "*" not in sources
    # 'unsafe-inline' only for styles (emotion's <style> elements and Radix's style attributes).
    assert [name for name, values in policy.items() if "'unsafe-inline'" in values] == ["style-src"]


def test_hsts_only_when_public_url_is_https() -> None:
    assert common_headers("https://paidsignal.example.com")["Strict-Transport-Security"] == HSTS
    assert "Strict-Transport-Security" not in common_headers("http://localhost:3000")
    for url in ("https://paidsignal.example.com", "http://localhost:3000"):
        headers = common_headers(url)
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_inline_scripts_are_hashed_as_the_browser_reads_them() -> None:
    # External scripts are not hashed; a script repeated on a page is listed once; text is taken byte for byte.
    assert inline_script_hashes(PAGE) == [sha256_source(THEME_SCRIPT), sha256_source(BOOT_SCRIPT)]
    assert inline_script_hashes("<p>no script</p>") == []
    entity = "<script>if (a &amp;&amp; b) {}</script>"  # script text is raw: the entity stays as written
    assert inline_script_hashes(entity) == [sha256_source("if (a &amp;&amp; b) {}")]


def test_every_built_page_contributes_its_scripts(tmp_path: Path) -> None:
    (tmp_path / "login").mkdir()
    (tmp_path / "login" / "index.html").write_text(PAGE)
    (tmp_path / "404.html").write_text("<script>other()</script>")
    assert set(built_pages_script_hashes(tmp_path)) == {
        sha256_source(THEME_SCRIPT),
        sha256_source(BOOT_SCRIPT),
        sha256_source("other()"),
    }
    assert built_pages_script_hashes(tmp_path / "missing") == []


def test_the_policy_follows_the_build_once_it_appears(tmp_path: Path) -> None:
    static = tmp_path / "client"
    app = SecurityHeaders(
        Starlette(routes=[Route("/", lambda request: HTMLResponse("<p>hi</p>"))]),
        public_url="http://localhost:3000",
        static_dir=static,
    )
    with TestClient(app) as client:
        assert directives(client.get("/").headers["content-security-policy"])["script-src"] == ["'self'"]
        static.mkdir()
        (static / "index.html").write_text(PAGE)
        script_src = directives(client.get("/").headers["content-security-policy"])["script-src"]
    assert script_src == ["'self'", sha256_source(THEME_SCRIPT), sha256_source(BOOT_SCRIPT)]


# --- every kind of response -----------------------------------------------------------------------------------------


@pytest.fixture
def built_frontend(mount_frontend: Callable[[], Path]) -> Path:
    """A small frontend build, mounted the way the production server mounts ``.web/build/client``."""
    static = mount_frontend()
    (static / "index.html").write_text(PAGE)
    (static / "assets" / "app.js").write_text("console.log('app');\n")
    return static


def assert_secured(response: object, policy: str | None = None) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    missing = [name for name in SECURITY_HEADERS if name not in headers]
    assert not missing, f"{response}: no {missing}"
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in headers  # the tests' PUBLIC_URL is http
    if policy is not None:
        assert headers["content-security-policy"] == policy


@pytest.mark.skipif(os.environ.get("TEST_API_APP") == "api", reason="the api role serves no pages")
def test_pages_and_their_files_carry_the_page_policy(client: TestClient, built_frontend: Path) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "Log in" in page.text
    assert_secured(page)
    script_src = directives(page.headers["content-security-policy"])["script-src"]
    assert script_src == ["'self'", sha256_source(THEME_SCRIPT), sha256_source(BOOT_SCRIPT)]

    asset = client.get("/assets/app.js")
    assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/javascript")
    assert_secured(asset, page.headers["content-security-policy"])
    assert_secured(client.get("/ping"))  # Reflex's own route


def test_api_answers_and_errors_carry_the_api_policy(client: TestClient) -> None:
    health = client.get("/api/v1/health")
    assert health.status_code == 200 and health.headers["content-type"] == "application/json"
    assert_secured(health, API_POLICY)
    unknown = client.get("/api/v1/no-such-thing")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert_secured(unknown, API_POLICY)
    refused = client.post("/api/v1/events?key=ps_pk_wrong", content='{"events": []}')
    assert 400 <= refused.status_code < 500 and "error" in refused.json()
    assert_secured(refused, API_POLICY)
    # Answered by Reflex's outermost CORS middleware, before any route: a preflight from a shop's origin.
    preflight = client.options(
        "/api/v1/events",
        headers={"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400 and "CORS" in preflight.text
    assert_secured(preflight, API_POLICY)


def test_pixel_js_stays_loadable_from_a_shops_page(client: TestClient) -> None:
    pixel = client.get("/pixel.js")
    assert pixel.status_code == 200
    assert_secured(pixel, API_POLICY)
    # nosniff needs a JavaScript type; no Cross-Origin-Resource-Policy may keep other sites from loading it.
    assert pixel.headers["content-type"].startswith("text/javascript")
    assert pixel.headers.get("cross-origin-resource-policy", "cross-origin") == "cross-origin"
    again = client.get("/pixel.js", headers={"If-None-Match": pixel.headers["etag"]})
    assert again.status_code == 304
    assert_secured(again, API_POLICY)


def test_the_api_docs_page_allows_only_its_own_start_script(client: TestClient) -> None:
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert_secured(docs)
    policy = directives(docs.headers["content-security-policy"])
    [start_script] = inline_script_hashes(docs.text)
    assert policy["script-src"] == ["'self'", start_script]
    assert policy["frame-ancestors"] == ["'none'"]
    assert client.get("/api/docs/assets/swagger-ui-bundle.js").headers["x-content-type-options"] == "nosniff"
