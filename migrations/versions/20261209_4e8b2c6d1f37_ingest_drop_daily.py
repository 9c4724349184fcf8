"""ingest_drop_daily: tracking events not kept, per account, UTC day, reason (bot, consent_denied, wrong_origin) and
origin, for the assistant's install status

Revision ID: 4e8b2c6d1f37
Revises: 9a4c2e6f1b37
Create Date: 2026-12-05 04:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '4e8b2c6d1f37'
down_revision: str | None = '9a4c2e6f1b37'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'ingest_drop_daily',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('reason', sa.String(length=24), nullable=False),
        sa.Column('origin', sa.String(length=255), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('account_id', 'day', 'reason', 'origin'),
    )
    with op.batch_alter_table('ingest_drop_daily', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_drop_daily_account_id'), ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ingest_drop_daily', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_drop_daily_account_id'))
    op.drop_table('ingest_drop_daily')
