"""figures: converted sessions in rollup_traffic, event_count_daily, order session/visitor indexes; test events count
nowhere (what they derived is removed)

Revision ID: c96cf3ad0903
Revises: d4065ae639c5
Create Date: 2026-12-01 10:00:00.000000

- ``rollup_traffic.converted_sessions``: the conversion rate's numerator (sessions whose checkout got paid). Every
  existing traffic day is marked dirty, so the ``update_rollups`` job fills it in (or run ``rebuild-rollups``).
- ``shop_order`` indexes on (account_id, session_key) and (account_id, visitor_id): how a session finds its orders.
- ``event_count_daily``: tracking events stored per account and UTC day (test events left out), kept by the ingest
  writer; filled here from the stored events (one pass over ``event``).
- Sessions, visitors and touches that only test events made are deleted, and their days marked dirty.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

revision: str = "c96cf3ad0903"
down_revision: str | None = "d4065ae639c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DIRTY = sa.table(
    "rollup_dirty",
    sa.column("account_id", sa.Integer),
    sa.column("day", sa.Date),
    sa.column("kind", sa.String),
    sa.column("marked_at", sa.DateTime),
)


def _mark_dirty(connection: sa.Connection, rows: set[tuple[int, date]]) -> None:
    if not rows:
        return
    now = datetime.now(UTC)
    if connection.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # UTCDateTime keeps naive UTC on SQLite
    insert = (pg_insert if connection.dialect.name == "postgresql" else sqlite_insert)(_DIRTY).on_conflict_do_nothing()
    connection.execute(
        insert, [{"account_id": a, "day": d, "kind": "traffic", "marked_at": now} for a, d in sorted(rows)]
    )


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _as_utc(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def upgrade() -> None:
    connection = op.get_bind()
    with op.batch_alter_table("rollup_traffic", schema=None) as batch_op:
        batch_op.add_column(sa.Column("converted_sessions", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.create_index("ix_order_account_session", ["account_id", "session_key"], unique=False)
        batch_op.create_index("ix_order_account_visitor", ["account_id", "visitor_id"], unique=False)
    op.create_table(
        "event_count_daily",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "day"),
    )
    utc_day = (
        "CAST((received_at AT TIME ZONE 'UTC') AS DATE)"
        if connection.dialect.name == "postgresql"
        else "date(received_at)"
    )
    connection.execute(
        sa.text(
            f"INSERT INTO event_count_daily (account_id, day, events) SELECT account_id, {utc_day}, count(*) "
            f"FROM event WHERE source != 'test' GROUP BY account_id, {utc_day}"
        )
    )

    # Every traffic day gets its converted sessions at the next update_rollups run.
    dirty = {
        (int(a), _as_date(d))
        for a, d in connection.execute(sa.text("SELECT DISTINCT account_id, day FROM rollup_traffic")).all()
    }

    # What test events derived before they stopped deriving anything: sessions and visitors no other event shares.
    only_tests = (
        "NOT EXISTS (SELECT 1 FROM event other WHERE other.account_id = {t}.account_id "
        "AND other.{column} = {t}.{key} AND other.source != 'test') "
        "AND EXISTS (SELECT 1 FROM event test WHERE test.account_id = {t}.account_id "
        "AND test.{column} = {t}.{key} AND test.source = 'test')"
    )
    sessions = only_tests.format(t="visit_session", column="session_key", key="session_key")
    visitors = only_tests.format(t="visitor", column="visitor_id", key="visitor_key")
    zones = {
        int(a): ZoneInfo(z or "UTC") for a, z in connection.execute(sa.text("SELECT id, timezone FROM account")).all()
    }
    for account_id, started, last in connection.execute(
        sa.text(f"SELECT account_id, started_at, last_event_at FROM visit_session WHERE {sessions}")
    ).all():
        zone = zones.get(int(account_id), ZoneInfo("UTC"))
        dirty |= {(int(account_id), _as_utc(at).astimezone(zone).date()) for at in (started, last)}
    connection.execute(
        sa.text(
            "DELETE FROM touch WHERE EXISTS (SELECT 1 FROM visit_session WHERE visit_session.account_id = "
            f"touch.account_id AND visit_session.session_key = touch.session_key AND {sessions})"
        )
    )
    connection.execute(sa.text(f"DELETE FROM visit_session WHERE {sessions}"))
    connection.execute(sa.text(f"DELETE FROM visitor WHERE {visitors}"))
    _mark_dirty(connection, dirty)


def downgrade() -> None:
    op.drop_table("event_count_daily")
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.drop_index("ix_order_account_visitor")
        batch_op.drop_index("ix_order_account_session")
    with op.batch_alter_table("rollup_traffic", schema=None) as batch_op:
        batch_op.drop_column("converted_sessions")
