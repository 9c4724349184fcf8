"""shop_order.imported: orders imported from Stripe's history, their own bucket, never attributed

Revision ID: 7d2e4b1c9a05
Revises: 5c1e9a7f3b20
Create Date: 2026-12-05 03:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7d2e4b1c9a05'
down_revision: str | None = '5c1e9a7f3b20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('shop_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('imported', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('shop_order', schema=None) as batch_op:
        batch_op.drop_column('imported')
