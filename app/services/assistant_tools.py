"""The assistant's tools: what the model may ask for, as JSON-schema function definitions, and their implementations.

Every tool reads through the same services as the dashboard (never its own arithmetic), needs the VIEW permission,
and is scoped to ``actor.account_id`` alone: no tool takes an account. None writes anything. Results are plain
JSON data that repeat what was asked (the resolved dates, attribution model, filters) next to the figures, so an
answer can be checked against the dashboard. Money is integer minor units plus a ``*_formatted`` string with its
currency. Bad arguments come back as ``{"error": "..."}`` for the model to correct, never as an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select

from app.lib.formatting import format_money, plural
from app.models import AttributionModel, Order, Provider, Refund, StripeProduct
from app.services import alerts, campaigns, conversions, metrics, orders, rollups
from app.services.accounts import account_locale
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, LOOKBACK_DAYS
from app.services.errors import ServiceError, ValidationFailed, validation_failed
from app.services.metrics import Compare, Dimension, MetricsQuery, MetricsReport, MetricsRow, Period, Preset
from app.services.permissions import Actor, Permission, require

log = logging.getLogger(__name__)

ToolResult = dict[str, Any]

# Money fields of ``metrics.figure_dict`` that get a formatted twin (AOV and CPA are averages in minor units).
_MONEY_FIELDS = ("gross", "renewal_revenue", "refunds", "net", "spend", "aov", "cpa")
_TIME_DIMENSIONS = {d.value for d in metrics.TIME_DIMENSIONS}

# --- arguments ------------------------------------------------------------------------------------------------------


class _Arguments(BaseModel):
    # Unknown arguments are refused (an "account_id" the model made up is an error, not silently ignored).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _PeriodArguments(_Arguments):
    preset: Preset | None = None
    start: date | None = None
    end: date | None = None


class MetricsArguments(_PeriodArguments):
    dimension: Dimension | None = None
    compare: Compare = Compare.PREVIOUS
    model: AttributionModel = AttributionModel.LAST_TOUCH
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    campaign: str | None = Field(default=None, max_length=40)
    channel: str | None = Field(default=None, max_length=40)
    product: str | None = Field(default=None, max_length=100)
    limit: int | None = Field(default=None, ge=1, le=100)


class CampaignsArguments(_Arguments):
    search: str = Field(default="", max_length=120)
    status: campaigns.Status | None = None
    channel: campaigns.Channel | None = None
    limit: int = Field(default=20, ge=1, le=50)
    versions_per_campaign: int = Field(default=5, ge=0, le=20)


class ProductsArguments(_PeriodArguments):
    model: AttributionModel = AttributionModel.LAST_TOUCH
    compare: Compare = Compare.PREVIOUS
    campaign: str | None = Field(default=None, max_length=40)
    channel: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=10, ge=1, le=50)


class OrdersArguments(_PeriodArguments):
    campaign: str | None = Field(default=None, max_length=40)
    latest: int = Field(default=5, ge=0, le=20)


class ConversionsArguments(_PeriodArguments):
    provider: Provider | None = None
    failures: int = Field(default=5, ge=0, le=20)


class AlertsArguments(_Arguments):
    kind: alerts.EventKind | None = None
    rule: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=10, ge=1, le=50)


# --- JSON schemas the model sees ------------------------------------------------------------------------------------


def _enum(values: Any, description: str) -> dict[str, Any]:
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


def _function(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "additionalProperties": False},
        },
    }


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
]


# --- helpers --------------------------------------------------------------------------------------------------------


def _period(arguments: _PeriodArguments, today: date, default: Preset) -> tuple[Period, str]:
    """The resolved period and the preset it came from (``custom`` for start/end)."""
    if arguments.start is not None or arguments.end is not None:
        if arguments.preset not in (None, Preset.CUSTOM):
            raise ValidationFailed("Give either a preset or start and end, not both.", field="preset")
        return metrics.resolve_period(Preset.CUSTOM, today=today, start=arguments.start, end=arguments.end), "custom"
    preset = arguments.preset or default
    if preset is Preset.CUSTOM:
        raise ValidationFailed("A custom range needs start and end (YYYY-MM-DD).", field="start")
    return metrics.resolve_period(preset, today=today), preset.value


def _span(period: Period) -> dict[str, Any]:
    return {"start": period.start.isoformat(), "end": period.end.isoformat(), "days": period.days}


def _zone(session: Session, actor: Actor) -> ZoneInfo:
    return rollups.account_zone(session, actor.account_id)


def _when(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """A time in the account's timezone, to the minute, with its offset."""
    return None if moment is None else moment.astimezone(zone).isoformat(timespec="minutes")


