"""The assistant's tools over what happened in the account: ``orders_and_refunds``, ``conversion_status`` (deliveries
to ad platforms) and ``alert_history``."""

from __future__ import annotations

from sqlmodel import Session, col, select

from app.models import Order, Refund
from app.services import alerts, campaigns, conversions, orders
from app.services.assistant_tools.results import (
    ToolResult,
    amounts,
    locale_of,
    money_text,
    requested_period,
    run_report,
    span,
    when,
    zone_of,
)
from app.services.assistant_tools.schemas import AlertsArguments, ConversionsArguments, OrdersArguments
from app.services.metrics import Compare, MetricsQuery, Preset
from app.services.permissions import Actor
from app.services.pixels import Provider


def orders_result(session: Session, actor: Actor, a: OrdersArguments) -> ToolResult:
    locale = locale_of(session, actor)
    period, preset = requested_period(session, actor, a, Preset.LAST_28_DAYS)
    since, until = orders.day_range(actor.account_id, session, period.start, period.end)
    zone = zone_of(session, actor)
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
    report = run_report(session, actor, query)
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
            **span(period),
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
            "money": {code: amounts(m, code, locale) for code, m in sorted(total.money.items())},
        },
        "latest_orders": [
            {
                "order_id": o.order_id,
                "status": o.status,
                "mode": o.mode,
                "currency": o.currency,
                "amount": o.amount,
                "amount_formatted": money_text(o.amount, o.currency, locale),
                "amount_refunded": o.amount_refunded,
                "amount_refunded_formatted": money_text(o.amount_refunded, o.currency, locale),
                "products": o.products,
                "campaign": o.campaign,
                "campaign_version": o.campaign_version,
                "created_at": when(o.created_at, zone),
                "paid_at": when(o.paid_at, zone),
            }
            for o in latest[: a.latest]
        ],
        "latest_refunds": [
            {
                "order_id": order_id,
                "amount": r.amount,
                "amount_formatted": money_text(r.amount, r.currency, locale),
                "refunded_at": when(r.refunded_at, zone),
            }
            for r, order_id in latest_refunds
        ],
    }


def conversions_result(session: Session, actor: Actor, a: ConversionsArguments) -> ToolResult:
    locale = locale_of(session, actor)
    period, preset = requested_period(session, actor, a, Preset.LAST_7_DAYS)
    since, until = orders.day_range(actor.account_id, session, period.start, period.end)
    zone = zone_of(session, actor)
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
            **span(period),
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
                "value": money_text(d.amount, d.currency, locale),
                "created_at": when(d.created_at, zone),
                "next_attempt_at": when(d.next_attempt_at, zone),
            }
            for d in failures
        ],
    }


def alerts_result(session: Session, actor: Actor, a: AlertsArguments) -> ToolResult:
    zone = zone_of(session, actor)
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
                "at": when(e.created_at, zone),
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
                "last_event_at": when(r.last_event_at, zone),
            }
            for r in rules
        ],
    }
