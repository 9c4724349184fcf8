"""Request and response bodies of the public API (pydantic models, shown in the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


def self_contained(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place: for schemas placed by hand in the OpenAPI
    document (``openapi_extra``, ``WithJsonSchema``), where a ``#/$defs/…`` reference would point nowhere."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return inline(definitions[ref.removeprefix("#/$defs/")]) | inline(rest)
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


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
    field: str | None = None


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
    value: str  # the conversion value with its currency, "19.99 EUR"
    amount: int  # the same in minor units of ``currency``
    currency: str
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


# Ad spend (appended as one block; imports here so the block stands alone).
from datetime import date as date_type  # noqa: E402
from typing import Annotated  # noqa: E402

from pydantic import Field, WithJsonSchema  # noqa: E402

from app.services.currency import CURRENCY_CODES  # noqa: E402

_COUNT = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 10**15 - 1}, {"type": "null"}]}


class SpendEntryIn(BaseModel):
    """One day of one campaign's spend. Every field is checked by the spend service, with the same messages as the
    CSV upload on /spend; the types below only declare what it accepts."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"required": ["date", "campaign", "spend", "currency"]})

    date: Annotated[Any, WithJsonSchema({"type": "string", "format": "date"})] = Field(
        default=None,
        description="the day, YYYY-MM-DD, in the account's timezone; today or earlier",
        examples=["2026-11-20"],
    )
    campaign: Annotated[Any, WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"\S"})] = Field(
        default=None, description="campaign id (cmp_…) or exact name (case-insensitive)"
    )
    spend: Annotated[Any, WithJsonSchema({"type": "string", "pattern": r"^\s*[0-9]{1,12}(\.[0-9]{1,3})?\s*$"})] = Field(
        default=None, description='the amount in major units: "12.34" or 12.34', examples=["12.34"]
    )
    currency: Annotated[Any, WithJsonSchema({"type": "string", "enum": list(CURRENCY_CODES)})] = Field(
        default=None, description="ISO 4217 code", examples=["EUR"]
    )
    impressions: Annotated[Any, WithJsonSchema(_COUNT)] = Field(default=None, description="optional whole number")
    clicks: Annotated[Any, WithJsonSchema(_COUNT)] = Field(default=None, description="optional whole number")


class SpendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[SpendEntryIn] = Field(
        description="up to 5,000 entries; a day already stored is replaced",
        json_schema_extra={"minItems": 1, "maxItems": 5000},  # declared; the spend service checks them
    )


class SpendImported(BaseModel):
    inserted: int
    replaced: int


class SpendItemOut(BaseModel):
    date: date_type
    campaign: str
    campaign_name: str
    currency: str
    amount: int = Field(description="minor units of the currency (cents)")
    spend: str = Field(description="the amount in major units, as text")
    impressions: int | None
    clicks: int | None
    source: str
    imported_at: datetime


class SpendList(BaseModel):
    spend: list[SpendItemOut]
    total: int
    next_cursor: str | None


# Metrics (appended as one block; imports here so the block stands alone).
from datetime import date as metrics_date  # noqa: E402


class MetricsPeriod(BaseModel):
    start: metrics_date
    end: metrics_date
    days: int


class MetricsFigures(BaseModel):
    """``figures``/``previous``: counts, rates and ``money`` per currency (minor units; ``aov``, ``roas``, ``cpa``,
    ``refund_rate`` are ratios, null when their base is zero). ``deltas`` has the same shape with ``{absolute,
    percent}`` per measure; ``percent`` is null ("n/a") when the comparison's value is zero."""

    key: str
    label: str
    figures: dict[str, Any]
    previous: dict[str, Any] | None
    deltas: dict[str, Any] | None


class MetricsResponse(BaseModel):
    period: MetricsPeriod
    comparison: MetricsPeriod | None
    dimension: str | None
    model: str
    lookback_days: int
    source: str
    currencies: list[str]
    total: MetricsFigures
    rows: list[MetricsFigures]


class LtvRowOut(BaseModel):
    """``figures``: ``customers`` acquired, ``customers_by_horizon`` (those old enough for each horizon), and per
    currency ``ltv`` (cumulative net revenue per customer at 30/60/90/180/365 days, minor units, null without old
    enough customers), ``net_to_date``, ``spend`` (null by product), ``cpa``, ``ltv_cac`` per horizon,
    ``payback_days`` and ``payback`` ("N days", "not yet" or "n/a")."""

    key: str
    label: str
    figures: dict[str, Any]


class LtvResponse(BaseModel):
    period: MetricsPeriod  # the days of the customers' first orders
    as_of: metrics_date
    dimension: str | None
    model: str
    lookback_days: int
    source: str  # rollup | live
    currencies: list[str]
    horizons: list[int]
    total: LtvRowOut
    rows: list[LtvRowOut]


class CohortsResponse(BaseModel):
    """``rows``: one per first-order month, with ``cells`` for months since 1 … 12 (the first 30·m days; null
    while the cohort is younger): ``customers`` counted, ``net_per_customer`` per currency (minor units) and
    ``active_share`` (subscriptions still active; null without subscribers)."""

    period: MetricsPeriod
    as_of: metrics_date
    model: str
    lookback_days: int
    source: str
    currencies: list[str]
    months: list[int]
    rows: list[dict[str, Any]]


class BlendedOut(BaseModel):
    currency: str
    net: int
    attributed_net: int
    spend: int
    new_customers: float
    attributed_new_customers: float
    mer: float | None
    attributed_roas: float | None
    blended_cpa: float | None
    attributed_cpa: float | None
    attributed_share: float | None


class BlendedResponse(BaseModel):
    period: MetricsPeriod
    model: str
    currencies: list[BlendedOut]
