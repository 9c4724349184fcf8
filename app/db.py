"""The one engine factory: SQLite pragmas, libSQL error mapping and PostgreSQL, chosen by DATABASE_URL.

The app, the CLI, the job runner and Alembic all get their engine here, so they behave the same.

How the pool, the write lock and the server's threads fit together
------------------------------------------------------------------
A server process has a known set of threads that touch the database, each holding at most one pooled connection
at a time (:func:`thread_budget`): the API's worker threads (anyio's default limiter, 40: every sync route and
``run_in_threadpool`` call), the Stripe webhook route's own ``WEBHOOK_CONCURRENCY`` threads that verify deliveries
(further deliveries wait in the event loop holding neither a thread nor a connection, and so do verified ones until
the webhook writer has committed them), the event loop itself (Reflex event handlers), the job runner's
``JOB_THREADS`` and one lease renewer per running leased job, the conversion sender's workers
(``CONVERSIONS_CONCURRENCY`` per provider), the ingest writer and the webhook writer (one thread each).

1. The pool has a connection for each of them (``DATABASE_POOL_SIZE=0``, the default: ``pool_size`` kept open,
   the rest as overflow opened on demand), so no checkout waits for another thread. A smaller
   ``DATABASE_POOL_SIZE`` (PostgreSQL's ``max_connections`` shared by several processes) makes threads wait for a
   connection, but cannot deadlock, because of 2.
2. ``write_lock`` lets one write transaction at a time run per process: SQLite has one writer, and threads that
   queue on its file lock sleep in busy_timeout's back-off until some starve past it. The lock is taken *before*
   the connection the write uses: a thread never waits for the lock holding a connection (:func:`writing` ends a
   session's reads before taking it). So the lock's holder can always get a connection: every other thread either
   waits for the lock holding none, or holds one for reads that finish without the lock. The other order is what
   stalled 32 concurrent webhooks on SQLAlchemy's default pool (5 + 10 overflow): fifteen deliveries that had read
   their account held every connection while waiting for the lock, and the lock's holder, which had read nothing,
   waited 30 s for a connection (``QueuePool limit … reached``). A wait in that order is logged ("waited for the
   write lock holding a database connection", with the place) and is an error under ``write_lock.strict`` (tests).
   Holders of the lock never call the network. The webhook writer (services/stripe_webhooks) takes it for each
   group transaction, holding no connection until it has it.
3. The ingest writer does not take ``write_lock``: it is one thread with one connection whose group transaction
   meets the lock's holder at the database's own lock, and it never waits for ``write_lock``, so it closes no cycle.
4. Processes (several workers, several instances) do not share the lock or the pool: their writes meet at the
   database (SQLite's busy_timeout, PostgreSQL's row locks), each process within its own budget.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from app.settings import Settings, get_settings

log = logging.getLogger(__name__)

API_THREADS = 40  # anyio's default thread limiter (tests check it): sync routes and run_in_threadpool
JOB_THREADS = 10  # the job runner's executor (app/jobs/runner.py)
SENDER_PROVIDERS = 4  # conversion providers the sender may run side by side (tests check it)
POOL_KEPT_OPEN = 10  # connections the pool keeps between bursts; the rest of the budget is overflow


def thread_budget(settings: Settings | None = None) -> dict[str, int]:
    """Threads of one process that may hold a pooled connection at the same time (see the module docstring)."""
    settings = settings or get_settings()
    return {
        "API worker threads": API_THREADS,
        "Stripe webhook threads": settings.webhook_concurrency,
        "event loop (Reflex event handlers)": 1,
        "job runner threads": JOB_THREADS,
        "lease renewers (one per running leased job)": JOB_THREADS,
        "conversion sender workers": settings.conversions_concurrency * SENDER_PROVIDERS,
        "ingest writer": 1,
        "Stripe webhook writer": 1,
    }


def pool_capacity(settings: Settings | None = None) -> int:
    """Connections one process may open: ``DATABASE_POOL_SIZE``, or the whole thread budget when it is 0."""
    settings = settings or get_settings()
    return settings.database_pool_size or sum(thread_budget(settings).values())


# --- which thread holds which connection ------------------------------------------------------------------------

_held: dict[int, int] = {}  # thread id -> connections of our pools it has checked out
_held_guard = threading.Lock()


def _on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    ident = threading.get_ident()
    record.info["paidsignal_thread"] = ident
    with _held_guard:
        _held[ident] = _held.get(ident, 0) + 1


def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
    # A session may be closed on another thread than the one that used it (FastAPI's dependency teardown): count
    # the connection off the thread that checked it out.
    ident = record.info.pop("paidsignal_thread", None)
    if ident is None:
        return
    with _held_guard:
        left = _held.get(ident, 0) - 1
        if left > 0:
            _held[ident] = left
        else:
            _held.pop(ident, None)


def connections_held() -> int:
    """Pooled connections the calling thread has checked out right now."""
    return _held.get(threading.get_ident(), 0)


class LockOrderError(RuntimeError):
    """A thread was about to wait for ``write_lock`` while holding a database connection (see the module docstring)."""


class WriteLock:
    """One write transaction at a time per process (see the module docstring), used as ``with write_lock:``.

    Not re-entrant. A thread that has to wait for it while holding a pooled connection is logged once per place in
    the code; with ``strict`` set (tests), taking it while holding one raises :class:`LockOrderError`, waiting or not.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.strict = False
        self._warned: set[str] = set()

    def __enter__(self) -> None:
        if not connections_held():
            self._lock.acquire()
        elif self.strict or not self._lock.acquire(blocking=False):
            self._held_while_waiting()
            self._lock.acquire()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def _held_while_waiting(self) -> None:
        here = (__file__, contextlib.__file__)
        caller = next(f for f in reversed(traceback.extract_stack()) if f.filename not in here)
        where = f"{caller.filename}:{caller.lineno} ({caller.name})"
        message = f"waited for the write lock holding a database connection at {where}"
        if self.strict:
            raise LockOrderError(f"{message}; end the session's reads first (app.db.writing)")
        if where not in self._warned:
            self._warned.add(where)
            log.warning("%s: end the session's reads first (app.db.writing); see app/db.py", message)


