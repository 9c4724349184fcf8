"""The Reflex app: pages, the mounted API and the lifespan of background workers. Wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import reflex as rx
from starlette.types import ASGIApp

import app.pages  # registers every page with the layout decorator
from app import routes
from app.api import JsonApiErrors, build_api
from app.components.layout import registered_pages
from app.components.toasts import pending_toasts
from app.jobs.runner import job_runner_lifespan
from app.security_headers import security_headers
from app.services.ingest import writer
from app.settings import get_settings


@asynccontextmanager
async def ingest_writer_lifespan(app: Any = None) -> AsyncIterator[None]:
    """Drain the group-commit writer on shutdown: every queued request is committed and answered."""
    yield
    writer.stop()


@asynccontextmanager
async def llm_warmup_lifespan(app: Any = None) -> AsyncIterator[None]:
    """With an assistant configured, import litellm (10-20 s) in a thread at start, not in the first question."""
    if get_settings().llm_model.strip():
        import threading

        from app.integrations import llm

        threading.Thread(target=llm.load, name="litellm-import", daemon=True).start()
    yield


class PaidSignalApp(rx.App):
    """Reflex's app with every ``/api`` error answered in JSON (some never reach our API: see JsonApiErrors) and the
    security headers on every HTTP response: pages, static files, Reflex's routes, our API, and the answers Reflex's
    own outermost middleware gives (see app/security_headers.py)."""

    def __call__(self) -> ASGIApp:
        return security_headers(JsonApiErrors(super().__call__()))


app = PaidSignalApp(
    api_transformer=build_api(),
    extra_app_wraps={(3, "PendingToasts"): lambda stateful: pending_toasts() if stateful else None},
    head_components=[
        rx.el.link(rel="icon", href=routes.FAVICON_SVG, type="image/svg+xml"),
        rx.el.link(rel="icon", href=routes.FAVICON_ICO, sizes="32x32"),
    ],
)
for page, options in registered_pages():
    app.add_page(page, **options)
app.register_lifespan_task(ingest_writer_lifespan)
app.register_lifespan_task(job_runner_lifespan)
app.register_lifespan_task(llm_warmup_lifespan)
