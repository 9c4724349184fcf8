from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.db import get_engine
from app.models import User


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
