"""Campaigns, their immutable versions, and pixels (destinations) attached to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import enum_field, utc_field


class Channel(StrEnum):
    """The ad platform a campaign runs on (``channel`` in the API and the database)."""

    META = "meta"
    GOOGLE = "google"
    TIKTOK = "tiktok"
    EMAIL = "email"
    OTHER = "other"


class ChannelGroup(StrEnum):
    """The marketing channel group people report by; editable, it defaults from the platform."""

    PAID_SOCIAL = "paid_social"
    PAID_SEARCH = "paid_search"
    DISPLAY = "display"
    AFFILIATES = "affiliates"
    EMAIL = "email"
    ORGANIC_SOCIAL = "organic_social"
    REFERRAL = "referral"
    OTHER = "other"


class CampaignStatus(StrEnum):
    """A campaign's life: only active ones match sessions."""

    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class Provider(StrEnum):
    """Where a pixel sends conversions."""

    META = "meta"
    GA4 = "ga4"
    GOOGLE_ADS = "google_ads"
    WEBHOOK = "webhook"


class Campaign(SQLModel, table=True):
    __tablename__ = "campaign"
    __table_args__ = (Index("ix_campaign_account_status", "account_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    name: str = Field(max_length=120)
    # The ad platform (meta, google, tiktok, email, other): where the ads run and where conversions are sent.
    channel: Channel = enum_field(Channel, 16)
    # The marketing channel group people report by (paid_social, paid_search, …); defaults from the platform.
    channel_group: ChannelGroup = enum_field(
        ChannelGroup, 24, default=ChannelGroup.OTHER, server_default=ChannelGroup.OTHER
    )
    status: CampaignStatus = enum_field(CampaignStatus, 16, default=CampaignStatus.DRAFT)
    # Lower first when matching sessions; ties by creation order.
    priority: int = Field(default=100)
    active_version_id: int | None = Field(default=None)
    # The editable draft of the next version (None: no unpublished changes).
    draft_config: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    draft_updated_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class CampaignVersion(SQLModel, table=True):
    """An immutable snapshot of a campaign's config, published as v1, v2, …"""

    __tablename__ = "campaign_version"
    __table_args__ = (UniqueConstraint("campaign_id", "number", name="uq_campaign_version_number"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    campaign_id: int = Field(foreign_key="campaign.id", index=True, ondelete="CASCADE")
    number: int
    config: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    change_note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    author_user_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    published_at: datetime = utc_field()


class Pixel(SQLModel, table=True):
    """A destination for server-side conversions: Meta CAPI, GA4 MP, Google Ads (Data Manager) or a webhook."""

    __tablename__ = "pixel"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    provider: Provider = enum_field(Provider, 16)
    name: str = Field(max_length=120)
    # Non-secret settings (pixel id, measurement id, …), shown in the UI.
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Secrets (tokens, API secrets) as a Fernet token; never shown again in full.
    credentials_encrypted: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    credentials_hint: str = Field(default="", max_length=40)
    events: list[str] = Field(default_factory=lambda: ["purchase"], sa_column=Column(JSON, nullable=False))
    enabled: bool = Field(default=True)
    # Account-level default: receives conversions of every campaign.
    is_default: bool = Field(default=False)
    # Test mode: GA4 goes to /debug/mp/collect, Google Ads ingests with validateOnly, Meta needs test_event_code;
    # nothing sent in test mode counts in the provider's reports.
    test_mode: bool = Field(default=False)
    created_at: datetime = utc_field(default_now=True)


class CampaignPixel(SQLModel, table=True):
    __tablename__ = "campaign_pixel"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True, ondelete="CASCADE")
    pixel_id: int = Field(foreign_key="pixel.id", primary_key=True, ondelete="CASCADE")
