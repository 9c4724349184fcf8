"""What PaidSignal has read back from Stripe per account: how far the events catch-up has checked, and the history
backfill's request and progress (issue 21; services/stripe_sync)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Text
from sqlmodel import Field, SQLModel

from app.models.base import utc_field


class StripeSync(SQLModel, table=True):
    """One per account with Stripe connected (created on first use)."""

    __tablename__ = "stripe_sync"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", unique=True, ondelete="CASCADE")
    # Catch-up: events created at or after this Unix time are listed next time (None: from the connection's time).
    events_checked_from: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    catchup_at: datetime | None = utc_field(nullable=True)
    catchup_ok: bool = Field(default=True)
    catchup_message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Events between these times were never checked and are beyond Stripe's retention: the backfill closes it.
    gap_from: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    gap_to: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # Backfill: "" (never), requested, running, done, failed; its days, phase and counts while it runs.
    backfill_status: str = Field(default="", max_length=16)
    backfill_days: int = Field(default=0)
    backfill_phase: str = Field(default="", max_length=40)
    backfill_seen: int = Field(default=0)
    backfill_imported: int = Field(default=0)
    backfill_message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    backfill_requested_at: datetime | None = utc_field(nullable=True)
    backfill_finished_at: datetime | None = utc_field(nullable=True)
    # The last reconciliation against Stripe's balance transactions (services/stripe_sync/reconcile.py), as shown.
    reconciled_at: datetime | None = utc_field(nullable=True)
    reconciliation: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )
