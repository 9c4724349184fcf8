"""stripe_sync: how far the Stripe events catch-up has checked, and the history backfill's progress (issue 21)

Revision ID: a21c5e7b9d13
Revises: 9b4f2c6d8e13
Create Date: 2026-12-05 03:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = 'a21c5e7b9d13'
down_revision: str | None = '9b4f2c6d8e13'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'stripe_sync',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('events_checked_from', sa.BigInteger(), nullable=True),
        sa.Column('catchup_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('catchup_ok', sa.Boolean(), nullable=False),
        sa.Column('catchup_message', sa.Text(), nullable=False),
        sa.Column('gap_from', sa.BigInteger(), nullable=True),
        sa.Column('gap_to', sa.BigInteger(), nullable=True),
        sa.Column('backfill_status', sa.String(length=16), nullable=False),
        sa.Column('backfill_days', sa.Integer(), nullable=False),
        sa.Column('backfill_phase', sa.String(length=40), nullable=False),
        sa.Column('backfill_seen', sa.Integer(), nullable=False),
        sa.Column('backfill_imported', sa.Integer(), nullable=False),
        sa.Column('backfill_message', sa.Text(), nullable=False),
        sa.Column('backfill_requested_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('backfill_finished_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reconciled_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reconciliation', sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('account_id'),
    )


def downgrade() -> None:
    op.drop_table('stripe_sync')
