"""Add the API requests counted in this process's memory to ``api_usage_daily``. Runs in every process (no lease)."""

from __future__ import annotations

from app.db import session_scope
from app.services.usage import flush_api_usage as flush


def flush_api_usage() -> str:
    with session_scope() as session:
        count = flush(session)
    return f"{count} usage row(s) added"