def _locale(session: Session, actor: Actor) -> str:
    return account_locale(session, actor.account_id)


def _money(amount: float | None, currency: str, locale: str) -> str | None:
    """The ``*_formatted`` twin of an amount: as the account's pages write it."""
    return None if amount is None else format_money(amount, currency, locale)


def _formatted(figures: dict[str, Any], locale: str) -> dict[str, Any]:
    """``figure_dict`` output with a ``*_formatted`` twin for each money field (the numbers are left as they are); a
    figure without a base (CPA without spend, AOV without orders) reads "n/a", as on the dashboard."""
    out = dict(figures)
    out["money"] = {}
    for code, money in figures["money"].items():
        entry = dict(money)
        for name in _MONEY_FIELDS:
            entry[f"{name}_formatted"] = _money(money[name], code, locale) or "n/a"
        out["money"][code] = entry
    return out


def _change(current: Any, previous: Any) -> Any:
    """Each number of ``current`` with the comparison period's value and the change (percent None: nothing to
    compare with)."""
    if isinstance(current, dict):
        previous = previous if isinstance(previous, dict) else {}
        return {key: _change(value, previous.get(key)) for key, value in current.items()}
    if isinstance(current, int | float) or current is None:
        found = metrics.delta(current, previous if isinstance(previous, int | float) else None)
        percent = None if found.percent is None else round(found.percent, 2)
        return {"previous": found.previous, "absolute": found.absolute, "percent": percent}
    return None


def _no_money(money: dict[str, Any]) -> dict[str, Any]:
    # A currency the comparison period had no money in: its sums were zero, its ratios had no base.
    return {k: (0 if k in ("gross", "renewal_revenue", "refunds", "net", "spend") else None) for k in money}


