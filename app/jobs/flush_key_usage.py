"""Write the API keys' last-used times kept in this process's memory. Runs in every process (no lease)."""

from __future__ import annotations

from app.db import session_scope
from app.services.keys import flush_key_usage as flush


def flush_key_usage() -> str:
    with session_scope() as session:
        count = flush(session=session)
    return f"{count} key(s) updated"
