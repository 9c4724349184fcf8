"""Ad spend, and the daily rollups the dashboard reads (rebuildable from the raw tables at any time).

Days are calendar days in the account's timezone. Campaign and version 0 mean "no campaign" (unmatched/direct).
Credited counts are integers in millionths (``*_micro``): a linear model gives an order's campaigns shares such as
1/3, split by the largest-remainder method so they sum to exactly 1,000,000 and totals never depend on the order
rows were added in.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import enum_field, utc_field


def _big() -> Any:
    return Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class SpendSource(StrEnum):
    """How ad spend arrived: an uploaded CSV, the API, or synced from an ad platform's reports (which win over the
    other two for the same day and campaign)."""

    CSV = "csv"
    API = "api"
    META = "meta"
    GOOGLE = "google"
    SYNC = "sync"  # synced from both platforms (two platform campaigns mapped to one campaign)


SYNCED_SOURCES = (SpendSource.META, SpendSource.GOOGLE, SpendSource.SYNC)


class AttributionModel(StrEnum):
    """Which touches get credit for a conversion, and how much."""

    LAST_TOUCH = "last_touch"
    FIRST_TOUCH = "first_touch"
    LINEAR = "linear"
    POSITION_BASED = "position_based"
    TIME_DECAY = "time_decay"


class AdSpend(SQLModel, table=True):
    """What a campaign cost on one day (CSV upload or API); a re-import of the same day replaces it."""

    __tablename__ = "ad_spend"
    __table_args__ = (
        UniqueConstraint("account_id", "day", "campaign_id", name="uq_ad_spend_account_day_campaign"),
        Index("ix_ad_spend_account_day", "account_id", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    day: date
    campaign_id: int = Field(foreign_key="campaign.id", ondelete="CASCADE")
    currency: str = Field(max_length=3)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    impressions: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    clicks: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    source: SpendSource = enum_field(SpendSource, 16, default=SpendSource.CSV)
    imported_at: datetime = utc_field(default_now=True)
    # Synced spend that replaced CSV/API spend keeps what it replaced (shown on /spend; restored when the platform
    # campaign is unmapped).
    replaced_amount: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    replaced_currency: str = Field(default="", max_length=3)
    replaced_source: str = Field(default="", max_length=16)


class TrafficRollup(SQLModel, table=True):
    """Sessions and visitors per day and campaign version (visitors: distinct on that day and key), and how many of
    those sessions converted (a checkout in the session whose order got paid): the conversion rate's numerator."""

    __tablename__ = "rollup_traffic"

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    campaign_id: int = Field(default=0, primary_key=True)
    campaign_version_id: int = Field(default=0, primary_key=True)
    sessions: int = Field(default=0)
    visitors: int = Field(default=0)
    converted_sessions: int = Field(default=0)


class SalesRollup(SQLModel, table=True):
    """Money and orders per day, attribution model, campaign version, product, price and currency.

    ``product_id``/``price_id`` "" is the order-level row (an order counted once); rows with a product carry the
    orders that contain it and the money of its items (an order with two products counts for each).
    """

    __tablename__ = "rollup_sales"
    # Dashboard reads are by account, model and order-level vs product rows, over a range of days.
    __table_args__ = (Index("ix_rollup_sales_read", "account_id", "model", "product_id", "day"),)

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    model: AttributionModel = enum_field(AttributionModel, 16, primary_key=True)
    campaign_id: int = Field(default=0, primary_key=True)
    campaign_version_id: int = Field(default=0, primary_key=True)
    product_id: str = Field(default="", primary_key=True, max_length=64)
    price_id: str = Field(default="", primary_key=True, max_length=64)
    currency: str = Field(primary_key=True, max_length=3)
    orders_micro: int = _big()
    new_customers_micro: int = _big()
    gross: int = _big()  # first and one-off payments
    renewals_micro: int = _big()
    renewal_revenue: int = _big()
    refunds: int = _big()


class RollupDirty(SQLModel, table=True):
    """A day whose rollups must be recomputed from the raw tables (marked in the transaction that changed them)."""

    __tablename__ = "rollup_dirty"

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=16)  # traffic | sales
    marked_at: datetime = utc_field(default_now=True)