def _amounts(money: metrics.Money, code: str, locale: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("gross", "renewal_revenue", "refunds", "net"):
        out[name] = getattr(money, name)
        out[f"{name}_formatted"] = _money(out[name], code, locale)
    return out


def _row(row: MetricsRow, key: str, locale: str) -> dict[str, Any]:
    figures = metrics.figure_dict(row.figures) or {}
    out: dict[str, Any] = {
        "key": key,
        "label": row.label,
        "figures": _formatted(figures, locale),
    }
    if row.previous is not None:
        previous = metrics.figure_dict(row.previous) or {}
        money = {code: previous["money"].get(code) or _no_money(value) for code, value in figures["money"].items()}
        out["change"] = _change(figures, {**previous, "money": money})
    return out


def _query(session: Session, actor: Actor, report: MetricsReport, preset: str, **extra: Any) -> dict[str, Any]:
    return {
        "preset": preset,
        **_span(report.period),
        "comparison": _span(report.comparison) if report.comparison else None,
        "model": report.model,
        "lookback_days": report.lookback_days,
        "timezone": _zone(session, actor).key,
        **extra,
    }


def _report(session: Session, actor: Actor, query: MetricsQuery) -> MetricsReport:
    return metrics.metrics(session=session, account_id=actor.account_id, query=query)


# --- the tools ------------------------------------------------------------------------------------------------------


def _get_metrics(session: Session, actor: Actor, a: MetricsArguments) -> ToolResult:
    locale = _locale(session, actor)
    today = metrics.account_today(session, actor.account_id)
    period, preset = _period(a, today, Preset.LAST_28_DAYS)
    query = MetricsQuery(
        start=period.start,
        end=period.end,
        dimension=a.dimension,
        model=a.model.value,
        lookback_days=a.lookback_days,
        compare=a.compare,
        campaign=a.campaign or None,
        channel=a.channel or None,
        product=a.product or None,
    )
    report = _report(session, actor, query)
    keys = metrics.public_ids(session, actor.account_id, a.dimension)
    limit = a.limit or (62 if a.dimension and a.dimension.value in _TIME_DIMENSIONS else 25)
    filters = {"campaign": a.campaign or None, "channel": a.channel or None, "product": a.product or None}
    if a.campaign:
        filters["campaign_name"] = campaigns.get_campaign(session, actor.account_id, a.campaign).name
    return {
        "query": _query(
            session,
            actor,
            report,
            preset,
            dimension=a.dimension.value if a.dimension else None,
            compare=a.compare.value,
            filters={k: v for k, v in filters.items() if v},
        ),
        "currencies": report.currencies,
        "total": _row(report.total, "total", locale),
        "rows": [_row(r, keys.get(r.key, r.key), locale) for r in report.rows[:limit]] if a.dimension else [],
        "rows_total": len(report.rows) if a.dimension else 0,
    }


def _list_campaigns(session: Session, actor: Actor, a: CampaignsArguments) -> ToolResult:
    page = campaigns.list_campaigns(
        session=session,
        account_id=actor.account_id,
        search=a.search,
        status=a.status.value if a.status else None,
        channel=a.channel.value if a.channel else None,
        per_page=a.limit,
    )
    zone, locale = _zone(session, actor), _locale(session, actor)
    out = []
    for row in page.rows:
        versions = campaigns.list_versions(
            session=session, account_id=actor.account_id, campaign_public_id=row.public_id
        )
        shown = []
        for index, version in enumerate(versions[: a.versions_per_campaign]):
            before = versions[index + 1] if index + 1 < len(versions) else None
            if before is None:
                changes = campaigns.diff_configs({}, version.config, locale)
            else:
                changes = campaigns.diff_versions(
                    session=session,
                    account_id=actor.account_id,
                    campaign_public_id=row.public_id,
                    from_number=before.number,
                    to_number=version.number,
                    locale=locale,
                )
            shown.append(
                {
                    "version_id": version.public_id,
                    "number": version.number,
                    "published_at": _when(version.published_at, zone),
                    "change_note": version.change_note,
                    "compared_with": f"v{before.number}" if before else "nothing (first version: what it set)",
                    "changes": [{"field": c.path, "before": c.before, "after": c.after} for c in changes],
                }
            )
        out.append(
            {
                "campaign_id": row.public_id,
                "name": row.name,
                "channel": row.channel,
                "channel_group": row.channel_group,
                "status": row.status,
                "priority": row.priority,
                "live_version": row.active_version,
                "has_unpublished_draft": row.has_draft,
                "updated_at": _when(row.updated_at, zone),
                "versions_total": len(versions),
                "versions": shown,
            }
        )
    return {
        "query": {
            "search": a.search or None,
            "status": a.status.value if a.status else None,
            "channel": a.channel.value if a.channel else None,
            "timezone": zone.key,
        },
        "campaigns": out,
        "campaigns_total": page.total,
    }


def _top_products(session: Session, actor: Actor, a: ProductsArguments) -> ToolResult:
    locale = _locale(session, actor)
    today = metrics.account_today(session, actor.account_id)
    period, preset = _period(a, today, Preset.LAST_28_DAYS)
    query = MetricsQuery(
        start=period.start,
        end=period.end,
        dimension=Dimension.PRODUCT,
        model=a.model.value,
        compare=a.compare,
        campaign=a.campaign or None,
        channel=a.channel or None,
    )
    report = _report(session, actor, query)
    totals = report.total.figures.money
    currency = max(totals, key=lambda code: (totals[code].net, code)) if totals else None

    def net(row: MetricsRow) -> int:
        money = row.figures.money.get(currency or "")
        return money.net if money else 0

    ranked = sorted(report.rows, key=lambda r: (-net(r), r.label))[: a.limit]
    names = dict(
        session.exec(
            select(StripeProduct.stripe_id, StripeProduct.name).where(
                StripeProduct.account_id == actor.account_id,
                col(StripeProduct.stripe_id).in_([r.key for r in ranked]),
            )
        ).all()
    )
    filters = {"campaign": a.campaign or None, "channel": a.channel or None}
    return {
        "query": _query(
            session, actor, report, preset, compare=a.compare.value, filters={k: v for k, v in filters.items() if v}
        ),
        "ranked_by": f"net revenue in {currency}" if currency else "net revenue (no sales in the period)",
        "currencies": report.currencies,
        "products": [
            {"rank": n, "product_id": r.key, "name": names.get(r.key, ""), **_row(r, r.key, locale)}
            for n, r in enumerate(ranked, start=1)
        ],
        "products_total": len(report.rows),
    }


def _orders_and_refunds(session: Session, actor: Actor, a: OrdersArguments) -> ToolResult:
    locale = _locale(session, actor)
    today = metrics.account_today(session, actor.account_id)
    period, preset = _period(a, today, Preset.LAST_28_DAYS)
    since, until = orders.day_range(actor.account_id, session, period.start, period.end)
    zone = _zone(session, actor)
    by_status = {}
    for status in orders.STATUSES:
        page = orders.list_orders(
            session=session,
            account_id=actor.account_id,
            status=status,
            since=since,
            until=until,
            campaign_public_id=a.campaign or None,
            limit=1,
        )
        if page.total:
            by_status[status] = page.total
    latest = orders.list_orders(
        session=session,
        account_id=actor.account_id,
        since=since,
        until=until,
        campaign_public_id=a.campaign or None,
        limit=max(a.latest, 1),
    ).orders
    query = MetricsQuery(start=period.start, end=period.end, compare=Compare.NONE, campaign=a.campaign or None)
    report = _report(session, actor, query)
    total = report.total.figures
    refunds = select(Refund, Order.public_id).join(Order, col(Order.id) == col(Refund.order_id), isouter=True)
    refunds = refunds.where(
        Refund.account_id == actor.account_id, col(Refund.refunded_at) >= since, col(Refund.refunded_at) < until
    )
    if a.campaign:
        campaign = campaigns.get_campaign(session, actor.account_id, a.campaign)
        refunds = refunds.where(Order.campaign_id == campaign.id)
    latest_refunds = session.exec(refunds.order_by(col(Refund.refunded_at).desc()).limit(a.latest)).all()
    return {
        "query": {
            "preset": preset,
            **_span(period),
            "timezone": zone.key,
            "filters": {"campaign": a.campaign} if a.campaign else {},
        },
        "orders_started": {
            "total": sum(by_status.values()),
            "by_status": by_status,
            "meaning": "orders whose checkout started in the period, by their status now",
        },
        "paid_in_period": {
            "meaning": "payments and refunds made in the period (the dashboard's figures, last-touch attribution)",
            "orders": round(total.orders, 6),
            "renewals": round(total.renewals, 6),
            "money": {code: _amounts(m, code, locale) for code, m in sorted(total.money.items())},
        },
        "latest_orders": [
            {
                "order_id": o.order_id,
                "status": o.status,
                "mode": o.mode,
                "currency": o.currency,
                "amount": o.amount,
                "amount_formatted": _money(o.amount, o.currency, locale),
                "amount_refunded": o.amount_refunded,
                "amount_refunded_formatted": _money(o.amount_refunded, o.currency, locale),
                "products": o.products,
                "campaign": o.campaign,
                "campaign_version": o.campaign_version,
                "created_at": _when(o.created_at, zone),
                "paid_at": _when(o.paid_at, zone),
            }
            for o in latest[: a.latest]
        ],
        "latest_refunds": [
            {
                "order_id": order_id,
                "amount": r.amount,
                "amount_formatted": _money(r.amount, r.currency, locale),
                "refunded_at": _when(r.refunded_at, zone),
            }
            for r, order_id in latest_refunds
        ],
    }


def _conversion_status(session: Session, actor: Actor, a: ConversionsArguments) -> ToolResult:
    locale = _locale(session, actor)
    today = metrics.account_today(session, actor.account_id)
    period, preset = _period(a, today, Preset.LAST_7_DAYS)
    since, until = orders.day_range(actor.account_id, session, period.start, period.end)
    zone = _zone(session, actor)
    providers = [a.provider] if a.provider else list(Provider)
    by_provider: dict[str, dict[str, int]] = {}
    for provider in providers:
        page = conversions.list_deliveries(
            session=session, account_id=actor.account_id, provider=provider.value, since=since, until=until, limit=1
        )
        if a.provider or any(page.totals.values()):
            by_provider[provider.value] = {status: n for status, n in page.totals.items() if n}
    totals: dict[str, int] = {}
    for counts in by_provider.values():
        for status, n in counts.items():
            totals[status] = totals.get(status, 0) + n
    failures = []
    if a.failures:
        for status in (conversions.DeliveryStatus.DEAD, conversions.DeliveryStatus.RETRYING):
            failures += conversions.list_deliveries(
                session=session,
                account_id=actor.account_id,
                provider=a.provider.value if a.provider else None,
                status=status.value,
                since=since,
                until=until,
                limit=a.failures,
            ).rows
        failures = sorted(failures, key=lambda d: d.created_at, reverse=True)[: a.failures]
    return {
        "query": {
            "preset": preset,
            **_span(period),
            "timezone": zone.key,
            "filters": {"provider": a.provider.value} if a.provider else {},
        },
        "meaning": "deliveries created in the period (one per conversion and pixel), counted by their status now",
        "totals": totals,
        "by_provider": by_provider,
        "latest_failures": [
            {
                "delivery_id": d.delivery_id,
                "order_id": d.order_id,
                "provider": d.provider,
                "pixel": d.pixel_name,
                "kind": d.kind,
                "status": d.status,
                "reason": d.reason,
                "attempts": d.attempts,
                "value": _money(d.amount, d.currency, locale),
                "created_at": _when(d.created_at, zone),
                "next_attempt_at": _when(d.next_attempt_at, zone),
            }
            for d in failures
        ],
    }


def _alert_history(session: Session, actor: Actor, a: AlertsArguments) -> ToolResult:
    zone = _zone(session, actor)
    page = alerts.list_events(
        session=session,
        account_id=actor.account_id,
        rule_public_id=a.rule or "",
        kind=a.kind.value if a.kind else "",
        limit=a.limit,
    )
    rules = alerts.list_rules(session=session, account_id=actor.account_id)
    return {
        "query": {
            "kind": a.kind.value if a.kind else None,
            "rule": a.rule or None,
            "limit": a.limit,
            "timezone": zone.key,
        },
        "events_total": page.total,
        "events": [
            {
                "event_id": e.public_id,
                "at": _when(e.created_at, zone),
                "kind": e.kind,
                "kind_label": e.kind_label,
                "rule_id": e.rule_public_id,
                "rule": e.rule_name,
                "campaign": e.campaign,
                "campaign_id": e.campaign_public_id,
                "metric": e.metric,
                "value": e.value,
                "threshold": e.threshold,
                "summary": e.summary,
                "email_status": e.email_status,
            }
            for e in page.rows
        ],
        "rules": [
            {
                "rule_id": r.public_id,
                "name": r.name,
                "campaign": r.campaign,
                "metric": r.metric,
                "condition": r.condition,
                "window": r.window,
                "enabled": r.enabled,
                "campaigns_firing_now": r.firing,
                "last_event_at": _when(r.last_event_at, zone),
            }
            for r in rules
        ],
    }


# --- registry -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    name: str
    arguments: type[_Arguments]
    run: Callable[[Session, Actor, Any], ToolResult]


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("get_metrics", MetricsArguments, _get_metrics),
        Tool("list_campaigns", CampaignsArguments, _list_campaigns),
        Tool("top_products", ProductsArguments, _top_products),
        Tool("orders_and_refunds", OrdersArguments, _orders_and_refunds),
        Tool("conversion_status", ConversionsArguments, _conversion_status),
        Tool("alert_history", AlertsArguments, _alert_history),
    )
}
TOOL_NAMES: tuple[str, ...] = tuple(TOOLS)


