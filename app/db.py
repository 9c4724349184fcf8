"""The one engine factory: SQLite pragmas, libSQL error mapping and PostgreSQL, chosen by DATABASE_URL.

The app, the CLI, the job runner and Alembic all get their engine here, so they behave the same.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from app.settings import get_settings


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
