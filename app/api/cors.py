"""CORS for browser-facing API routes: per-key origins, no credentials.

Reflex's outer middleware only knows the backoffice origin, so shops' browsers send CORS-simple requests
(text/plain POST, key in the query or body) and we add the headers for the key's own origins here.
"""

from __future__ import annotations

from starlette.responses import Response

from app.services.errors import ValidationFailed
from app.services.keys import KeyIdentity, normalize_origin


def _expose(response: Response, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    response.headers["Vary"] = "Origin"


def allow_origin(response: Response, origin: str | None, identity: KeyIdentity | None) -> None:
    """Let the key's own origins read the answer (and its Retry-After)."""
    if not origin or identity is None:
        return
    try:
        normalized = normalize_origin(origin)
    except ValidationFailed:
        return
    if normalized in identity.allowed_origins:
        _expose(response, origin)


def expose_error(response: Response, origin: str | None) -> None:
    """Error answers hold no account data: any page may read them, so the pixel stops retrying a 4xx
    (an unreadable answer looks like a network failure, which it would retry for days)."""
    if origin and response.status_code >= 400:
        _expose(response, origin)
