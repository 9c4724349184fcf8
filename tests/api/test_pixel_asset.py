from __future__ import annotations

from starlette.testclient import TestClient


def test_pixel_js_is_served_with_caching(client: TestClient) -> None:
    response = client.get("/pixel.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age=3600" in response.headers["cache-control"]
    assert "window.paidsignal" in response.text and "/api/v1/events" in response.text
    again = client.get("/pixel.js", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
