"""campaign.channel_group: the marketing channel group, mapped from the platform (campaign.channel)

Revision ID: a162c484c84d
Revises: fde0bdb44e17
Create Date: 2026-11-29 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'a162c484c84d'
down_revision: str | None = 'fde0bdb44e17'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The platforms of today and their group (a copy: a migration must not change when the app's mapping does).
GROUP_OF_PLATFORM = {'meta': 'paid_social', 'tiktok': 'paid_social', 'google': 'paid_search', 'email': 'email',
                     'other': 'other'}  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'channel_group', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False, server_default='other'
            )
        )
    campaign = sa.table('campaign', sa.column('channel', sa.String), sa.column('channel_group', sa.String))
    for platform, group in GROUP_OF_PLATFORM.items():
        op.execute(campaign.update().where(campaign.c.channel == platform).values(channel_group=group))


def downgrade() -> None:
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('channel_group')
