"""The event a shop sends: one pydantic model, used by the API, the install page's test event and the pixel.

Money is integer minor units of an ISO 4217 currency; times are timezone-aware UTC.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from app.services.currency import currency_exponent
from app.services.json_depth import MAX_DEPTH, deeper_than

STANDARD_TYPES = ("page_view", "view_item", "add_to_cart", "begin_checkout", "purchase", "lead")
CUSTOM_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_AGE = timedelta(days=7)
MAX_FUTURE = timedelta(minutes=10)
MAX_PROPERTIES_BYTES = 4096
# 4 KB of JSON can nest ~1,000 levels: more than any reader of it (the API's serializer stops near 255).
MAX_PROPERTIES_DEPTH = MAX_DEPTH
MAX_BATCH = 500
# Money bounds in minor units (10^15 = ten trillion euros): far beyond any order, well inside a 64-bit column.
MAX_AMOUNT = 10**15

Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2048)]
# Declared for the OpenAPI document: the id is stripped, so it needs a character that is not a space.
Id = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(json_schema_extra={"pattern": r"\S"}),
]


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Short | None = None
    price_id: Short | None = None
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    unit_amount: int | None = Field(
        default=None, ge=0, le=MAX_AMOUNT, description="minor units of the event's currency"
    )


class UserData(BaseModel):
    """Identifiers already SHA-256 hashed (lowercase hex) by the sender; we never receive them in clear."""

    model_config = ConfigDict(extra="forbid")

    em: str | None = None
    ph: str | None = None
    external_id: str | None = None

    @field_validator("em", "ph", "external_id")
    @classmethod
    def _hashed(cls, value: str | None) -> str | None:
        if value is not None and not SHA256_HEX.match(value):
            raise ValueError("must be a SHA-256 hex digest (64 lowercase hex characters), never the clear value")
        return value


class Consent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ad_user_data: bool | None = None
    ad_personalization: bool | None = None
    analytics: bool | None = None


class EventIn(BaseModel):
    """One tracked event. Unknown fields are refused so a typo does not silently lose data."""

    model_config = ConfigDict(extra="forbid")

    event_id: Id = Field(description="client-generated UUID; the dedup key")
    type: str = Field(description="page_view, view_item, add_to_cart, begin_checkout, purchase, lead or custom")
    timestamp: datetime | None = Field(default=None, description="ISO 8601; default: when received")
    visitor_id: Id | None = None
    session_id: Id | None = None
    url: Url | None = None
    referrer: Url | None = None
    utm_source: Short | None = None
    utm_medium: Short | None = None
    utm_campaign: Short | None = None
    utm_term: Short | None = None
    utm_content: Short | None = None
    utm_id: Short | None = Field(default=None, description="the ad platform's campaign id (URL templates)")
    gad_campaignid: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    fbclid: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    fbc: Annotated[str, StringConstraints(strip_whitespace=True, max_length=600)] | None = None
    fbp: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    gclid: Short | None = None
    gbraid: Short | None = None
    wbraid: Short | None = None
    msclkid: Short | None = None
    ttclid: Short | None = None
    ga_client_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    ga_session_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    value: int | None = Field(
        default=None, ge=-MAX_AMOUNT, le=MAX_AMOUNT, description="integer minor units of `currency` (1999 = 19.99 EUR)"
    )
    currency: str | None = Field(default=None, description="ISO 4217 code")
    items: list[Item] | None = Field(default=None, max_length=200)
    user_data: UserData | None = None
    properties: dict[str, Any] | None = Field(
        default=None, description=f"free-form; at most {MAX_PROPERTIES_BYTES} bytes of JSON, {MAX_DEPTH} levels deep"
    )
    consent: Consent | None = None
    # Server-side senders (secret key) may pass the buyer's browser details they saw.
    client_user_agent: Annotated[str, StringConstraints(max_length=512)] | None = None
    client_ip: Annotated[str, StringConstraints(max_length=64)] | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in STANDARD_TYPES and not CUSTOM_TYPE.match(value):
            raise ValueError(
                "must be one of " + ", ".join(STANDARD_TYPES) + " or a custom name matching [a-z][a-z0-9_]{0,39}"
            )
        return value

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a timezone, e.g. 2026-11-27T10:00:00Z")
        return value.astimezone(UTC) if value else None

    @field_validator("url", "referrer")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        # urlsplit refuses only brackets it cannot pair (IPv6 hosts) and hosts that change under NFKC (non-ASCII):
        # an ASCII URL without brackets never fails it, and most do (it cost a microsecond per event).
        if value and (not value.isascii() or "[" in value or "]" in value):
            try:
                urlsplit(value)
            except ValueError as error:
                raise ValueError(f"is not a URL: {error}") from error
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().upper()
        if currency_exponent(code) is None:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return code

    @field_validator("properties")
    @classmethod
    def _small_properties(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and deeper_than(value, MAX_PROPERTIES_DEPTH):
            raise ValueError(f"must be nested at most {MAX_PROPERTIES_DEPTH} levels deep")
        if value is None:
            return None
        try:
            size = len(json.dumps(value, separators=(",", ":"), allow_nan=False))
        except ValueError as error:  # NaN or an infinite number, which pydantic's JSON reader lets through
            raise ValueError("must hold only finite numbers (JSON has no NaN or Infinity)") from error
        if size > MAX_PROPERTIES_BYTES:
            raise ValueError(f"must be at most {MAX_PROPERTIES_BYTES} bytes of JSON")
        return value

    @model_validator(mode="after")
    def _money_needs_currency(self) -> EventIn:
        has_amounts = self.value is not None or any(i.unit_amount is not None for i in self.items or [])
        if has_amounts and self.currency is None:
            raise ValueError("currency is required with value or unit_amount")
        return self

    def check_time(self, now: datetime) -> str | None:
        """Why the timestamp is out of the accepted window, or None."""
        if self.timestamp is None:
            return None
        if self.timestamp < now - MAX_AGE:
            return "timestamp is more than 7 days old"
        if self.timestamp > now + MAX_FUTURE:
            return "timestamp is more than 10 minutes in the future"
        return None


class EventBatch(BaseModel):
    """Body of ``POST /api/v1/events``: ``{"events": [...]}`` (or a single event object)."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, description="publishable key (browsers), instead of ?key=")
    events: list[EventIn] = Field(
        min_length=1, max_length=MAX_BATCH, description="each checked on its own: a bad one is listed in `errors`"
    )
