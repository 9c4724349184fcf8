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
    imported: bool = False  # imported from Stripe's history: never attributed to a campaign


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
    imported: bool = False  # imported from Stripe's history: never attributed to a campaign


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
    kept_synced: int = Field(
        0, description="entries of days whose spend is synced from an ad platform: the synced figure wins"
    )


class SpendItemOut(BaseModel):
    date: date_type
    campaign: str
    campaign_name: str
    currency: str
    amount: int = Field(description="minor units of the currency (cents)")
    spend: str = Field(description="the amount in major units, as text")
    impressions: int | None
    clicks: int | None
    source: str = Field(description="csv, api, or meta/google/sync: synced from the ad platforms' reports")
    imported_at: datetime
    replaced_amount: int | None = Field(
        None, description="synced spend only: the CSV/API amount (minor units) it replaced, if any"
    )
    replaced_currency: str | None = None
    replaced_source: str | None = None


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


class ClaimedFigures(BaseModel):
    """One campaign's platform claims (one currency) against its Stripe-verified figures (per currency)."""

    currency: str = Field(description="the platform campaigns' currency (spend, claimed value)")
    spend: int = Field(description="synced spend, minor units")
    claimed_purchases: float = Field(description="purchases the platforms report (one action type on Meta)")
    claimed_value: int = Field(description="their value as the platforms report it, minor units")
    verified_orders: float = Field(description="paid orders the attribution model credits (fractions under linear)")
    verified_net: dict[str, int] = Field(description="net revenue credited, per currency, minor units")
    reporting_ratio: float | None = Field(description="claimed / verified purchases; null without verified orders")
    platform_roas: float | None = Field(description="claimed value / spend")
    verified_roas: float | None = Field(description="verified net revenue in the spend's currency / spend")


class PlatformVsVerifiedRow(BaseModel):
    campaign: str = Field(description='campaign id (cmp_…); "" for platform campaigns mapped to no campaign')
    campaign_name: str
    platforms: list[str]
    figures: ClaimedFigures
    previous: ClaimedFigures | None


class PlatformVsVerifiedResponse(BaseModel):
    period: MetricsPeriod
    comparison: MetricsPeriod | None
    model: str
    timezones_differ: bool = Field(
        description="an ad account's timezone differs from the account's: platform days are the ad account's"
    )
    rows: list[PlatformVsVerifiedRow]


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


class VersionWindowOut(BaseModel):
    """A version over its window (the first ``window_days`` days it was live). ``net_revenue_per_session``: per
    currency, minor units per session (the money of the orders the window's sessions converted)."""

    version: str
    number: int
    start: metrics_date
    end: metrics_date
    live_days: int
    small_sample: bool
    figures: dict[str, Any]
    net_revenue_per_session: dict[str, float | None]


class RateComparisonOut(BaseModel):
    """Conversion rates (converted sessions / sessions) of A and B; ``p_b_better``: P(B's rate > A's), Beta(1, 1)
    priors; ``difference_interval``: the 95 % credible interval of B − A; ``minimum_detectable_effect``: relative,
    at the current volume (two-sided α 0.05, power 0.8); ``more_sessions_needed``: per version, to tell a 10 %
    difference."""

    a: float | None
    b: float | None
    sessions_a: int
    sessions_b: int
    converted_a: int
    converted_b: int
    p_b_better: float
    difference_interval: list[float]
    minimum_detectable_effect: float | None
    sessions_needed: int | None
    more_sessions_needed: int | None


class RevenueComparisonOut(BaseModel):
    """Net revenue per session (minor units) of A and B in one currency; ``difference_interval``: the bootstrap 95 %
    interval of B − A; ``p_b_better``: the share of resamples where B − A > 0; ``enough_sessions``: whether it may
    decide (at least 100 sessions per version)."""

    a: float | None
    b: float | None
    p_b_better: float
    difference_interval: list[float] | None
    resamples: int
    enough_sessions: bool


class VersionPairOut(BaseModel):
    """Version ``b`` against version ``a``: ``verdict`` is ``winner`` (``winner`` names it), ``not_enough_data`` or
    ``conflicting`` (each better on a different measure); ``summary`` says it in one sentence; ``shop`` is the whole
    shop's change over the same windows (the versions ran one after another)."""

    a: str
    b: str
    a_number: int
    b_number: int
    threshold: float
    winner: str | None
    verdict: str
    summary: str
    conversion_rate: RateComparisonOut
    net_revenue_per_session: dict[str, RevenueComparisonOut]
    shop: dict[str, Any]


class VersionComparisonResponse(BaseModel):
    campaign: str
    window_days: int
    threshold: float
    seasonality_note: str
    versions: list[VersionWindowOut]
    pairs: list[VersionPairOut]
    chosen: VersionPairOut | None


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
