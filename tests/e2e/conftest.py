"""Browser tests against the real production server: ``reflex run --env prod`` on one port, Chromium via Playwright.

The server runs as a subprocess in its own process group with its own DATA_DIR (SQLite file, email outbox); it is
stopped by killing that group. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.utils.browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, llm_env, require_chromium
from tests.utils.llm_server import LlmServer
from tests.utils.server import ROOT, Server, free_port, server_env, start_server

START_TIMEOUT_S = 300
# The ad sync looks for due work every 2 s and asks again at once whether a Meta report run is done, so a browser
# test sees a connection's backfill land while it waits (test_ad_platforms_flow).
_AD_SYNC_ENV = {"ADS_SYNC_SECONDS": "2", "ADS_REPORT_POLL_SECONDS": "0"}

# Every browser expectation waits at most this long (Reflex events are a websocket round trip).
expect.set_options(timeout=15_000)
_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(scope="session")
def _llm_server() -> Iterator[LlmServer]:
    """The local OpenAI-compatible model server, started before the shared server (which is given its URL)."""
    with LlmServer() as llm:
        yield llm


@pytest.fixture
def llm_server(_llm_server: LlmServer) -> LlmServer:
    """The local model server with an empty script and no recorded requests, for this test."""
    _llm_server.reset()
    return _llm_server


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, _stripe_recorder: object, _ad_platforms: object, _llm_server: LlmServer
) -> Iterator[Server]:
    """The shared server. The recording Stripe API and ad platforms start first: the server inherits their base
    URLs (STRIPE_API_BASE, META_GRAPH_BASE, GA4_BASE, …); the local model server is its assistant's provider."""
    require_chromium()  # before the slow start
    port = free_port()
    data_dir = tmp_path_factory.mktemp("e2e-data")
    web_dir = tmp_path_factory.mktemp("e2e-web") / ".web"
    if (ROOT / ".web" / "node_modules").is_dir():
        # Start from the checkout's compiled frontend and installed packages: only what changed is rebuilt.
        shutil.copytree(ROOT / ".web", web_dir, symlinks=True)
    try:
        running = start_server(
            port,
            data_dir,
            server_env(port, data_dir, web_dir, **llm_env(_llm_server), **_AD_SYNC_ENV),
            timeout=START_TIMEOUT_S,
        )
    except RuntimeError as error:
        pytest.fail(str(error))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright, server: Server) -> Iterator[Browser]:
    require_chromium()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def new_context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[[], BrowserContext]]:
    """A factory for fresh browser contexts (separate cookies and localStorage); all closed after the test.

    When the test fails, every open page is saved as a screenshot under SCREENSHOTS.
    """
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    failed = request.node.stash.get(_FAILED, False)
    for n, context in enumerate(contexts):
        for m, open_page in enumerate(context.pages):
            if failed:
                SCREENSHOTS.mkdir(exist_ok=True)
                path = SCREENSHOTS / f"{request.node.name}-{n}-{m}.png"
                with contextlib.suppress(Exception):
                    open_page.screenshot(path=str(path), full_page=True)
                    print(f"screenshot of {open_page.url}: {path}")
        context.close()


@pytest.fixture
def page(new_context: Callable[[], BrowserContext]) -> Page:
    return new_context().new_page()


@pytest.fixture
def shop() -> Iterator[dict[str, Any]]:
    """A shop on its own origin (127.0.0.1, a free port) serving ``shop["html"]`` for every path."""
    holder: dict[str, Any] = {"html": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = holder["html"]
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    holder["origin"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield holder
    finally:
        httpd.shutdown()
        httpd.server_close()
