"""Ad platform reporting: the account's connections to Meta and Google Ads, the platforms' campaigns (and how they
map to PaidSignal's), and what the platforms report per day at campaign, ad set and ad level."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import enum_field, utc_field


class AdPlatform(StrEnum):
    """An ad platform PaidSignal reads reports from."""

    META = "meta"
    GOOGLE = "google"


class ReportLevel(StrEnum):
    """How fine a platform's daily row is (Google's ad group is ``adset``, its ad_group_ad ``ad``)."""

    CAMPAIGN = "campaign"
    ADSET = "adset"
    AD = "ad"


class MappedBy(StrEnum):
    """How a platform campaign came to count for a PaidSignal campaign."""

    URL = "url"  # the landing URLs carried the platform's campaign id
    MANUAL = "manual"  # chosen once on the campaign page


class AdConnection(SQLModel, table=True):
    """One ad account of one platform, per PaidSignal account; secrets as a Fernet token like pixel credentials."""

    __tablename__ = "ad_connection"
    __table_args__ = (UniqueConstraint("account_id", "platform", name="uq_ad_connection_account_platform"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    platform: AdPlatform = enum_field(AdPlatform, 16)
    ad_account_id: str = Field(max_length=32)  # Meta: digits without act_; Google: customer id without hyphens
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    credentials_encrypted: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    credentials_hint: str = Field(default="", max_length=40)
    # What the platform said about the ad account at the last test.
    ad_account_name: str = Field(default="", max_length=200)
    currency: str = Field(default="", max_length=3)
    timezone: str = Field(default="", max_length=64)
    checked_at: datetime | None = utc_field(nullable=True)
    # The sync: the work in progress (units left, the cursor of the current one), when it may go on after a
    # throttle, and when the next hourly and nightly windows are due.
    sync_state: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    retry_at: datetime | None = utc_field(nullable=True)
    hourly_due_at: datetime | None = utc_field(nullable=True)
    nightly_due_at: datetime | None = utc_field(nullable=True)
    last_synced_at: datetime | None = utc_field(nullable=True)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = utc_field(default_now=True)


class PlatformCampaign(SQLModel, table=True):
    """A campaign as the platform names it, and the PaidSignal campaign its spend and claims count for."""

    __tablename__ = "platform_campaign"
    __table_args__ = (UniqueConstraint("connection_id", "external_id", name="uq_platform_campaign_external"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    connection_id: int = Field(foreign_key="ad_connection.id", ondelete="CASCADE")
    external_id: str = Field(max_length=40)
    name: str = Field(default="", max_length=400)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True, ondelete="SET NULL")
    mapped_by: MappedBy | None = enum_field(MappedBy, 16, nullable=True)
    first_seen_at: datetime = utc_field(default_now=True)


class PlatformDaily(SQLModel, table=True):
    """What a platform reports for one campaign, ad set or ad on one day of the ad account's timezone; a later sync
    of that day replaces it. Money in minor units of ``currency``; purchases in millionths (Google's are
    fractional)."""

    __tablename__ = "platform_daily"
    __table_args__ = (Index("ix_platform_daily_read", "account_id", "level", "day"),)

    connection_id: int = Field(foreign_key="ad_connection.id", primary_key=True, ondelete="CASCADE")
    level: ReportLevel = enum_field(ReportLevel, 16, primary_key=True)
    external_id: str = Field(primary_key=True, max_length=40)
    day: date = Field(primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    campaign_external_id: str = Field(max_length=40)
    adset_external_id: str = Field(default="", max_length=40)
    name: str = Field(default="", max_length=400)
    currency: str = Field(max_length=3)
    spend: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    impressions: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    clicks: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    purchases_micro: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    purchase_value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    purchase_action_type: str = Field(default="", max_length=64)  # Meta: the one action type counted
    synced_at: datetime = utc_field(default_now=True)
