"""``GET /pixel.js``: the browser script shops embed, from assets/pixel.js, cached by browsers for an hour."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["pixel"])
PIXEL = Path(__file__).resolve().parents[3] / "assets" / "pixel.js"


@functools.cache
def _script() -> tuple[bytes, str]:
    body = PIXEL.read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:16]}"'


@router.get("/pixel.js", include_in_schema=False)
def pixel_js(request: Request) -> Response:
    body, etag = _script()
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
