"""The assistant's tools over the dashboard's figures: ``get_metrics`` (a range in total and by one dimension, with the
comparison), ``top_products`` (products ranked by net revenue), ``platform_vs_verified`` (what the ad platforms
claim against what was paid) and ``customer_value`` (lifetime value by acquisition, and cohorts)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from app.models import StripeProduct
from app.services import campaigns, metrics
from app.services import platform_vs_verified as pvv
from app.services.assistant_tools.results import (
    ToolResult,
    figures_row,
    locale_of,
    money_text,
    query_echo,
    requested_period,
    run_report,
    span,
    zone_of,
)
from app.services.assistant_tools.schemas import (
    ClaimsArguments,
    CustomerValueArguments,
    MetricsArguments,
    ProductsArguments,
)
from app.services.metrics import Dimension, LtvFigures, LtvQuery, MetricsQuery, MetricsRow, Preset
from app.services.permissions import Actor

_TIME_DIMENSIONS = {d.value for d in metrics.TIME_DIMENSIONS}


def metrics_result(session: Session, actor: Actor, a: MetricsArguments) -> ToolResult:
    locale = locale_of(session, actor)
    period, preset = requested_period(session, actor, a, Preset.LAST_28_DAYS)
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
    report = run_report(session, actor, query)
    keys = metrics.public_ids(session, actor.account_id, a.dimension)
    limit = a.limit or (62 if a.dimension and a.dimension.value in _TIME_DIMENSIONS else 25)
    filters = {"campaign": a.campaign or None, "channel": a.channel or None, "product": a.product or None}
    if a.campaign:
        filters["campaign_name"] = campaigns.get_campaign(session, actor.account_id, a.campaign).name
    return {
        "query": query_echo(
            session,
            actor,
            report,
            preset,
            dimension=a.dimension.value if a.dimension else None,
            compare=a.compare.value,
            filters={k: v for k, v in filters.items() if v},
        ),
        "currencies": report.currencies,
        "total": figures_row(report.total, "total", locale),
        "rows": [figures_row(r, keys.get(r.key, r.key), locale) for r in report.rows[:limit]] if a.dimension else [],
        "rows_total": len(report.rows) if a.dimension else 0,
    }


def top_products_result(session: Session, actor: Actor, a: ProductsArguments) -> ToolResult:
    locale = locale_of(session, actor)
    period, preset = requested_period(session, actor, a, Preset.LAST_28_DAYS)
    query = MetricsQuery(
        start=period.start,
        end=period.end,
        dimension=Dimension.PRODUCT,
        model=a.model.value,
        compare=a.compare,
        campaign=a.campaign or None,
        channel=a.channel or None,
    )
    report = run_report(session, actor, query)
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
        "query": query_echo(
            session, actor, report, preset, compare=a.compare.value, filters={k: v for k, v in filters.items() if v}
        ),
        "ranked_by": f"net revenue in {currency}" if currency else "net revenue (no sales in the period)",
        "currencies": report.currencies,
        "products": [
            {"rank": n, "product_id": r.key, "name": names.get(r.key, ""), **figures_row(r, r.key, locale)}
            for n, r in enumerate(ranked, start=1)
        ],
        "products_total": len(report.rows),
    }


def _claimed(row: pvv.PlatformVsVerifiedRow, locale: str) -> dict[str, Any]:
    claimed = row.claimed
    return {
        "currency": claimed.currency,
        "spend": claimed.spend,
        "spend_formatted": money_text(claimed.spend, claimed.currency, locale),
        "claimed_purchases": claimed.purchases,
        "claimed_value": claimed.value,
        "claimed_value_formatted": money_text(claimed.value, claimed.currency, locale),
        "verified_orders": row.verified_orders,
        "verified_net": {
            c: {"amount": v, "formatted": money_text(v, c, locale)} for c, v in sorted(row.verified_net.items())
        },
        "reporting_ratio": row.reporting_ratio,
        "platform_roas": row.platform_roas,
        "verified_roas": row.verified_roas,
    }


def claims_result(session: Session, actor: Actor, a: ClaimsArguments) -> ToolResult:
    locale = locale_of(session, actor)
    period, preset = requested_period(session, actor, a, Preset.LAST_28_DAYS)
    report = pvv.platform_vs_verified(
        session=session,
        account_id=actor.account_id,
        start=period.start,
        end=period.end,
        model=a.model.value,
        compare=a.compare.value,
        campaign_public_id=a.campaign or None,
    )
    return {
        "query": {
            "preset": preset,
            **span(report.period),
            "comparison": span(report.comparison) if report.comparison else None,
            "model": report.model,
            "filters": {"campaign": a.campaign} if a.campaign else {},
        },
        "timezones_differ": report.timezones_differ,
        "campaigns": [
            {
                "campaign": row.campaign_public_id,
                "campaign_name": row.campaign_name,
                "platforms": list(row.platforms),
                **_claimed(row, locale),
                "previous": _claimed(report.previous[row.campaign_public_id], locale)
                if row.campaign_public_id in report.previous
                else None,
            }
            for row in report.rows
        ],
    }


def _ltv_row(key: str, label: str, figures: LtvFigures, locale: str) -> dict[str, Any]:
    data = metrics.ltv_dict(figures)
    for code, money in data["money"].items():
        money["ltv_formatted"] = {n: money_text(v, code, locale) for n, v in money["ltv"].items()}
        money["cpa_formatted"] = money_text(money["cpa"], code, locale)
        money["net_to_date_formatted"] = money_text(money["net_to_date"], code, locale)
    return {"key": key, "label": label, **data}


def customer_value_result(session: Session, actor: Actor, a: CustomerValueArguments) -> ToolResult:
    locale = locale_of(session, actor)
    today = metrics.account_today(session, actor.account_id)
    end = a.end or today
    start = a.start or end - timedelta(days=364)
    query = LtvQuery(start=start, end=end, dimension=a.dimension, model=a.model.value, lookback_days=a.lookback_days,
                     campaign=a.campaign or None, channel=a.channel or None)  # fmt: skip
    report = metrics.lifetime_value(session=session, account_id=actor.account_id, query=query)
    keys = metrics.public_ids(session, actor.account_id, a.dimension)
    filters: dict[str, Any] = {"campaign": a.campaign or None, "channel": a.channel or None}
    if a.campaign:
        filters["campaign_name"] = campaigns.get_campaign(session, actor.account_id, a.campaign).name
    result: ToolResult = {
        "query": {
            **span(report.period),
            "as_of": report.as_of.isoformat(),
            "dimension": a.dimension.value,
            "model": report.model,
            "lookback_days": report.lookback_days,
            "source": report.source,
            "timezone": zone_of(session, actor).key,
            "filters": {k: v for k, v in filters.items() if v},
        },
        "currencies": report.currencies,
        "horizons_days": list(metrics.HORIZONS),
        "total": _ltv_row("total", "All customers", report.total.figures, locale),
        "rows": [_ltv_row(keys.get(r.key, r.key), r.label, r.figures, locale) for r in report.rows[: a.limit]],
        "rows_total": len(report.rows),
    }
    if a.cohorts:
        grid = metrics.cohorts(session=session, account_id=actor.account_id, start=start, end=end,
                               campaign=a.campaign or None, channel=a.channel or None, model=a.model.value,
                               lookback_days=a.lookback_days)  # fmt: skip
        result["cohorts"] = metrics.cohort_dict(grid)
    return result
