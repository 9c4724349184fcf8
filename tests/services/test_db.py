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
