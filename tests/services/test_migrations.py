from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlmodel import Session, SQLModel

import app.models  # noqa: F401  (every table)
from app.cli import alembic_config


def test_migrations_match_the_models(db: Session) -> None:
    """A model change without its migration fails here (on every backend of `make test-backends`)."""
    connection = db.connection()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    assert compare_metadata(context, SQLModel.metadata) == []


def test_channel_groups_are_mapped_from_the_platforms(tmp_path: Path) -> None:
    """Campaigns that exist before the channel-group migration get the group their platform implies."""
    url = f"sqlite:///{tmp_path / 'before.db'}"
    command.upgrade(alembic_config(url), "d4065ae639c5")  # the revision before channel groups
    plain = create_engine(url)  # no foreign-key pragma: campaigns without their account are enough here
    platforms = ["meta", "tiktok", "google", "email", "other"]
    with plain.begin() as connection:
        for n, platform in enumerate(platforms):
            connection.execute(
                text(
                    "INSERT INTO campaign (public_id, account_id, name, channel, status, priority, created_at, "
                    "updated_at) VALUES (:pid, 1, :name, :channel, 'draft', 100, :now, :now)"
                ),
                {"pid": f"cmp_{n}", "name": platform, "channel": platform, "now": "2026-11-01 00:00:00"},
            )
    plain.dispose()
    command.upgrade(alembic_config(url), "a162c484c84d")
    plain = create_engine(url)
    with plain.connect() as connection:
        groups = dict(connection.execute(text("SELECT channel, channel_group FROM campaign")).all())
    plain.dispose()
    assert groups == {"meta": "paid_social", "tiktok": "paid_social", "google": "paid_search", "email": "email",
                      "other": "other"}  # fmt: skip
