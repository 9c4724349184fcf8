"""The api role: the public HTTP API (``app.api.build_api()``) served by an ASGI server on its own, without Reflex.

    granian --interface asgi --host 127.0.0.1 --port 8101 app.asgi_api:app

It answers what the web role's mounted API answers: ``/api/v1/*``, ``/pixel.js``, ``/api/docs``, with the same CORS
(Reflex's policy for the backoffice origins, with credentials, outside our routes; the routes' own per-key headers
for shops' CORS-simple calls), the same JSON errors and security headers, and the process's runtime as the API role
(the ingest writer, its own counters' flushes; no shared jobs). Wiring only, like app/app.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from app import runtime
from app.api.factory import build_api
from app.api.middleware import IngestFastPath, JsonApiErrors
from app.observability.asgi import Observe
from app.runtime import ProcessRole
from app.security_headers import SecurityHeaders
from app.settings import get_settings


@asynccontextmanager
async def api_lifespan(app: Any = None) -> AsyncIterator[None]:
    """The process's runtime as the API role: its counters flushed and the ingest writer drained on shutdown."""
    async with runtime.running(ProcessRole.API):
        yield


def build_api_server() -> ASGIApp:
    """The API app as the api role serves it."""
    settings = get_settings()
    api = build_api()
    api.router.lifespan_context = api_lifespan
    # What Reflex adds to an api_transformer app (reflex/app.py, App._add_cors): the backoffice origins with
    # credentials; a shop's preflight is refused, its CORS-simple requests reach the routes (docs: browser calls).
    api.add_middleware(
        CORSMiddleware,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_origins=settings.backoffice_origins,
    )
    # No frontend is built for this role: pages' script hashes are never read (it serves no page).
    # POST /api/v1/events straight to its endpoint, as in the web role (app/app.py).
    headers = SecurityHeaders(
        JsonApiErrors(IngestFastPath(api)), static_dir=settings.data_dir / "no-frontend-in-the-api-role"
    )
    return Observe(headers, role=ProcessRole.API.value)


app = build_api_server()
