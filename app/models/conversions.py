"""The conversion outbox: one delivery per (pixel, conversion) written with the order's change, and every attempt
to send it (request with secrets redacted, the provider's answer, timing)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Text
from sqlmodel import Field, SQLModel

from app.models.base import enum_field, utc_field
from app.models.campaigns import Provider


class AttemptOutcome(StrEnum):
    """How one attempt to send a conversion ended: ``in_flight`` until it does (``interrupted`` when its process
    stopped first)."""

    IN_FLIGHT = "in_flight"
    SENT = "sent"
    RETRY = "retry"
    DEAD = "dead"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


class ConversionKind(StrEnum):
    """What a conversion reports: a sale, a subscription's renewal, or a refund of either."""

    PURCHASE = "purchase"
    RENEWAL = "renewal"
    REFUND = "refund"


class DeliveryStatus(StrEnum):
    """Where a conversion's delivery to one pixel is."""

    PENDING = "pending"
    RETRYING = "retrying"
    SENT = "sent"
    DEAD = "dead"
    SKIPPED = "skipped"


class ConversionDelivery(SQLModel, table=True):
    """One conversion (a purchase, a renewal, a refund) for one pixel.

    ``dedup_key`` is unique: the same conversion is enqueued once for a pixel however many Stripe events report
    it. ``lease_holder``/``lease_until`` claim the row for one sender at a time.
    """

    __tablename__ = "conversion_delivery"
    __table_args__ = (
        Index("ix_conversion_delivery_due", "status", "next_attempt_at"),
        Index("ix_conversion_delivery_account_created", "account_id", "created_at"),
        Index("ix_conversion_delivery_order", "order_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    order_id: int | None = Field(default=None, foreign_key="shop_order.id", ondelete="SET NULL")
    # Kept when the pixel is deleted (history stays readable through provider and pixel_name).
    pixel_id: int | None = Field(default=None, foreign_key="pixel.id", ondelete="SET NULL")
    pixel_name: str = Field(default="", max_length=120)
    provider: Provider = enum_field(Provider, 16)
    kind: ConversionKind = enum_field(ConversionKind, 16)
    dedup_key: str = Field(sa_column=Column(String(160), unique=True, nullable=False))
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", ondelete="SET NULL")
    # The internal conversion (services/conversions.Conversion as JSON): what every provider's serializer reads.
    conversion: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    event_time: datetime = utc_field()
    test: bool = Field(default=False)
    # pending | retrying | sent | dead | skipped
    status: DeliveryStatus = enum_field(DeliveryStatus, 16, default=DeliveryStatus.PENDING)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    attempts: int = Field(default=0)
    next_attempt_at: datetime = utc_field(default_now=True)
    lease_holder: str | None = Field(default=None, max_length=120)
    lease_until: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)
    sent_at: datetime | None = utc_field(nullable=True)


class DeliveryAttempt(SQLModel, table=True):
    """One try at sending a delivery. Written before the request goes out, so a process killed mid-send leaves an
    attempt without an answer (shown as interrupted) rather than nothing."""

    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="conversion_delivery.id", index=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    number: int
    holder: str = Field(default="", max_length=120)
    started_at: datetime = utc_field()
    duration_ms: int | None = Field(default=None)
    # {"method", "url" (secrets redacted), "headers" (redacted), "body"}
    request: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    response_status: int | None = Field(default=None)
    response_body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    outcome: AttemptOutcome = enum_field(AttemptOutcome, 16, default=AttemptOutcome.IN_FLIGHT)
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
