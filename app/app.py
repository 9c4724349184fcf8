"""The Reflex app: pages, the mounted API and the lifespan of background workers. Wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import reflex as rx

import app.pages  # registers every page with the layout decorator
from app.api import build_api
from app.components.layout import registered_pages
from app.jobs.runner import job_runner_lifespan
from app.services.ingest import writer


@asynccontextmanager
async def ingest_writer_lifespan(app: Any = None) -> AsyncIterator[None]:
    """Drain the group-commit writer on shutdown: every queued request is committed and answered."""
    yield
    writer.stop()


app = rx.App(api_transformer=build_api())
for page, options in registered_pages():
    app.add_page(page, **options)
app.register_lifespan_task(ingest_writer_lifespan)
app.register_lifespan_task(job_runner_lifespan)