def run_tool(session: Session, actor: Actor, name: str, arguments: dict[str, Any]) -> ToolResult:
    """Run one tool for ``actor``'s account. Never raises for the model's mistakes: an unknown tool, bad arguments,
    an id not found in this account all come back as ``{"error": "..."}``."""
    tool = TOOLS.get(name)
    if tool is None:
        return {"error": f"There is no tool {name!r}; the tools are {', '.join(TOOL_NAMES)}."}
    if not isinstance(arguments, dict):
        return {"error": "The arguments must be a JSON object."}
    try:
        require(actor, Permission.VIEW)
        try:
            parsed = tool.arguments.model_validate(arguments)
        except ValidationError as error:
            unknown = [str(e["loc"][0]) for e in error.errors() if e["type"] == "extra_forbidden" and e["loc"]]
            if unknown:
                allowed = ", ".join(tool.arguments.model_fields)
                raise ValidationFailed(
                    f"Unknown argument {unknown[0]!r}: {name} takes only {allowed} (and sees only this account).",
                    field=unknown[0],
                ) from error
            raise validation_failed(error) from error
        return tool.run(session, actor, parsed)
    except ServiceError as error:
        return {"error": error.message, **({"field": error.field} if error.field else {})}
    except Exception:
        log.exception("assistant tool %s failed with %r", name, arguments)
        return {"error": f"The {name} tool failed unexpectedly; answer without it or try other arguments."}


