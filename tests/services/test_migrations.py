from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import Session, SQLModel

import app.models  # noqa: F401  (every table)


def test_migrations_match_the_models(db: Session) -> None:
    """A model change without its migration fails here (on every backend of `make test-backends`)."""
    connection = db.connection()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    assert compare_metadata(context, SQLModel.metadata) == []
