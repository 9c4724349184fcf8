from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlmodel import Session, SQLModel, select

import app.models  # noqa: F401  (every table)
from app.cli import alembic_config
from app.db import make_engine
from app.models import EventCountDaily, RollupDirty, Visitor, VisitSession


def test_migrations_match_the_models(db: Session) -> None:
    """A model change without its migration fails here (on every backend of `make test-backends`)."""
    connection = db.connection()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    assert compare_metadata(context, SQLModel.metadata) == []


def test_figures_migration_drops_what_test_events_derived_and_counts_stored_events(tmp_path: Path) -> None:
    """c96cf3ad0903 on data written before it: sessions and visitors only test events made are removed (their days
    marked for the rollups), stored events are counted per day without the test ones, traffic days are marked dirty
    so their converted sessions get computed."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "d4065ae639c5")
    engine = make_engine(url)
    at = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # Dec 1 in Paris
    with Session(engine) as session:
        # The schema as it was at d4065ae639c5: written in SQL, since today's models have columns added later.
        session.execute(
            text("INSERT INTO account (public_id, slug, name, timezone, plan, created_at) "
                 "VALUES ('acc_m', 'shop-m', 'Shop', 'Europe/Paris', 'starter', :at)"),
            {"at": at},
        )  # fmt: skip
        aid = int(session.execute(text("SELECT id FROM account WHERE public_id = 'acc_m'")).scalar_one())
        for event_id, source, visitor, key in [
            ("e1", "browser", "ann", "s1"),
            ("e2", "test", "paidsignal-test", "test-1"),
            ("e3", "test", "paidsignal-test", "test-2"),
        ]:
            session.execute(
                text("INSERT INTO event (account_id, event_id, type, occurred_at, received_at, source, visitor_id, "
                     "session_key) VALUES (:a, :e, 'page_view', :at, :at, :source, :visitor, :key)"),
                {"a": aid, "e": event_id, "at": "2026-11-30 23:30:00.000000", "source": source, "visitor": visitor,
                 "key": key},
            )  # fmt: skip
            # SQL: today's VisitSession has columns added after d4065ae639c5.
            session.execute(
                text("INSERT INTO visit_session (account_id, session_key, visitor_key, inferred, started_at, "
                     "last_event_at, event_count) VALUES (:a, :key, :visitor, 0, :at, :at, 1)"),
                {"a": aid, "key": key, "visitor": visitor, "at": "2026-11-30 23:30:00.000000"},
            )  # fmt: skip
        session.add_all(
            [
                Visitor(account_id=aid, visitor_key=v, first_seen_at=at, last_seen_at=at)
                for v in ("ann", "paidsignal-test")
            ]
        )
        session.execute(
            text("INSERT INTO rollup_traffic (account_id, day, campaign_id, campaign_version_id, sessions, visitors) "
                 "VALUES (:a, '2026-11-15', 0, 0, 3, 2)"),
            {"a": aid},
        )  # fmt: skip
        session.commit()
    command.upgrade(alembic_config(url), "head")
    with Session(engine) as session:
        assert [s.session_key for s in session.exec(select(VisitSession))] == ["s1"]
        assert [v.visitor_key for v in session.exec(select(Visitor))] == ["ann"]
        assert [(c.day, c.events) for c in session.exec(select(EventCountDaily))] == [(date(2026, 11, 30), 1)]
        assert sorted((d.day, d.kind) for d in session.exec(select(RollupDirty))) == [
            (date(2026, 11, 15), "traffic"),
            (date(2026, 12, 1), "traffic"),
        ]
        assert session.exec(text("SELECT converted_sessions FROM rollup_traffic")).one()[0] == 0
    engine.dispose()


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
