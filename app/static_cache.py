"""How long browsers keep the built frontend's files: the hashed files under ``/assets/`` for a year, the pages never
without asking first.

Vite names every script, stylesheet and font under ``/assets/`` after a hash of its contents, so a file at a given
URL never changes and a browser may keep it for good (``immutable``: not even a revalidation on reload). The pages
(HTML) name the current build's files, so a browser asks each time (``no-cache``) and gets a 304 when nothing
changed (Reflex's static files send an ETag). One pure ASGI middleware around Reflex's whole app (app/app.py) adds
the header to those answers only; any ``Cache-Control`` a route set itself (the API, ``/pixel.js``) is kept.
docs/performance.md ("The dashboard's first paint") has the measurements.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
ASSETS_PREFIX = "/assets/"
# Never the frontend's files: our API and pixel.js (their own policies), Reflex's routes (/_event, /_upload, /ping).
_OTHER_PATHS = ("/api/", "/pixel.js", "/_", "/ping")


def cache_control(path: str, status: int) -> str | None:
    """The ``Cache-Control`` of a frontend answer, or None to leave it without one (e.g. the favicon)."""
    if path.startswith(ASSETS_PREFIX):
        # Only what was found: a 404 for an asset of a build being deployed must not be kept.
        return IMMUTABLE if status in (200, 304) else None
    # A page is known by its path, not its answer's type: a 304 carries no Content-Type, and must say no-cache too.
    name = path.rsplit("/", 1)[-1]
    if "." not in name or name.endswith(".html"):
        return REVALIDATE
    return None


class StaticCaching:
    """Pure ASGI middleware: ``Cache-Control`` on the built frontend's GET and HEAD answers (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD") or path.startswith(_OTHER_PATHS):
            await self.app(scope, receive, send)
            return

        async def send_with_cache_control(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "cache-control" not in headers:
                    value = cache_control(path, int(message["status"]))
                    if value is not None:
                        headers["Cache-Control"] = value
            await send(message)

        await self.app(scope, receive, send_with_cache_control)


def static_caching(app: ASGIApp) -> ASGIApp:
    """Wraps Reflex's whole ASGI app (app/app.py), inside the security headers."""
    return StaticCaching(app)
