"""Ad platform reporting: connections to Meta and Google Ads, platform campaigns and their mapping, daily platform
figures, what synced spend replaced on ad_spend, and the platforms' campaign ids on events, sessions and touches

Revision ID: 9a4c2e7b1d36
Revises: a21c5e7b9d13
Create Date: 2026-12-05 03:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = '9a4c2e7b1d36'
down_revision: str | None = 'a21c5e7b9d13'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = app.models.base.UTCDateTime()
    op.create_table(
        'ad_connection',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=32), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('ad_account_id', sa.String(length=32), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('credentials_encrypted', sa.Text(), nullable=False),
        sa.Column('credentials_hint', sa.String(length=40), nullable=False),
        sa.Column('ad_account_name', sa.String(length=200), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('checked_at', utc, nullable=True),
        sa.Column('sync_state', sa.JSON(none_as_null=True), nullable=True),
        sa.Column('retry_at', utc, nullable=True),
        sa.Column('hourly_due_at', utc, nullable=True),
        sa.Column('nightly_due_at', utc, nullable=True),
        sa.Column('last_synced_at', utc, nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('created_at', utc, nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('public_id'),
        sa.UniqueConstraint('account_id', 'platform', name='uq_ad_connection_account_platform'),
    )
    op.create_table(
        'platform_campaign',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('external_id', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=400), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('mapped_by', sa.String(length=16), nullable=True),
        sa.Column('first_seen_at', utc, nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['connection_id'], ['ad_connection.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('connection_id', 'external_id', name='uq_platform_campaign_external'),
    )
    op.create_index('ix_platform_campaign_account_id', 'platform_campaign', ['account_id'])
    op.create_index('ix_platform_campaign_campaign_id', 'platform_campaign', ['campaign_id'])
    op.create_table(
        'platform_daily',
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('level', sa.String(length=16), nullable=False),
        sa.Column('external_id', sa.String(length=40), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('campaign_external_id', sa.String(length=40), nullable=False),
        sa.Column('adset_external_id', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=400), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('spend', sa.BigInteger(), nullable=False),
        sa.Column('impressions', sa.BigInteger(), nullable=False),
        sa.Column('clicks', sa.BigInteger(), nullable=False),
        sa.Column('purchases_micro', sa.BigInteger(), nullable=False),
        sa.Column('purchase_value', sa.BigInteger(), nullable=False),
        sa.Column('purchase_action_type', sa.String(length=64), nullable=False),
        sa.Column('synced_at', utc, nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['connection_id'], ['ad_connection.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('connection_id', 'level', 'external_id', 'day'),
    )
    op.create_index('ix_platform_daily_read', 'platform_daily', ['account_id', 'level', 'day'])
    with op.batch_alter_table('ad_spend', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replaced_amount', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('replaced_currency', sa.String(length=3), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('replaced_source', sa.String(length=16), nullable=False, server_default=''))
    # The platforms' campaign ids from landing URLs (utm_id, gad_campaignid) on events, sessions and touches.
    for table in ('event', 'visit_session', 'touch'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('utm_id', sa.String(length=200), nullable=True))
            batch_op.add_column(sa.Column('gad_campaignid', sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in ('touch', 'visit_session', 'event'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('gad_campaignid')
            batch_op.drop_column('utm_id')
    with op.batch_alter_table('ad_spend', schema=None) as batch_op:
        batch_op.drop_column('replaced_source')
        batch_op.drop_column('replaced_currency')
        batch_op.drop_column('replaced_amount')
    op.drop_index('ix_platform_daily_read', table_name='platform_daily')
    op.drop_table('platform_daily')
    op.drop_index('ix_platform_campaign_campaign_id', table_name='platform_campaign')
    op.drop_index('ix_platform_campaign_account_id', table_name='platform_campaign')
    op.drop_table('platform_campaign')
    op.drop_table('ad_connection')
