"""The built frontend's files as the production server sends them: compressed (brotli or gzip, whichever the browser
accepts, from the build's precompressed copies) and cached (hashed assets for a year, pages revalidated).

The answers come from the whole ASGI app on a small build in a temporary folder, mounted as ``reflex run --env prod``
mounts ``.web/build/client`` (the ``mount_frontend`` fixture).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest
from reflex_base.config import get_config
from starlette.testclient import TestClient

from app.static_cache import IMMUTABLE, REVALIDATE

PAGE = "<!DOCTYPE html><html><head><script src='/assets/app-3f9a1c.js'></script></head><body>Overview</body></html>"
SCRIPT = "console.log('the app');\n" * 40
# Brotli's own bytes are opaque to the server, which only picks the file: any content stands in for them here.
BROTLI = b"\x1b\x03brotli-compressed stand-in"


@pytest.fixture
def build(mount_frontend: Callable[[], Path]) -> Path:
    """A page and a hashed script with the build's gzip and brotli copies."""
    static = mount_frontend()
    for path, text in ((static / "index.html", PAGE), (static / "assets" / "app-3f9a1c.js", SCRIPT)):
        path.write_text(text)
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(text.encode()))
        path.with_name(path.name + ".br").write_bytes(BROTLI)
    (static / "404.html").write_text("<!DOCTYPE html><html><body>Not found</body></html>")
    return static


def test_hashed_assets_are_kept_for_a_year_and_pages_are_revalidated(client: TestClient, build: Path) -> None:
    asset = client.get("/assets/app-3f9a1c.js")
    assert asset.status_code == 200 and asset.text == SCRIPT
    assert asset.headers["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    again = client.get("/assets/app-3f9a1c.js", headers={"If-None-Match": asset.headers["etag"]})
    assert again.status_code == 304 and again.headers["cache-control"] == IMMUTABLE

    # A page names the current build's files: the browser asks every time, and a 304 answers when nothing changed.
    for path in ("/", "/index.html"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == REVALIDATE == "no-cache" and page.text == PAGE
        same = client.get(path, headers={"If-None-Match": page.headers["etag"]})
        assert same.status_code == 304 and same.headers["cache-control"] == REVALIDATE
    # A page the build lacks is answered with its 404 page: not kept either.
    unknown = client.get("/no-such-page")
    assert unknown.status_code == 404 and unknown.headers["cache-control"] == REVALIDATE

    # What was not found is not kept (a build being deployed may lack it for a moment).
    missing = client.get("/assets/app-000000.js")
    assert missing.status_code == 404 and missing.headers.get("cache-control") != IMMUTABLE

    # Routes with their own policy keep it; Reflex's and the API's answers get none from here.
    assert "max-age=3600" in client.get("/pixel.js").headers["cache-control"]
    assert client.get("/api/v1/health").headers.get("cache-control") != IMMUTABLE
    assert "cache-control" not in client.get("/ping").headers


def test_files_are_sent_compressed_as_the_browser_accepts(client: TestClient, build: Path) -> None:
    # Brotli first (smaller), from the build's .br copy, when the browser offers it (in secure contexts: https,
    # localhost).
    assert get_config().frontend_compression_formats == ["brotli", "gzip"]
    with client.stream("GET", "/assets/app-3f9a1c.js", headers={"Accept-Encoding": "gzip, deflate, br"}) as answer:
        assert answer.headers["content-encoding"] == "br" and "Accept-Encoding" in answer.headers["vary"]
        assert b"".join(answer.iter_raw()) == BROTLI
        assert answer.headers["cache-control"] == IMMUTABLE

    # gzip otherwise (what browsers offer over plain http), for the pages too.
    for path, text in (("/assets/app-3f9a1c.js", SCRIPT), ("/", PAGE)):
        answer = client.get(path, headers={"Accept-Encoding": "gzip, deflate"})
        assert answer.headers["content-encoding"] == "gzip" and answer.text == text
        assert int(answer.headers["content-length"]) < len(text.encode())

    plain = client.get("/assets/app-3f9a1c.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == SCRIPT
