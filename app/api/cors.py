"""CORS for browser-facing API routes: per-key origins, no credentials.

Reflex's outer middleware only knows the backoffice origin, so shops' browsers send CORS-simple requests
(text/plain POST, key in the query or body) and we add the headers for the key's own origins here.
"""

from __future__ import annotations

from starlette.responses import Response

from app.services.errors import ValidationFailed
from app.services.keys import KeyIdentity, normalize_origin


def allow_origin(response: Response, origin: str | None, identity: KeyIdentity | None) -> None:
    if not origin or identity is None:
        return
    try:
        normalized = normalize_origin(origin)
    except ValidationFailed:
        return
    if normalized in identity.allowed_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