def get_metrics(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "get_metrics", arguments)


def list_campaigns(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "list_campaigns", arguments)


def top_products(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "top_products", arguments)


def orders_and_refunds(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "orders_and_refunds", arguments)


def conversion_status(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "conversion_status", arguments)


def alert_history(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "alert_history", arguments)


# --- one-line summaries ("shows its work") --------------------------------------------------------------------------


def _dates(query: dict[str, Any]) -> str:
    return f"{query['start']} – {query['end']}" if query.get("start") else ""


def summary(name: str, arguments: dict[str, Any], result: Any) -> str:
    """One line saying what a call looked at, e.g. ``metrics by campaign, 2026-11-01 – 2026-11-27, last touch``."""
    if not isinstance(result, dict) or "error" in result:
        message = result.get("error") if isinstance(result, dict) else "no result"
        return f"{name.replace('_', ' ')}: error — {message}"
    query = result.get("query", {})
    given = dict(query.get("filters", {}))
    if "campaign_name" in given:
        given["campaign"] = given.pop("campaign_name")
    filters = ", ".join(f"{k} {v}" for k, v in given.items())
    parts: list[str]
    if name == "get_metrics":
        parts = [
            f"metrics by {query.get('dimension') or 'total'}",
            _dates(query),
            str(query.get("model", "")).replace("_", " "),
        ]
        if query.get("comparison"):
            parts.append(f"vs {_dates(query['comparison'])}")
    elif name == "top_products":
        parts = [
            f"top products by {result.get('ranked_by', 'net revenue')}",
            _dates(query),
            str(query.get("model", "")).replace("_", " "),
        ]
    elif name == "list_campaigns":
        total = result.get("campaigns_total", 0)
        parts = [f"{len(result.get('campaigns', []))} of {total} {plural(total, 'campaign')} with versions"]
        parts += [f"{k} {v}" for k in ("search", "status", "channel") if (v := query.get(k))]
    elif name == "orders_and_refunds":
        parts = ["orders and refunds", _dates(query)]
    elif name == "conversion_status":
        parts = ["conversion deliveries", _dates(query)]
    elif name == "alert_history":
        total = result.get("events_total", 0)
        parts = [f"alert history, latest {len(result.get('events', []))} of {total} {plural(total, 'event')}"]
    else:
        parts = [name]
    if filters:
        parts.append(filters)
    return ", ".join(p for p in parts if p)
