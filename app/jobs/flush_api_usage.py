"""Add the API requests counted in this process's memory to ``api_usage_daily``, and the tracking events it dropped to
``ingest_drop_daily``. Runs in every process (no lease)."""

from __future__ import annotations

from app.db import session_scope
from app.services.usage import flush_api_usage as flush
from app.services.usage.drops import flush_ingest_drops


def flush_api_usage() -> str:
    with session_scope() as session:
        count = flush(session)
    with session_scope() as session:
        drops = flush_ingest_drops(session)
    return f"{count} usage row(s) added" + (f", {drops} drop row(s)" if drops else "")
