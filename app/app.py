"""The Reflex app: pages, the mounted API and the process's runtime for the server's lifespan. Wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import reflex as rx
from starlette.types import ASGIApp

from app import (
    pages,  # noqa: F401  (importing the pages registers each with the layout decorator)
    routes,
    runtime,
)
from app.api.factory import build_api
from app.api.middleware import IngestFastPath, JsonApiErrors
from app.components.early_figures import early_request
from app.components.layout import registered_pages
from app.components.toasts import pending_toasts
from app.observability.asgi import Observe
from app.runtime import ProcessRole
from app.security_headers import security_headers
from app.static_cache import static_caching


@asynccontextmanager
async def runtime_lifespan(app: Any = None) -> AsyncIterator[None]:
    """The process's runtime as the web app (app/runtime.py): the jobs when enabled, the ingest writer drained and
    the usage counts flushed on shutdown."""
    async with runtime.running(ProcessRole.WEB):
        yield


class PaidSignalApp(rx.App):
    """Reflex's app with every ``/api`` error answered in JSON (some never reach our API: see JsonApiErrors), the
    built frontend's cache lifetimes (app/static_cache.py), the security headers on every HTTP response: pages,
    static files, Reflex's routes, our API, and the answers Reflex's own outermost middleware gives (see
    app/security_headers.py), and around it all the request metrics, the access log and the internal ``/_ops/``
    endpoints (app/observability/asgi.py)."""

    def __call__(self) -> ASGIApp:
        wrapped = security_headers(static_caching(JsonApiErrors(IngestFastPath(super().__call__()))))
        return Observe(wrapped, role=ProcessRole.WEB.value, with_database=lambda: runtime.current().runs_shared_jobs)


app = PaidSignalApp(
    api_transformer=build_api(),
    extra_app_wraps={(3, "PendingToasts"): lambda stateful: pending_toasts() if stateful else None},
    head_components=[
        rx.el.link(rel="icon", href=routes.FAVICON_SVG, type="image/svg+xml"),
        rx.el.link(rel="icon", href=routes.FAVICON_ICO, sizes="32x32"),
        early_request(),  # `/`'s KPI cards asked for at navigation (app/components/early_figures.py)
    ],
)
for page, options in registered_pages():
    app.add_page(page, **options)
app.register_lifespan_task(runtime_lifespan)
