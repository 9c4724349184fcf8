"""account.locale: how numbers and money read on the account's pages and in its e-mails

Revision ID: fde0bdb44e17
Revises: c96cf3ad0903
Create Date: 2026-12-05 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'fde0bdb44e17'
down_revision: str | None = 'c96cf3ad0903'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default='en_US')
        )


def downgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('locale')
