"""event.derive_pending and derive_state: visitors, sessions and touches derived after the events' commit

Revision ID: 3b7e5d2a9c41
Revises: a162c484c84d
Create Date: 2026-12-06 00:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime

revision: str = '3b7e5d2a9c41'
down_revision: str | None = 'a162c484c84d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: instant on SQLite and PostgreSQL however many events there are; the
    # events stored before were derived in their own transaction, so NULL (derived) is right for them.
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('derive_pending', sa.Boolean(), nullable=True))
    op.create_index(
        'ix_event_derive_pending',
        'event',
        ['id'],
        unique=False,
        sqlite_where=sa.text('derive_pending IS NOT NULL'),
        postgresql_where=sa.text('derive_pending IS NOT NULL'),
    )
    op.create_table(
        'derive_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('passes', sa.BigInteger(), nullable=False),
        sa.Column('derived_events', sa.BigInteger(), nullable=False),
        sa.Column('last_pass_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('derive_state')
    op.drop_index('ix_event_derive_pending', table_name='event')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_column('derive_pending')
