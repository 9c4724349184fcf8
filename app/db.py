"""The one engine factory: SQLite pragmas, libSQL error mapping and PostgreSQL, chosen by DATABASE_URL.

The app, the CLI, the job runner and Alembic all get their engine here, so they behave the same.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from app.settings import get_settings

# One write transaction at a time per process. SQLite has one writer: threads that queue on its lock sleep in
# busy_timeout's back-off, and under load some starve past it (measured in bench/webhooks.py and
# bench/conversions.py). Taking this lock first hands the write over in order. Hot write paths (webhooks, the
# conversion sender) hold it from their first write to their commit, never across network calls.
write_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _map_libsql_errors(context: Any) -> None:
    """libSQL raises ValueError for constraint violations; turn them into IntegrityError like other drivers."""
    original = context.original_exception
    if isinstance(original, ValueError) and "constraint" in str(original).lower():
        raise exc.IntegrityError(context.statement, context.parameters, original) from original


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """Build an engine for ``url`` (default: the settings') with the right options for its backend."""
    settings = get_settings()
    url = url or settings.resolved_database_url
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    connect_args: dict[str, Any] = {}

    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if driver == "libsql":
            if settings.database_auth_token:
                connect_args["auth_token"] = settings.database_auth_token
            if settings.database_sync_url:
                connect_args["sync_url"] = settings.database_sync_url
        else:
            connect_args["check_same_thread"] = False
        engine = create_engine(url, echo=echo, connect_args=connect_args, pool_pre_ping=False)
        event.listen(engine, "connect", _sqlite_pragmas)
        if driver == "libsql":
            event.listen(engine, "handle_error", _map_libsql_errors)
        return engine

    if backend == "postgresql" and driver in {"psycopg2", "psycopg2cffi", "default"}:
        # We ship psycopg 3; accept plain postgresql:// URLs.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, echo=echo, pool_pre_ping=True)


@functools.cache
def get_engine() -> Engine:
    """The process-wide engine; tests call ``reset_engine()`` after changing DATABASE_URL."""
    return make_engine()


def reset_engine() -> None:
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request, committed when the handler returns."""
    with session_scope() as session:
        yield session


_COMPILED: dict[tuple[str, int, frozenset[str]], tuple[str, list[tuple[str, Any]], bool]] = {}


def executemany(session: Session, statement: Any, rows: list[dict[str, Any]]) -> None:
    """``statement`` for every row in one DBAPI ``executemany``, for the ingest hot path.

    Same SQL and the same type processors SQLAlchemy would use (compiled once per dialect, statement and row shape),
    without its per-row parameter machinery, which cost more than the database itself (bench/ingest.py).
    Every row must have the same keys.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    keys = frozenset(rows[0])
    cache_key = (dialect.name, id(statement), keys)
    entry = _COMPILED.get(cache_key)
    if entry is None:
        compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
        order = compiled.positiontup or list(compiled.binds)
        processors = compiled._bind_processors  # the type processors SQLAlchemy itself applies
        binds = [
            (compiled.binds[name].key, _fast_processor(dialect.name, compiled.binds[name].type) or processors.get(name))
            for name in order
        ]
        entry = (str(compiled), binds, compiled.positiontup is not None)
        _COMPILED[cache_key] = entry
        _statements_in_use.append(statement)  # keep id() stable: the statement must outlive its cache entry
    sql, binds, positional = entry
    if positional:
        params: list[Any] = [
            tuple(process(row[key]) if process else row[key] for key, process in binds) for row in rows
        ]
    else:
        params = [{key: process(row[key]) if process else row[key] for key, process in binds} for row in rows]
    connection.exec_driver_sql(sql, params)


_statements_in_use: list[Any] = []


def _sqlite_utc_text(value: datetime | None) -> str | None:
    # Exactly SQLAlchemy's SQLite DATETIME storage format ("2026-11-27 10:00:00.000000", naive UTC), via the C
    # isoformat instead of its %-formatting: datetime conversion was the largest single cost of an ingest batch.
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; use timezone-aware datetimes")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _fast_processor(dialect_name: str, type_: Any) -> Any:
    from app.models.base import UTCDateTime

    if dialect_name == "sqlite" and isinstance(type_, UTCDateTime):
        return _sqlite_utc_text
    return None
