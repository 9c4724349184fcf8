"""The Reflex app: pages, the mounted API and the job runner's lifespan. Wiring only."""

from __future__ import annotations

import reflex as rx

import app.pages
from app.api import build_api
from app.components.layout import registered_pages
from app.jobs.runner import job_runner_lifespan

app = rx.App(api_transformer=build_api())
for page, options in registered_pages():
    app.add_page(page, **options)
app.register_lifespan_task(job_runner_lifespan)
