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


class AdTrafficRollup(SQLModel, table=True):
    """Sessions, visitors and converted sessions per day, campaign, ad set and ad (the ad platforms' ids the session
    landed with: ``utm_term`` / ``utm_content``; "" = none): the ``ad_set`` and ``ad`` dimensions' traffic, kept apart
    from ``rollup_traffic`` so the campaign-level reads stay small."""

    __tablename__ = "rollup_ad_traffic"

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    campaign_id: int = Field(default=0, primary_key=True)
    adset_id: str = Field(default="", primary_key=True, max_length=40)
    ad_id: str = Field(default="", primary_key=True, max_length=40)
    sessions: int = Field(default=0)
    visitors: int = Field(default=0)
    converted_sessions: int = Field(default=0)


class AdSalesRollup(SQLModel, table=True):
    """Order-level money and orders per day, attribution model, campaign, ad set, ad and currency: each campaign's
    credit of an order (as in ``rollup_sales``) split across the ad sets and ads of the touches it came from."""

    __tablename__ = "rollup_ad_sales"
    __table_args__ = (Index("ix_rollup_ad_sales_read", "account_id", "model", "day"),)

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    model: AttributionModel = enum_field(AttributionModel, 16, primary_key=True)
    campaign_id: int = Field(default=0, primary_key=True)
    adset_id: str = Field(default="", primary_key=True, max_length=40)
    ad_id: str = Field(default="", primary_key=True, max_length=40)
    currency: str = Field(primary_key=True, max_length=3)
    orders_micro: int = _big()
    new_customers_micro: int = _big()
    gross: int = _big()
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


class CustomerValue(SQLModel, table=True):
    """One customer's lifetime money under the default attribution (services/metrics/ltv): per acquiring campaign
    version (a share of the customer under multi-touch models) and currency, the cumulative net revenue at fixed
    days after the first paid order. Rebuildable from the raw tables; kept up to date through ``CustomerDirty``.

    ``customers_micro`` is the customer's share in millionths, on the row of the first order's currency only (a
    customer is counted once); ``net_dN`` is the net revenue (payments − refunds) of days 0 … N−1 after the first
    order's day; ``subscriber_micro`` the share when the first order was a subscription, and ``ended_days`` the days
    from the first order's day to that subscription's end (None: still active).
    """

    __tablename__ = "rollup_customer"
    __table_args__ = (Index("ix_rollup_customer_read", "account_id", "first_day"),)

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    customer_key: str = Field(primary_key=True, max_length=340)
    campaign_id: int = Field(default=0, primary_key=True)
    campaign_version_id: int = Field(default=0, primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    imported: bool = Field(default=False)
    first_paid_at: datetime = utc_field()
    first_day: date
    first_month: date
    product_id: str = Field(default="", max_length=64)
    customers_micro: int = _big()
    subscriber_micro: int = _big()
    ended_days: int | None = Field(default=None)
    net_d1: int = _big()
    net_d7: int = _big()
    net_d14: int = _big()
    net_d30: int = _big()
    net_d60: int = _big()
    net_d90: int = _big()
    net_d120: int = _big()
    net_d150: int = _big()
    net_d180: int = _big()
    net_d210: int = _big()
    net_d240: int = _big()
    net_d270: int = _big()
    net_d300: int = _big()
    net_d330: int = _big()
    net_d360: int = _big()
    net_d365: int = _big()
    net_total: int = _big()


class AcquisitionValue(SQLModel, table=True):
    """``rollup_customer`` summed per first-order day, acquiring campaign version, imported or not, and currency: what
    the lifetime value table reads (a year of a busy shop is ~170,000 customer rows, ~7,000 of these). Rebuilt from
    ``rollup_customer`` for the days whose customers changed (services/lifetime)."""

    __tablename__ = "rollup_acquisition"

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    first_day: date = Field(primary_key=True)
    campaign_id: int = Field(default=0, primary_key=True)
    campaign_version_id: int = Field(default=0, primary_key=True)
    imported: bool = Field(default=False, primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    first_month: date
    customers_micro: int = _big()
    subscriber_micro: int = _big()
    net_d1: int = _big()
    net_d7: int = _big()
    net_d14: int = _big()
    net_d30: int = _big()
    net_d60: int = _big()
    net_d90: int = _big()
    net_d120: int = _big()
    net_d150: int = _big()
    net_d180: int = _big()
    net_d210: int = _big()
    net_d240: int = _big()
    net_d270: int = _big()
    net_d300: int = _big()
    net_d330: int = _big()
    net_d360: int = _big()
    net_d365: int = _big()
    net_total: int = _big()


class CustomerDirty(SQLModel, table=True):
    """A customer whose ``rollup_customer`` rows must be recomputed (marked in the transaction that changed them)."""

    __tablename__ = "rollup_customer_dirty"

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    customer_key: str = Field(primary_key=True, max_length=340)
    marked_at: datetime = utc_field(default_now=True)
