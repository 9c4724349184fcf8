from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.db import get_engine
from app.models import User
from tests.utils.statements import recorded_statements


def test_constraint_violations_raise_integrity_error_on_every_backend(db: Session) -> None:
    db.add(User(public_id="usr_a", email="same@example.com", password_hash="x"))
    db.commit()
    db.add(User(public_id="usr_b", email="same@example.com", password_hash="x"))
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()


def test_sqlite_connections_get_wal_busy_timeout_and_foreign_keys(db: Session) -> None:
    engine = get_engine()
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas only")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_fast_executemany_stores_times_exactly_as_the_orm_reads_them(db: Session) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from sqlmodel import select

    from app.db import executemany
    from app.models import Account, JobLease

    aware = datetime(2026, 11, 27, 23, 30, 1, 123456, tzinfo=timezone(timedelta(hours=-5)))
    executemany(
        db,
        JobLease.__table__.insert(),
        [  # type: ignore[attr-defined]
            {"name": "a", "holder": "h", "acquired_at": aware, "expires_at": aware + timedelta(microseconds=1)},
        ],
    )
    db.commit()
    lease = db.exec(select(JobLease)).one()
    assert lease.acquired_at == aware and lease.acquired_at.tzinfo == UTC
    assert lease.expires_at - lease.acquired_at == timedelta(microseconds=1)
    assert db.exec(select(JobLease).where(JobLease.acquired_at < aware + timedelta(seconds=1))).first() is not None
    assert db.exec(select(Account)).first() is None


# --- the pool, the write lock and the threads (app/db.py) ---------------------------------------------------------


def test_the_write_lock_refuses_a_thread_holding_a_connection_in_strict_mode(
    db: Session, strict_lock_order: None
) -> None:
    from sqlmodel import select

    from app.db import LockOrderError, connections_held, end_reads, write_lock

    db.exec(select(User.id)).all()  # the session's read transaction keeps its connection
    assert connections_held() == 1
    with pytest.raises(LockOrderError, match=r"holding a database connection at .*test_db\.py"), write_lock:
        pass
    assert not write_lock.locked()
    end_reads(db)
    assert connections_held() == 0
    with write_lock:
        assert write_lock.locked()