write_lock = WriteLock()


def end_reads(session: Session) -> None:
    """End ``session``'s read transaction so its connection goes back to the pool (objects it loaded stay usable
    when the session does not expire them on commit).

    Raises:
        RuntimeError: the session has unflushed changes: ending its transaction would write them.
    """
    if session.new or session.deleted or any(session.is_modified(obj) for obj in session.dirty):
        raise RuntimeError("the session has changes made before the write lock: make them inside it")
    if session.in_transaction():
        session.commit()


@contextmanager
def writing(session: Session) -> Iterator[None]:
    """Hold ``write_lock`` for a write on ``session``, in the right order: the session's reads end first (see
    :func:`end_reads`), so the thread waits for the lock holding no connection and the write transaction starts
    inside the lock."""
    end_reads(session)
    with write_lock:
        yield


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
    capacity = pool_capacity(settings)
    pool: dict[str, Any] = {"pool_size": min(capacity, POOL_KEPT_OPEN)}
    pool["max_overflow"] = capacity - pool["pool_size"]

    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            pool = {}  # one in-memory database per connection: SQLAlchemy's SingletonThreadPool, no sizes
        if driver == "libsql":
            if settings.database_auth_token:
                connect_args["auth_token"] = settings.database_auth_token
            if settings.database_sync_url:
                connect_args["sync_url"] = settings.database_sync_url
        else:
            connect_args["check_same_thread"] = False
        engine = create_engine(url, echo=echo, connect_args=connect_args, pool_pre_ping=False, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        if driver == "libsql":
            event.listen(engine, "handle_error", _map_libsql_errors)
    else:
        if backend == "postgresql" and driver in {"psycopg2", "psycopg2cffi", "default"}:
            # We ship psycopg 3; accept plain postgresql:// URLs.
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        engine = create_engine(url, echo=echo, pool_pre_ping=True, **pool)
    event.listen(engine, "checkout", _on_checkout)
    event.listen(engine, "checkin", _on_checkin)
    return engine


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


def executemany(session: Session, statement: Any, rows: list[dict[str, Any]]) -> None:
    """``statement`` for every row in one DBAPI ``executemany``, for the ingest hot path.

    Same SQL and the same type processors SQLAlchemy would use (compiled once per dialect, statement and row shape:
    :func:`execute`'s cache), without its per-row parameter machinery, which cost more than the database itself
    (bench/ingest.py). Every row must have the same keys. A statement that cannot run so goes through
    ``connection.execute`` (SQLAlchemy's own executemany). ``statement`` must be built once, as for :func:`execute`.
    """
    if not rows:
        return
    connection = session.connection()
    prepared = _prepared(connection.dialect, statement, frozenset(rows[0]))
    if prepared is None:
        connection.execute(statement, rows)
        return
    connection.exec_driver_sql(prepared.sql, prepared.parameters_many(rows))


_statements_in_use: list[Any] = []


def _sqlite_utc_text(value: datetime | None) -> str | None:
    # Exactly SQLAlchemy's SQLite DATETIME storage format ("2026-11-27 10:00:00.000000", naive UTC), via the C
    # isoformat instead of its %-formatting: datetime conversion was the largest single cost of an ingest batch.
    if value is None:
        return None
    if value.tzinfo is UTC:  # nearly always: drop the "+00:00" rather than convert
        return value.isoformat(" ", "microseconds")[:-6]
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; use timezone-aware datetimes")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _fast_processor(dialect_name: str, type_: Any) -> Any:
    from app.models.base import UTCDateTime

    if dialect_name == "sqlite" and isinstance(type_, UTCDateTime):
        return _sqlite_utc_text
    return None


# --- compiled statements on the driver's cursor -----------------------------------------------------------------


class Rows:
    """What :func:`execute` returns: the rows (tuples with the columns' names as attributes, each value as
    SQLAlchemy's result processing gives it) and the driver's rowcount."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def one(self) -> Any:
        if len(self.rows) != 1:
            raise exc.NoResultFound("expected one row") if not self.rows else exc.MultipleResultsFound()
        return self.rows[0]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]


class _Unsupported(Exception):
    """A statement :func:`execute` / :func:`executemany` cannot run on the driver's cursor as compiled: SQLAlchemy's
    own execution runs it."""


class _Compiled:
    """One statement compiled for one dialect and one set of parameter names: the SQL, where each parameter comes
    from (the caller's value or the statement's own constant) with the type processor SQLAlchemy would apply, the
    Python-side column defaults it would fill in, and (after the first execution) the result's row type and
    processors."""

    __slots__ = ("binds", "columns", "defaults", "getter", "positional", "processors", "row_type", "sql", "to_bind")

    def __init__(self, statement: Any, dialect: Any, keys: frozenset[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise _Unsupported("expanding or literal-execute parameters")
        processors = compiled._bind_processors
        self.positional = compiled.positiontup is not None
        order = compiled.positiontup if self.positional else list(compiled.binds)
        escaped = compiled.escaped_bind_names or {}
        self.binds: list[tuple[str, str, bool, Any, Any]] = []
        for name in order:
            bind = compiled.binds[name]
            given = bind.key in keys
            if not given and (bind.callable is not None or (bind.value is None and bind.required)):
                raise _Unsupported(f"parameter {bind.key} has no value")
            process = _fast_processor(dialect.name, bind.type) or processors.get(name)
            self.binds.append((escaped.get(name, name), bind.key, given, bind.value, process))
        self.defaults: list[tuple[str, Any]] = []
        for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
            default = column.default if column in compiled.insert_prefetch else column.onupdate
            if default is None or not (default.is_scalar or default.is_callable):
                raise _Unsupported(f"default of {column.key}")
            self.defaults.append((column.key, default))
        self.sql = str(compiled)
        # For executemany: when every parameter is the caller's, positional and without defaults to fill in, one
        # itemgetter takes a row's values in order (in C) and only the values with a processor go through Python.
        self.getter: Any = None
        self.to_bind = [(index, bind[4]) for index, bind in enumerate(self.binds) if bind[4] is not None]
        if self.positional and not self.defaults and self.binds and all(bind[2] for bind in self.binds):
            names = [bind[1] for bind in self.binds]
            self.getter = itemgetter(*names) if len(names) > 1 else (lambda row, name=names[0]: (row[name],))
        self.columns = [(entry.keyname, entry.type) for entry in compiled._result_columns]
        self.row_type: Any = None
        self.processors: list[Any] | None = None

    def parameters(self, params: dict[str, Any]) -> Any:
        for key, default in self.defaults:
            if key not in params:
                params = {**params, key: default.arg(None) if default.is_callable else default.arg}
        values = []
        for _name, key, given, constant, process in self.binds:
            value = params[key] if given or key in params else constant
            values.append(process(value) if process else value)
        if self.positional:
            return tuple(values)
        return {bind[0]: value for bind, value in zip(self.binds, values, strict=True)}

    def parameters_many(self, rows: list[dict[str, Any]]) -> list[Any]:
        """``parameters`` of each row (all with the same keys), at a fraction of its cost when ``getter`` can."""
        getter = self.getter
        if getter is None:
            return [self.parameters(row) for row in rows]
        if not self.to_bind:
            return [getter(row) for row in rows]
        to_bind = self.to_bind
        out = []
        for row in rows:
            values = list(getter(row))
            for index, process in to_bind:
                values[index] = process(values[index])
            out.append(tuple(values))
        return out

    def result(self, dialect: Any, description: Any, fetched: list[Any]) -> list[Any]:
        if self.processors is None:  # the first execution (threads racing here compute the same)
            from collections import namedtuple

            names = [name for name, _type in self.columns] or [column[0] for column in description]
            types = [type_ for _name, type_ in self.columns] or [None] * len(description)
            self.row_type = namedtuple("Row", names, rename=True)  # type: ignore[misc]  # names known at run time
            self.processors = [  # set last: another thread reads both once this is set
                type_._cached_result_processor(dialect, column[1]) if type_ is not None else None
                for type_, column in zip(types, description, strict=True)
            ]
        row_type, processors = self.row_type, self.processors
        if not any(processors):
            return [row_type._make(row) for row in fetched]
        return [
            row_type._make(
                [process(value) if process else value for process, value in zip(processors, row, strict=True)]
            )
            for row in fetched
        ]


_PREPARED: dict[tuple[str, int, frozenset[str]], _Compiled | None] = {}


def _prepared(dialect: Any, statement: Any, keys: frozenset[str]) -> _Compiled | None:
    """``statement`` compiled for ``dialect`` and these parameter names, once per process; None: SQLAlchemy runs it."""
    cache_key = (dialect.name, id(statement), keys)
    if cache_key in _PREPARED:
        return _PREPARED[cache_key]
    try:
        prepared: _Compiled | None = _Compiled(statement, dialect, keys)
    except _Unsupported:
        prepared = None
    _PREPARED[cache_key] = prepared
    _statements_in_use.append(statement)  # keep id() stable: the statement must outlive its cache entry
    return prepared


def execute(connection: Any, statement: Any, params: dict[str, Any] | None = None) -> Rows:
    """``connection.execute(statement, params)`` for the hot paths (the Stripe webhook's statements), on the
    driver's cursor: the statement compiled once per dialect and set of parameter names, with the same SQL, type
    processors and column defaults as SQLAlchemy's own execution, without its per-statement Python (about half a
    paying webhook's time went there, bench/webhooks.py). Errors are SQLAlchemy's (``IntegrityError``…), through
    the connection's own handling (libSQL's mapping, a lost PostgreSQL connection invalidated).

    ``connection`` is a SQLAlchemy ``Connection`` (``session.connection()``: in the session's transaction).
    ``statement`` must be built once (a module constant or cached): its compiled form is kept for the process's life.
    A statement this cannot run as is (expanding ``IN`` parameters, SQL-expression defaults), an engine with
    cursor-execute listeners (tests and benches that count statements) or echoing its SQL, goes through
    ``connection.execute``."""
    params = params or {}
    dialect = connection.dialect
    prepared = _prepared(dialect, statement, frozenset(params))
    dispatch = connection.dispatch
    if prepared is None or dispatch.before_cursor_execute or dispatch.after_cursor_execute or connection._echo:
        result = connection.execute(statement, params)
        return Rows(list(result) if result.returns_rows else [], result.rowcount)
    parameters = prepared.parameters(params)
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(prepared.sql, parameters)
        description = cursor.description
        fetched = cursor.fetchall() if description else []
        rowcount = cursor.rowcount
    except Exception as error:
        connection._handle_dbapi_exception(error, prepared.sql, parameters, cursor, None)  # raises
    finally:
        cursor.close()
    return Rows(prepared.result(dialect, description, fetched) if description else [], rowcount)
