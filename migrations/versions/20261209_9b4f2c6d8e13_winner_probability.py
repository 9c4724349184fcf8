"""account.winner_probability: how sure (percent) a version comparison must be to call a winner (issue 24)

Revision ID: 9b4f2c6d8e13
Revises: 7d2e4b1c9a05
Create Date: 2026-12-05 03:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9b4f2c6d8e13'
down_revision: str | None = '7d2e4b1c9a05'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('winner_probability', sa.Integer(), nullable=False, server_default='95'))


def downgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('winner_probability')
