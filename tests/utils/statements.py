"""The SQL statements an engine sends while a block runs (a ``before_cursor_execute`` listener), for tests that
count statements or check that something never writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.db import get_engine


@contextmanager
def recorded_statements(engine: Engine | None = None) -> Iterator[list[str]]:
    """``with recorded_statements() as seen:``: ``seen`` gets each statement's SQL as it is sent (the app's engine
    unless one is given)."""
    seen: list[str] = []
    target = engine if engine is not None else get_engine()

    def record(_connection: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(target, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(target, "before_cursor_execute", record)
