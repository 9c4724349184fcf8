"""Rollups by ad set and ad (the metrics' ad_set and ad dimensions), apart from the campaign-level rollups

Revision ID: c7d31a5e9f42
Revises: 4e8b2c6d1f37
Create Date: 2026-12-05 06:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7d31a5e9f42"
down_revision: str | None = "4e8b2c6d1f37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_ad_traffic",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("adset_id", sa.String(length=40), nullable=False),
        sa.Column("ad_id", sa.String(length=40), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.Column("converted_sessions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "day", "campaign_id", "adset_id", "ad_id"),
    )
    op.create_table(
        "rollup_ad_sales",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("adset_id", sa.String(length=40), nullable=False),
        sa.Column("ad_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("orders_micro", sa.BigInteger(), nullable=False),
        sa.Column("new_customers_micro", sa.BigInteger(), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("renewals_micro", sa.BigInteger(), nullable=False),
        sa.Column("renewal_revenue", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "day", "model", "campaign_id", "adset_id", "ad_id", "currency"),
    )
    op.create_index("ix_rollup_ad_sales_read", "rollup_ad_sales", ["account_id", "model", "day"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rollup_ad_sales_read", table_name="rollup_ad_sales")
    op.drop_table("rollup_ad_sales")
    op.drop_table("rollup_ad_traffic")
