"""What the assistant's tools take: each tool's arguments as a pydantic model (unknown arguments refused), and the
JSON-schema function definitions the model sees."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.services import alerts, campaigns
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, LOOKBACK_DAYS, AttributionModel
from app.services.metrics import MAX_DAYS, Compare, Dimension, Preset
from app.services.pixels import Provider

# --- arguments ------------------------------------------------------------------------------------------------------


class ToolArguments(BaseModel):
    # Unknown arguments are refused (an "account_id" the model made up is an error, not silently ignored).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PeriodArguments(ToolArguments):
    preset: Preset | None = None
    start: date | None = None
    end: date | None = None


class MetricsArguments(PeriodArguments):
    dimension: Dimension | None = None
    compare: Compare = Compare.PREVIOUS
    model: AttributionModel = AttributionModel.LAST_TOUCH
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    campaign: str | None = Field(default=None, max_length=40)
    channel: str | None = Field(default=None, max_length=40)
    product: str | None = Field(default=None, max_length=100)
    limit: int | None = Field(default=None, ge=1, le=100)


class CustomerValueArguments(ToolArguments):
    dimension: Dimension = Dimension.CAMPAIGN
    start: date | None = None  # first-order days; default the 365 days ending today
    end: date | None = None
    model: AttributionModel = AttributionModel.LAST_TOUCH
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    campaign: str | None = Field(default=None, max_length=40)
    channel: str | None = Field(default=None, max_length=40)
    cohorts: bool = False
    limit: int = Field(default=25, ge=1, le=100)


class CampaignsArguments(ToolArguments):
    search: str = Field(default="", max_length=120)
    status: campaigns.Status | None = None
    channel: campaigns.Channel | None = None
    limit: int = Field(default=20, ge=1, le=50)
    versions_per_campaign: int = Field(default=5, ge=0, le=20)


class ProductsArguments(PeriodArguments):
    model: AttributionModel = AttributionModel.LAST_TOUCH
    compare: Compare = Compare.PREVIOUS
    campaign: str | None = Field(default=None, max_length=40)
    channel: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=10, ge=1, le=50)


class OrdersArguments(PeriodArguments):
    campaign: str | None = Field(default=None, max_length=40)
    latest: int = Field(default=5, ge=0, le=20)


class ConversionsArguments(PeriodArguments):
    provider: Provider | None = None
    failures: int = Field(default=5, ge=0, le=20)


class VersionsArguments(ToolArguments):
    campaign: str = Field(max_length=40)
    days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    model: AttributionModel = AttributionModel.LAST_TOUCH
    a: str | None = Field(default=None, max_length=40)
    b: str | None = Field(default=None, max_length=40)


class ClaimsArguments(PeriodArguments):
    model: AttributionModel = AttributionModel.LAST_TOUCH
    compare: Compare = Compare.PREVIOUS
    campaign: str | None = Field(default=None, max_length=40)


class AlertsArguments(ToolArguments):
    kind: alerts.EventKind | None = None
    rule: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=10, ge=1, le=50)


class SearchDocsArguments(ToolArguments):
    query: str = Field(min_length=2, max_length=300)
    limit: int = Field(default=4, ge=1, le=8)


class NoArguments(ToolArguments):
    pass


class InstallArguments(ToolArguments):
    days: int = Field(default=7, ge=1, le=90)


class StripeStatusArguments(ToolArguments):
    days: int = Field(default=30, ge=1, le=90)


class PixelStatusArguments(ToolArguments):
    provider: Provider | None = None
    deliveries: int = Field(default=3, ge=0, le=10)


class OrderConversionsArguments(ToolArguments):
    order: str = Field(min_length=1, max_length=40)
    provider: Provider | None = None


# --- JSON schemas the model sees ------------------------------------------------------------------------------------


def _enum(values: Iterable[StrEnum], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": [v.value for v in values], "description": description}


_PERIOD: dict[str, Any] = {
    "preset": _enum(
        [p for p in Preset if p is not Preset.CUSTOM],
        "A date range ending today, in the account's timezone (month_to_date = this month). Omit it to give "
        "start and end instead.",
    ),
    "start": {"type": "string", "format": "date", "description": "First day, YYYY-MM-DD (with end; no preset)."},
    "end": {"type": "string", "format": "date", "description": "Last day included, YYYY-MM-DD (with start)."},
}
_CAMPAIGN = {"type": "string", "description": "Only this campaign: its id (cmp_…) from list_campaigns or get_metrics."}
_CHANNEL = {"type": "string", "description": "Only this channel: meta, google, tiktok, email, other or direct."}
_MODEL = _enum(AttributionModel, "Attribution model: which campaign gets credit for an order. Default last_touch.")
_COMPARE = _enum(Compare, "Compare with: previous (as many days just before; default), year (52 weeks before), none.")


def _function(
    name: str, description: str, properties: dict[str, Any], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        parameters["required"] = list(required)
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


_CLAIMS = _function(
    "platform_vs_verified",
    "What Meta and Google Ads claim against what was paid, per campaign with synced ad platform reports: spend, "
    "claimed purchases and their value as the platforms report them, Stripe-verified orders and net revenue "
    "credited by the attribution model, reporting_ratio (claimed / verified purchases: above 1 the platform "
    "over-reports; null without verified orders), platform ROAS (claimed value / spend) and verified ROAS (verified "
    "net / spend), with the comparison period's. Money in minor units with *_formatted text; currencies never summed. "
    'A row with campaign "" is the platform campaigns mapped to no campaign.',
    {**_PERIOD, "model": _MODEL, "compare": _COMPARE, "campaign": _CAMPAIGN},
)

DEFINITIONS: list[dict[str, Any]] = [
    _function(
        "get_metrics",
        "The dashboard's figures for a date range, in total and by one dimension, each with the comparison "
        "period's change: sessions, visitors, converted sessions (sessions whose checkout got paid), orders, "
        "new/returning customers, conversion rate (converted sessions / sessions, a fraction), and per currency "
        "gross, renewal revenue, refunds, net revenue, ad spend, AOV, CPA (minor units, with *_formatted text), ROAS "
        "(net / spend) and refund rate (a fraction); null is n/a (e.g. ROAS and CPA without spend). Rows of "
        "campaign/version are keyed by their ids.",
        {
            "dimension": _enum(Dimension, "Split the figures by this; omit for the total only."),
            **_PERIOD,
            "compare": _COMPARE,
            "model": _MODEL,
            "lookback_days": {"type": "integer", "enum": list(LOOKBACK_DAYS), "description": "Attribution lookback."},
            "campaign": _CAMPAIGN,
            "channel": _CHANNEL,
            "product": {"type": "string", "description": "Only orders containing this Stripe product id (prod_…)."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "Most rows returned."},
        },
    ),
    _function(
        "list_campaigns",
        "The account's campaigns (id, name, channel, status, live version) with their latest versions: when each "
        "was published, its change note, and what changed against the version before it (the first version: "
        "what it set).",
        {
            "search": {"type": "string", "description": "Part of the campaign name."},
            "status": _enum(campaigns.Status, "Only campaigns in this status."),
            "channel": _enum(campaigns.Channel, "Only campaigns of this channel."),
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "Most campaigns (default 20)."},
            "versions_per_campaign": {"type": "integer", "minimum": 0, "maximum": 20, "description": "Default 5."},
        },
    ),
    _function(
        "top_products",
        "Products ranked by net revenue for a date range (the metrics by product), with orders, gross, refunds, "
        "net and the change against the comparison period.",
        {
            **_PERIOD,
            "model": _MODEL,
            "compare": _COMPARE,
            "campaign": _CAMPAIGN,
            "channel": _CHANNEL,
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "Most products (default 10)."},
        },
    ),
    _function(
        "orders_and_refunds",
        "Orders and refunds in a date range: orders started per status, payments and refunds made (amounts per "
        "currency), and the latest orders and refunds.",
        {
            **_PERIOD,
            "campaign": _CAMPAIGN,
            "latest": {"type": "integer", "minimum": 0, "maximum": 20, "description": "Latest orders/refunds listed."},
        },
    ),
    _function(
        "conversion_status",
        "Server-side conversions sent to ad platforms (meta, ga4, google_ads, webhook) in a date range: the count "
        "per provider and delivery status (pending, retrying, sent, dead, skipped) and the latest failures.",
        {
            **_PERIOD,
            "provider": _enum(Provider, "Only this provider."),
            "failures": {"type": "integer", "minimum": 0, "maximum": 20, "description": "Latest failures listed."},
        },
    ),
    _function(
        "alert_history",
        "The latest alert events (fired, resolved, held back) with their values and thresholds, and the alert "
        "rules with how many campaigns are firing now.",
        {
            "kind": _enum(alerts.EventKind, "Only events of this kind."),
            "rule": {"type": "string", "description": "Only events of this rule id (alr_…)."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "Most events (default 10)."},
        },
    ),
    _function(
        "compare_versions",
        "Did a campaign's new version really beat the old one? Each version over the same number of days from the "
        "day it went live; for each pair of consecutive versions (and versions a and b when both are given): the "
        "verdict (winner / not_enough_data / conflicting) and its sentence, P(B better) and the 95% interval of "
        "B − A for conversion rate and for net revenue per session (per currency), the minimum detectable effect, "
        "the sessions still needed to tell a 10% difference, and the whole shop's change over the same windows "
        "(versions ran one after another: seasonality).",
        {
            "campaign": {"type": "string", "description": "The campaign id (cmp_…) from list_campaigns."},
            "days": {"type": "integer", "minimum": 1, "description": "Window length (default: shortest time live)."},
            "model": _MODEL,
            "a": {"type": "string", "description": "A version to compare: cv_…, v2 or 2 (with b)."},
            "b": {"type": "string", "description": "The version compared with a (with a)."},
        },
    ),
    _CLAIMS,
    _function(
        "customer_value",
        "Lifetime value of the customers acquired in a range of first-order days (default: the last 365), by the "
        "campaign, version, channel (platform), product or first-order month that acquired them (their first "
        "paid order's attribution; customers imported from Stripe's history are the 'imported' row): customers, "
        "cumulative net revenue per customer at 30/60/90/180/365 days after the first order (only customers "
        "acquired at least that long ago count; null: none yet), new-customer CPA (spend / new customers; null by "
        "product or without spend), LTV:CAC per horizon and payback ('N days', 'not yet' or 'n/a'), per currency "
        "in minor units with *_formatted text. cohorts=true adds the first-order month × months-since grid.",
        {
            "dimension": _enum(
                [Dimension.CAMPAIGN, Dimension.VERSION, Dimension.CHANNEL, Dimension.PRODUCT, Dimension.MONTH],
                "The acquiring dimension (default campaign).",
            ),
            "start": {"type": "string", "format": "date", "description": "First first-order day, YYYY-MM-DD."},
            "end": {"type": "string", "format": "date", "description": "Last first-order day, YYYY-MM-DD."},
            "model": _MODEL,
            "lookback_days": {"type": "integer", "enum": list(LOOKBACK_DAYS), "description": "Attribution lookback."},
            "campaign": _CAMPAIGN,
            "channel": {"type": "string", "description": "Only customers acquired by this channel (or imported)."},
            "cohorts": {"type": "boolean", "description": "Also return the cohort grid (default false)."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "Most rows (default 25)."},
        },
    ),
    _function(
        "search_docs",
        "Search PaidSignal's documentation (how to install, connect Stripe, set up pixels, keys, alerts, the API, "
        "what a page or figure means): the best-matching sections with their title, link and text. Answer support "
        "questions from these sections and cite their links.",
        {
            "query": {
                "type": "string",
                "description": "What to look for, in a few words (e.g. stripe webhook events).",
            },
            "limit": {"type": "integer", "minimum": 1, "maximum": 8, "description": "Most sections (default 4)."},
        },
        required=("query",),
    ),
    _function(
        "install_status",
        "Is the shop's install working: real events received in the last days (by source), the page origins they "
        "came from, the publishable keys' allowed origins, events dropped by reason and origin (bot, consent_denied, "
        "wrong_origin) and the problems found, each with what to fix and where.",
        {"days": {"type": "integer", "minimum": 1, "maximum": 90, "description": "Days looked at (default 7)."}},
    ),
    _function(
        "api_keys",
        "The account's API keys: kind (publishable or secret), label, allowed origins, created and last used (never "
        "the key itself).",
        {},
    ),
    _function(
        "stripe_status",
        "The Stripe connection: connected, live or test mode, webhook secret set, the webhook URL, the last webhook "
        "event and its outcome, outcomes in the period, the event types needed and those not received, what was read "
        "back from Stripe (sync: the last reconciliation, 'reconciled to the cent through <date>' or its differences; "
        "the events catch-up's last run; a retention gap), and problems.",
        {"days": {"type": "integer", "minimum": 1, "maximum": 90, "description": "Days looked at (default 30)."}},
    ),
    _function(
        "pixel_status",
        "The conversion pixels (Meta, GA4, Google Ads, webhook): enabled, default, test mode, events, settings, and "
        "each one's latest deliveries with their attempts and diagnostics checklist (never credentials).",
        {
            "provider": _enum(Provider, "Only pixels of this provider."),
            "deliveries": {"type": "integer", "minimum": 0, "maximum": 10, "description": "Per pixel (default 3)."},
        },
    ),
    _function(
        "order_conversions",
        "Why an order was or was not sent to the ad platforms: its status, every delivery with attempts, the "
        "diagnostics checklist and what to fix (with the page where it is fixed), or why no delivery exists.",
        {
            "order": {"type": "string", "description": "The order id (ord_…)."},
            "provider": _enum(Provider, "Only deliveries to this provider."),
        },
        required=("order",),
    ),
    _function(
        "alert_rules",
        "The alert rules: what each watches (metric, condition, window, minimum volume, cooldown), enabled, checked "
        "yet, campaigns firing now and the last event.",
        {},
    ),
]
# compare_versions cannot guess the campaign: the model must name it.
DEFINITIONS[-1]["function"]["parameters"]["required"] = ["campaign"]
