"""Request and response bodies of the public API (pydantic models, shown in the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: str
    version: str
    database: str


class WhoAmIRequest(BaseModel):
    """Body of a browser check: the publishable key may ride here instead of the query string."""

    model_config = ConfigDict(extra="forbid")
    key: str | None = None


class WhoAmI(BaseModel):
    account_id: str
    key_kind: str


class RejectedEvent(BaseModel):
    index: int
    code: str
    message: str


class IngestResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    dropped: int
    dropped_reasons: dict[str, int]
    errors: list[RejectedEvent]


class EventList(BaseModel):
    events: list[dict[str, object]]
    next_cursor: str | None


class CheckoutCreated(BaseModel):
    order_id: str
    checkout_url: str
    event_id: str


class OrderTimelineEntry(BaseModel):
    at: datetime
    kind: str
    title: str
    outcome: str
    message: str
    deliveries: int
    stripe_event_id: str


class OrderPaymentOut(BaseModel):
    kind: str
    amount: int
    amount_refunded: int
    currency: str
    paid_at: datetime
    invoice_id: str | None
    payment_intent_id: str | None


class OrderOut(BaseModel):
    """Money in integer minor units of ``currency``."""

    order_id: str
    status: str
    mode: str
    currency: str
    amount: int | None
    amount_paid: int
    amount_refunded: int
    items: list[dict[str, Any]]
    campaign: str
    campaign_version: str
    created_at: datetime
    paid_at: datetime | None
    subscription_status: str | None = None
    disputed: bool = False
    event_id: str | None = None
    attribution: dict[str, Any] | None = None
    payments: list[OrderPaymentOut] | None = None
    timeline: list[OrderTimelineEntry]


class OrderListItem(BaseModel):
    order_id: str
    status: str
    mode: str
    currency: str
    amount: int | None
    amount_refunded: int
    products: str
    campaign: str
    campaign_version: str
    created_at: datetime
    paid_at: datetime | None


class OrderList(BaseModel):
    orders: list[OrderListItem]
    total: int
    next_cursor: str | None


class WebhookAck(BaseModel):
    received: bool
    event_id: str
    outcome: str
    message: str


class ConversionItem(BaseModel):
    delivery_id: str
    order_id: str
    provider: str
    pixel_name: str
    kind: str
    status: str
    reason: str
    attempts: int
    value: str
    campaign: str
    test: bool
    event_time: datetime
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None


class ConversionList(BaseModel):
    conversions: list[ConversionItem]
    total: int
    totals: dict[str, int]
    next_cursor: str | None


class ConversionCheck(BaseModel):
    label: str
    state: str
    detail: str


class ConversionAttempt(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int | None
    outcome: str
    response_status: int | None
    response_body: str
    message: str
    request: dict[str, Any]


class ConversionOut(BaseModel):
    delivery: ConversionItem
    conversion: dict[str, Any]
    attempts: list[ConversionAttempt]
    checklist: list[ConversionCheck]