def test_a_wait_for_the_write_lock_holding_a_connection_is_logged_with_its_place(
    db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import threading

    from sqlmodel import select

    from app.db import write_lock

    caplog.set_level(logging.WARNING, logger="app.db")
    holding, done = threading.Event(), threading.Event()

    def holder() -> None:
        with write_lock:
            holding.set()
            while not any("holding a database connection" in r.message for r in caplog.records):
                done.wait(0.01)

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait()
    db.exec(select(User.id)).all()
    with write_lock:  # waits (logged), then gets it once the holder saw the warning
        pass
    thread.join()
    [record] = [r for r in caplog.records if "holding a database connection" in r.message]
    assert "test_db.py" in record.message
    db.rollback()


def test_end_reads_refuses_changes_made_before_the_lock(db: Session) -> None:
    from app.db import end_reads

    db.add(User(public_id="usr_early", email="early@example.com", password_hash="x"))
    with pytest.raises(RuntimeError, match="before the write lock"):
        end_reads(db)
    db.rollback()


def test_the_pool_has_a_connection_for_every_thread_that_may_use_the_database(db: Session) -> None:
    import anyio.to_thread

    from app.db import API_THREADS, JOB_THREADS, SENDER_PROVIDERS, pool_capacity, thread_budget
    from app.jobs.runner import JobRunner
    from app.services.conversion_sender import PROVIDERS
    from app.settings import get_settings

    async def default_threads() -> float:
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    # In a thread of its own: the browser tests leave an event loop running in the main thread (Playwright's sync API).
    found: list[float] = []
    worker = threading.Thread(target=lambda: found.append(anyio.run(default_threads)))
    worker.start()
    worker.join()
    assert found == [API_THREADS]
    assert len(PROVIDERS) == SENDER_PROVIDERS
    assert JobRunner([]).scheduler._executors["default"]._pool._max_workers == JOB_THREADS
    budget = thread_budget()
    assert budget["Stripe webhook threads"] == get_settings().webhook_concurrency
    engine = get_engine()
    assert get_settings().database_pool_size == 0
    assert engine.pool.size() + engine.pool._max_overflow == pool_capacity() == sum(budget.values())  # type: ignore[attr-defined]


# --- compiled statements on the driver's cursor (app/db.py ``execute``) ----------------------------------------------


def test_execute_on_the_drivers_cursor_writes_and_reads_exactly_what_sqlalchemy_does(db: Session) -> None:
    """Every type the webhook's statements carry (JSON, an enum, aware times, booleans), the columns' Python-side
    defaults, RETURNING and rowcount, the same on every backend: the stored rows read back through the ORM equal what
    the statements wrote, and the rows ``execute`` returns equal SQLAlchemy's own for the same statement."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import bindparam, select
    from sqlmodel import select as orm_select

    from app.db import execute
    from app.models import StripeEvent, WebhookOutcome
    from app.models.base import table_of
    from tests.utils.factories import make_owner

    account, _user, _actor = make_owner(db)
    db.commit()
    events = table_of(StripeEvent)
    at = datetime(2026, 11, 27, 23, 30, 1, 123456, tzinfo=timezone(timedelta(hours=-5)))
    insert = events.insert().returning(events.c.id, events.c.outcome, events.c.received_at)
    connection = db.connection()
    row = execute(
        connection,
        insert,
        {
            "account_id": account.id,
            "stripe_event_id": "evt_1",
            "type": "charge.refunded",
            "stripe_created": 1_700_000_000,
            "outcome": WebhookOutcome.UNLINKED,
            "payload": {"id": "ch_1", "nested": [1, "é", None]},
            "received_at": at,
        },  # no message, deliveries, last_delivery_at: the columns' defaults
    ).one()
    assert row.outcome == WebhookOutcome.UNLINKED and row.received_at == at and row.received_at.tzinfo == UTC
    by_key = select(events).where(
        events.c.account_id == bindparam("account"), events.c.outcome == WebhookOutcome.UNLINKED
    )
    ours = execute(connection, by_key, {"account": account.id}).rows
    theirs = connection.execute(by_key, {"account": account.id}).all()
    assert [tuple(r) for r in ours] == [tuple(r) for r in theirs] and ours[0]._asdict() == dict(theirs[0]._mapping)
    assert ours[0].payload == {"id": "ch_1", "nested": [1, "é", None]} and ours[0].deliveries == 1
    update = events.update().where(events.c.id == bindparam("_id"))
    assert (
        execute(connection, update, {"_id": row.id, "outcome": WebhookOutcome.APPLIED, "payload": None}).rowcount == 1
    )
    assert execute(connection, update, {"_id": row.id + 1, "outcome": WebhookOutcome.APPLIED}).rowcount == 0
    db.commit()
    stored = db.exec(orm_select(StripeEvent)).one()
    assert (stored.outcome, stored.payload, stored.message, stored.received_at) == (
        WebhookOutcome.APPLIED,
        None,
        "",
        at,
    )
    assert stored.last_delivery_at.tzinfo == UTC and abs(stored.last_delivery_at - datetime.now(UTC)) < timedelta(
        minutes=5
    )


def test_execute_raises_sqlalchemys_errors_and_leaves_counting_listeners_their_statements(db: Session) -> None:
    """A constraint violation is SQLAlchemy's IntegrityError on every backend (libSQL's ValueError mapped as for every
    statement), and an engine with a cursor-execute listener (tests, benches counting statements) sees each one."""

    from app.db import execute
    from app.models.base import table_of

    users = table_of(User)
    connection = db.connection()
    row = {"public_id": "usr_x", "email": "twice@example.com", "password_hash": "x"}
    execute(connection, users.insert(), row)
    with pytest.raises(IntegrityError):
        execute(connection, users.insert(), {**row, "public_id": "usr_y"})
    db.rollback()
    with recorded_statements() as seen:
        execute(db.connection(), users.insert(), row)
    db.commit()
    assert len(seen) == 1 and seen[0].startswith("INSERT INTO")
    assert (
        db.connection().execute(text("SELECT count(*) FROM app_user WHERE email = 'twice@example.com'")).scalar() == 1
    )
