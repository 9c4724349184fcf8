"""Security headers on every HTTP response the server sends: pages, static files, Reflex's routes and our API.

One pure ASGI middleware, around Reflex's whole app (app/app.py), adds them. The pages' Content-Security-Policy
is built from PUBLIC_URL and from the built frontend itself: the prerendered pages carry static inline scripts
(React Router's boot, Reflex's theme script), allowed by their SHA-256 hashes, read from the build's HTML files,
never from a response. docs/architecture/security.md ("Security headers") says what each source is for.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.settings import get_settings

log = logging.getLogger("paidsignal.security_headers")

# Two years, as the HSTS preload list asks; sent only when PUBLIC_URL is https (a browser ignores it over http anyway,
# but an http deployment must never promise https).
HSTS = "max-age=63072000; includeSubDomains"
# API answers (JSON, pixel.js): a document made of them loads nothing and is never framed. Short on purpose: the
# ingest endpoint answers shops' browsers at high rates.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
_API_PATHS = ("/api/", "/pixel.js")


class _InlineScripts(HTMLParser):
    """Collects the text of every ``<script>`` without ``src`` (the browser hashes exactly that text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)  # script text is raw: nothing in it is an entity
        self.scripts: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and not any(name == "src" for name, _ in attrs):
            self._current = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._current is not None:
            self.scripts.append("".join(self._current))
            self._current = None


def inline_script_hashes(html: str) -> list[str]:
    """The ``'sha256-…'`` sources of an HTML document's inline scripts, in order, without repeats."""
    parser = _InlineScripts()
    parser.feed(html)
    parser.close()
    hashes = (base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() for text in parser.scripts)
    return list(dict.fromkeys(f"'sha256-{digest}'" for digest in hashes))


def built_pages_script_hashes(static_dir: Path) -> list[str]:
    """The hashes of the inline scripts of every built page under ``static_dir`` (none when there is no build)."""
    found: dict[str, None] = {}
    for page in sorted(static_dir.rglob("*.html")):
        found.update(dict.fromkeys(inline_script_hashes(page.read_text(encoding="utf-8"))))
    return list(found)


def _origins(public_url: str) -> tuple[str, str]:
    """PUBLIC_URL's origin, and the same origin as the websocket the page opens to ``/_event``."""
    parts = urlsplit(public_url)
    socket_scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{parts.scheme}://{parts.netloc}", f"{socket_scheme}://{parts.netloc}"


def page_policy(public_url: str, script_hashes: Iterable[str] = ()) -> str:
    """The Content-Security-Policy of the backoffice pages (and the files they load)."""
    origin, socket_origin = _origins(public_url)
    directives = [
        "default-src 'self'",
        # The bundle's modules from our origin, and the build's own inline scripts by hash: no 'unsafe-inline',
        # no 'unsafe-eval' (Reflex evaluates scripts sent by the server with eval(): we send none).
        " ".join(["script-src 'self'", *script_hashes]),
        # Emotion (Reflex's CSS-in-JS) writes <style> elements while the page runs (sonner and React add their own),
        # and the prerendered pages carry emotion's <style> elements: created by the bundle, they cannot carry a
        # nonce, and their text changes with every component, so styles need 'unsafe-inline' (CSS runs no script).
        "style-src 'self' 'unsafe-inline'",
        # Plotly's "download plot as png" draws the chart through a blob: image (a data: one on Safari); Swagger
        # UI's icons are data: SVGs.
        "img-src 'self' data: blob:",
        # The page talks to the backend at PUBLIC_URL (Reflex's api_url): HTTP for uploads, the websocket for events.
        f"connect-src 'self' {origin} {socket_origin}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def common_headers(public_url: str) -> dict[str, str]:
    """The headers every response gets besides its Content-Security-Policy."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",  # frame-ancestors 'none' for browsers without CSP level 2
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    if urlsplit(public_url).scheme == "https":
        headers["Strict-Transport-Security"] = HSTS
    return headers


def allow_own_inline_scripts(response: HTMLResponse) -> HTMLResponse:
    """Give a page the server writes itself (from constants, never from input) a policy allowing its own inline
    scripts by hash: the Swagger UI page at /api/docs. The middleware keeps a policy a route has set."""
    html = bytes(response.body).decode(response.charset)
    response.headers["Content-Security-Policy"] = page_policy(get_settings().public_url, inline_script_hashes(html))
    return response


def frontend_static_dir() -> Path:
    """Where the production server serves the built frontend from (Reflex's frontend mount)."""
    from reflex.constants import Dirs
    from reflex.utils.prerequisites import get_web_dir
    from reflex_base.config import get_config

    return get_web_dir() / Dirs.STATIC / get_config().frontend_path.strip("/")


class SecurityHeaders:
    """Pure ASGI middleware: adds the security headers to every HTTP response start, keeping any header a route set.

    The pages' policy is computed from the build the first time it is needed and again whenever the build folder is
    replaced (a rebuild writes a new folder), so the hashes always match the HTML being served.
    """

    def __init__(self, app: ASGIApp, *, public_url: str | None = None, static_dir: Path | None = None) -> None:
        if public_url is None:
            public_url = get_settings().public_url
        self.app = app
        self.public_url = public_url
        self.static_dir = static_dir
        self.common = common_headers(public_url)
        self._build: tuple[int, int] | None = None
        self._page_policy = page_policy(public_url)

    def page_policy(self) -> str:
        static_dir = self.static_dir if self.static_dir is not None else frontend_static_dir()
        try:
            stat = static_dir.stat()
            build = (stat.st_ino, stat.st_mtime_ns)
        except OSError:  # no build (API-only tests, the dev server's frontend runs elsewhere)
            build = (0, 0)
        if build != self._build:
            hashes = built_pages_script_hashes(static_dir) if build != (0, 0) else []
            self._page_policy = page_policy(self.public_url, hashes)
            self._build = build
            log.info("page policy: %d inline script hashes from %s", len(hashes), static_dir)
        return self._page_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        policy = API_POLICY if path.startswith(_API_PATHS) else self.page_policy()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                for name, value in self.common.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def security_headers(app: ASGIApp) -> ASGIApp:
    """Wraps Reflex's whole ASGI app (app/app.py): pages, files, Reflex's routes and middleware answers, our API."""
    return SecurityHeaders(app)
