"""ix_order_customer gains paid_at: a paid order's webhook finds the same customer's later orders by a range

Revision ID: 5c1e9a7f3b20
Revises: 3b7e5d2a9c41
Create Date: 2026-12-05 01:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '5c1e9a7f3b20'
down_revision: str | None = '3b7e5d2a9c41'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # rollups.mark_order_dirty asks for the customer's orders paid after this one: with (account, customer) alone
    # that read every order of the customer on each paid webhook (thousands for a frequent buyer).
    # Plain index statements (no batch copy of the table), on SQLite and PostgreSQL alike.
    op.drop_index('ix_order_customer', table_name='shop_order')
    op.create_index('ix_order_customer', 'shop_order', ['account_id', 'customer_key', 'paid_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_order_customer', table_name='shop_order')
    op.create_index('ix_order_customer', 'shop_order', ['account_id', 'customer_key'], unique=False)
