"""Delete long-ended browser sessions. Leased: one process in the cluster runs it."""

from __future__ import annotations

from app.db import session_scope
from app.services.jobs import purge_expired_sessions


def purge_sessions() -> str:
    with session_scope() as session:
        count = purge_expired_sessions(session=session)
    return f"{count} session(s) deleted"
