from __future__ import annotations

import gzip

from starlette.testclient import TestClient


def test_pixel_js_is_served_with_caching(client: TestClient) -> None:
    response = client.get("/pixel.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age=3600" in response.headers["cache-control"]
    assert "window.paidsignal" in response.text and "/api/v1/events" in response.text
    again = client.get("/pixel.js", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_pixel_js_stays_small_and_lists_its_commands(client: TestClient) -> None:
    body = client.get("/pixel.js").content
    # Every shop page downloads it: growth needs a reason (docs/integrate/pixel.md states the size).
    assert len(body) < 25_000 and len(gzip.compress(body)) < 10_000
    for command in ("track", "identify", "consent", "eventId", "flush", "checkout", "purchase"):
        assert f" *  '{command}'" in body.decode(), command
