"""The assistant's tools over the account's setup, for "why isn't it working?": ``install_status``, ``api_keys``,
``stripe_status``, ``pixel_status``, ``alert_rules`` and ``order_conversions`` ("why wasn't order ord_… sent to
Meta?"). Each reads the account's real state through the services the pages use, scoped to ``actor.account_id``,
and never returns a secret (no key, key hash or hint, no webhook signing secret, no pixel credentials, no request
sent to a provider). Where something needs fixing the result says so with the backoffice page where it is fixed
(``fix_at``) and the docs section that explains it (``docs``)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from app import routes
from app.models import Account, Event, Order, StripeEvent
from app.models.base import utcnow
from app.services import alerts, conversions, docs_search, install, keys, orders, pixels, stripe_connection
from app.services.assistant_tools.results import ToolResult, when, zone_of
from app.services.assistant_tools.schemas import (
    InstallArguments,
    NoArguments,
    OrderConversionsArguments,
    PixelStatusArguments,
    StripeStatusArguments,
)
from app.services.conversion_checks import CheckItem
from app.services.errors import NotFound
from app.services.permissions import Actor
from app.services.stripe_sync import reconcile as stripe_reconcile
from app.services.stripe_sync import status as stripe_sync_status
from app.services.usage.drops import drops_since
from app.settings import get_settings

log = logging.getLogger(__name__)

# Distinct page addresses looked at to list the origins events came from (the newest first).
_URLS_SCANNED = 2000


def page(path: str) -> str:
    """A backoffice page's address, for ``fix_at``."""
    return f"{get_settings().public_url}{path}"


def problem(text: str, fix: str, fix_at: str | None = None, docs: str | None = None) -> dict[str, str]:
    """Something that keeps the setup from working: what, what to do, the page where it is done, the docs on it."""
    return {"problem": text, "fix": fix, **({"fix_at": fix_at} if fix_at else {}), **({"docs": docs} if docs else {})}


def _origin(url: str | None) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in {"http", "https"} and parts.netloc else ""


# --- install ----------------------------------------------------------------------------------------------------------


def install_result(session: Session, actor: Actor, a: InstallArguments) -> ToolResult:
    zone = zone_of(session, actor)
    since = utcnow() - timedelta(days=a.days)
    real = col(Event.source) != "test"
    counts = session.exec(
        select(Event.source, func.count())
        .where(Event.account_id == actor.account_id, col(Event.received_at) >= since, real)
        .group_by(col(Event.source))
    ).all()
    by_source = {str(getattr(source, "value", source)): int(n) for source, n in counts}
    latest = install.first_real_event(session=session, account_id=actor.account_id)
    urls = session.exec(
        select(Event.url)
        .where(Event.account_id == actor.account_id, col(Event.received_at) >= since, real, col(Event.url).is_not(None))
        .order_by(col(Event.received_at).desc())
        .limit(_URLS_SCANNED)
    ).all()
    origins: dict[str, int] = {}
    for url in urls:
        if origin := _origin(url):
            origins[origin] = origins.get(origin, 0) + 1
    allowed = install.allowed_origins(session=session, account_id=actor.account_id)
    drops: dict[str, dict[str, int]] = {}
    for (reason, origin), n in sorted(drops_since(session, actor.account_id, since.date()).items()):
        drops.setdefault(reason, {})[origin or "(no origin)"] = n
    problems: list[dict[str, Any]] = []
    if not allowed:
        problems.append(
            {
                "problem": "No publishable key: the snippet has no key to send events with.",
                "fix": "Create a publishable key with the shop's origin, then paste the snippet from the Install page.",
                "fix_at": page(routes.SETTINGS_KEYS),
                "docs": docs_search.page_link("guide/keys.md"),
            }
        )
    for origin, n in drops.get("wrong_origin", {}).items():
        problems.append(
            {
                "problem": f"{n} request(s) from {origin} were refused: the publishable key does not allow this "
                "origin, so those events were not recorded.",
                "fix": f"Add {origin} to the publishable key's allowed origins on the API keys page.",
                "fix_at": page(routes.SETTINGS_KEYS),
                "docs": docs_search.page_link(
                    "api/authentication.md", "browsers-a-publishable-key-from-an-allowed-origin"
                ),
            }
        )
    if drops.get("bot"):
        problems.append(
            {
                "problem": f"{sum(drops['bot'].values())} event(s) were dropped as bot traffic (the user agent is a "
                "bot's or a headless browser's, or empty).",
                "fix": "Nothing to fix for real visitors; test with a normal browser, not a headless one.",
                "docs": docs_search.page_link("api/events.md", "bots"),
            }
        )
    if drops.get("consent_denied"):
        problems.append(
            {
                "problem": f"{sum(drops['consent_denied'].values())} event(s) were dropped because the visitor denied "
                "analytics consent.",
                "fix": "Expected: events without analytics consent are not kept.",
                "docs": docs_search.page_link("integrate/pixel.md"),
            }
        )
    return {
        "query": {"days": a.days, "since": when(since, zone), "timezone": zone.key},
        "status": "received" if latest else "waiting for the first event",
        "events_received": {"total": sum(by_source.values()), "by_source": by_source},
        "latest_event": (
            {"type": latest.get("type"), "source": latest.get("source"), "received_at": _local(latest, zone)}
            if latest
            else None
        ),
        "page_origins_seen": origins,
        "allowed_origins": allowed,
        "dropped": drops,
        "dropped_meaning": "bot: a bot's user agent; consent_denied: analytics consent denied; wrong_origin: "
        "requests refused because the key does not allow the page's origin (counted per request)",
        "problems": problems,
        "install_page": page(routes.INSTALL),
    }


def _local(event: dict[str, object], zone: ZoneInfo) -> str | None:
    received = event.get("received_at")
    return when(datetime.fromisoformat(received), zone) if isinstance(received, str) else None


# --- keys -------------------------------------------------------------------------------------------------------------


def keys_result(session: Session, actor: Actor, a: NoArguments) -> ToolResult:
    zone = zone_of(session, actor)
    rows = keys.list_keys(session=session, account_id=actor.account_id)
    return {
        "query": {"timezone": zone.key, "revoked": "not listed"},
        "keys": [
            {
                "key_id": k.public_id,
                "kind": k.kind,
                "label": k.label,
                "allowed_origins": k.allowed_origins if k.kind == "publishable" else None,
                "created_at": when(k.created_at, zone),
                "last_used_at": when(k.last_used_at, zone),
            }
            for k in rows
        ],
        "note": "The keys themselves are never shown here; they are on the API keys page.",
        "fix_at": page(routes.SETTINGS_KEYS),
        "docs": docs_search.page_link("guide/keys.md"),
    }


# --- Stripe -----------------------------------------------------------------------------------------------------------


def stripe_result(session: Session, actor: Actor, a: StripeStatusArguments) -> ToolResult:
    zone = zone_of(session, actor)
    status = stripe_connection.connection_status(session=session, account_id=actor.account_id)
    docs = docs_search.page_link("stripe.md", "connect")
    if status is None:
        return {
            "query": {"timezone": zone.key},
            "connected": False,
            "problems": [
                {
                    "problem": "Stripe is not connected: no order can become paid.",
                    "fix": "Connect Stripe.",
                    "fix_at": page(routes.SETTINGS_STRIPE),
                    "docs": docs,
                }
            ],
        }
    since = utcnow() - timedelta(days=a.days)
    mine = (StripeEvent.account_id == actor.account_id, col(StripeEvent.received_at) >= since)
    last = session.exec(
        select(StripeEvent).where(StripeEvent.account_id == actor.account_id).order_by(col(StripeEvent.id).desc())
    ).first()
    outcomes = {
        str(getattr(o, "value", o)): int(n)
        for o, n in session.exec(
            select(StripeEvent.outcome, func.count()).where(*mine).group_by(col(StripeEvent.outcome))
        )
    }
    received = set(session.exec(select(StripeEvent.type).where(*mine).distinct()).all())
    not_seen = [t for t in stripe_connection.WEBHOOK_EVENTS if t not in received]
    problems: list[dict[str, Any]] = []
    if not status.has_webhook_secret:
        problems.append(
            {
                "problem": "No webhook signing secret: Stripe's deliveries are refused (400 webhook_secret_missing).",
                "fix": "Paste the endpoint's signing secret (whsec_…) in Settings → Stripe.",
                "fix_at": page(routes.SETTINGS_STRIPE),
                "docs": docs,
            }
        )
    if status.last_webhook_at is None:
        problems.append(
            {
                "problem": "No webhook received yet.",
                "fix": "Add the webhook endpoint in Stripe (Developers → Webhooks) with the events listed in the docs.",
                "fix_at": page(routes.SETTINGS_STRIPE),
                "docs": docs,
            }
        )
    sync, sync_problems = _sync_result(session, actor, zone)
    problems += sync_problems
    account = session.get(Account, actor.account_id)
    return {
        "query": {"days": a.days, "timezone": zone.key},
        "connected": True,
        "stripe_account": status.stripe_account_name or status.stripe_account_id,
        "livemode": status.livemode,
        "webhook_secret_set": status.has_webhook_secret,
        "webhook_url": stripe_connection.webhook_url(account.public_id if account else ""),
        "connected_at": when(status.connected_at, zone),
        "catalog_synced_at": when(status.catalog_synced_at, zone),
        "products": status.products,
        "prices": status.prices,
        "last_webhook_at": when(status.last_webhook_at, zone),
        "last_event": (
            {
                "type": last.type,
                "outcome": str(last.outcome),
                "message": last.message[:300],
                "received_at": when(last.received_at, zone),
            }
            if last
            else None
        ),
        "outcomes_in_period": outcomes,
        "event_types_needed": list(stripe_connection.WEBHOOK_EVENTS),
        "event_types_not_received_in_period": not_seen,
        "not_received_meaning": "either not selected on the Stripe endpoint or nothing of that type happened; "
        "checkout.session.completed missing while orders are paid in Stripe means it is not selected",
        "sync": sync,
        "problems": problems,
        "fix_at": page(routes.SETTINGS_STRIPE),
        "docs": docs,
    }


# Anything shaped like a Stripe key or signing secret in a stored message (Stripe masks keys in its errors; this
# makes sure none reaches the model whatever a message contains).
_SECRET = re.compile(r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_*]+")
MAX_DIFFERENCES_LISTED = 5


def _sync_result(session: Session, actor: Actor, zone: ZoneInfo) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """What PaidSignal read back from Stripe (issue 21): the last reconciliation ("reconciled to the cent through
    <date>" or its differences), the events catch-up's last run and any retention gap, with the problems in them."""
    sync = stripe_sync_status.sync_status(session=session, account_id=actor.account_id)
    report = stripe_reconcile.last_reconciliation(session=session, account_id=actor.account_id)
    fix_at = page(routes.SETTINGS_STRIPE)
    problems: list[dict[str, str]] = []
    reconciliation: dict[str, Any] | None = None
    if report is not None:
        reconciliation = {
            "summary": report.summary(),
            "reconciled": report.reconciled,
            "reconciled_through": report.reconciled_through.isoformat() if report.reconciled_through else None,
            "period": f"{report.start.isoformat()} – {report.end.isoformat()}",
            "checked_at": when(report.checked_at, zone),
            "differences": len(report.differences),
            "waiting_for_stripe": len(report.waiting),
            "first_differences": [
                {
                    "kind": item.kind,
                    "day": item.day.isoformat(),
                    "currency": item.currency,
                    "order": item.order_id or None,
                    "stripe_id": item.stripe_id or None,
                    "paidsignal_amount": item.paidsignal_amount,
                    "stripe_amount": item.stripe_amount,
                    "note": _SECRET.sub("[hidden]", item.note)[:300],
                }
                for item in report.differences[:MAX_DIFFERENCES_LISTED]
            ],
        }
        if report.differences:
            problems.append(
                problem(
                    report.summary(),
                    "Open Settings → Stripe, Reconciliation: each difference names the order and what differs.",
                    fix_at,
                    docs_search.page_link("stripe.md", "reconciliation"),
                )
            )
    if not sync.catchup_ok:
        problems.append(
            problem(
                f"The last events catch-up failed: {_SECRET.sub('[hidden]', sync.catchup_message)[:300]}",
                "Check the Stripe key's permissions in Settings → Stripe; the catch-up runs again by itself.",
                fix_at,
                docs_search.page_link("stripe.md", "nothing-missed"),
            )
        )
    gap = None
    if sync.gap_from is not None:
        gap = {"from": when(sync.gap_from, zone), "to": when(sync.gap_to, zone)}
        problems.append(
            problem(
                "Some Stripe events are older than Stripe keeps (30 days) and could not be caught up.",
                "Import the history (Settings → Stripe) to fill the gap from Stripe's objects.",
                fix_at,
                docs_search.page_link("stripe.md", "nothing-missed"),
            )
        )
    return {
        "reconciliation": reconciliation,
        "reconciliation_meaning": None
        if report
        else "not reconciled yet (it runs every hour once Stripe is connected)",
        "catchup": {
            "last_run_at": when(sync.catchup_at, zone),
            "ok": sync.catchup_ok,
            "message": _SECRET.sub("[hidden]", sync.catchup_message)[:300],
        },
        "retention_gap": gap,
    }, problems


# --- pixels and deliveries ------------------------------------------------------------------------------------------


def _checks(items: list[CheckItem]) -> list[dict[str, str]]:
    return [{"check": i.label, "state": i.state, "detail": i.detail} for i in items]


# What to fix for a delivery that did not go out, by provider (the pixel's settings are on the Pixels page).
_PROVIDER_DOCS = {
    "meta": "providers/meta.md",
    "ga4": "providers/ga4.md",
    "google_ads": "providers/google-ads.md",
    "webhook": "providers/webhook.md",
}


def _delivery(session: Session, actor: Actor, row: conversions.DeliveryRow) -> dict[str, Any]:
    """A delivery with its latest attempts, checklist and what to fix. A checklist that cannot be read from the
    stored conversion (rows from before a field existed) is left empty rather than failing the tool."""
    zone = zone_of(session, actor)
    try:
        detail = conversions.delivery_detail(
            session=session, account_id=actor.account_id, delivery_public_id=row.delivery_id
        )
    except (KeyError, TypeError, ValueError):
        log.warning("no checklist for delivery %s", row.delivery_id, exc_info=True)
        detail = conversions.DeliveryDetail(row, {})
    out: dict[str, Any] = {
        "delivery_id": row.delivery_id,
        "provider": row.provider,
        "pixel": row.pixel_name,
        "kind": row.kind,
        "status": row.status,
        "reason": row.reason,
        "test_mode": row.test,
        "value": row.value,
        "attempts": [
            {
                "number": t.number,
                "at": when(t.started_at, zone),
                "outcome": t.outcome,
                "response_status": t.response_status,
                "message": t.message[:300],
            }
            for t in detail.attempts[-3:]
        ],
        "checklist": _checks(detail.checklist),
        "sent_at": when(row.sent_at, zone),
        "next_attempt_at": when(row.next_attempt_at, zone),
    }
    if row.status in {"dead", "skipped", "retrying"}:
        failing = [c for c in detail.checklist if c.state == "fail"]
        out["what_to_fix"] = {
            "problem": row.reason or (failing[0].detail if failing else f"The delivery is {row.status}."),
            "failed_checks": [c.label for c in failing],
            "fix_at": page(routes.PIXELS),
            "replay_at": page(f"{routes.ORDERS}/{row.order_id}") if row.order_id else page(routes.CONVERSIONS),
            "docs": docs_search.page_link(_PROVIDER_DOCS.get(row.provider, "guide/conversions.md")),
        }
    return out


def pixel_result(session: Session, actor: Actor, a: PixelStatusArguments) -> ToolResult:
    rows = pixels.list_pixels(session=session, account_id=actor.account_id)
    found = []
    for p in rows:
        if a.provider and p.provider != a.provider.value:
            continue
        latest = conversions.list_deliveries(
            session=session, account_id=actor.account_id, provider=p.provider, limit=50
        )
        mine = [d for d in latest.rows if d.pixel_name == p.name][: a.deliveries]
        found.append(
            {
                "pixel_id": p.public_id,
                "provider": p.provider,
                "name": p.name,
                "enabled": p.enabled,
                "default_for_every_campaign": p.is_default,
                "test_mode": p.test_mode,
                "events": p.events,
                "settings": p.settings,
                "credentials_set": bool(p.credentials_hint),
                "latest_deliveries": [_delivery(session, actor, d) for d in mine],
            }
        )
    problems = []
    if not rows:
        docs = docs_search.page_link("guide/pixels.md")
        problems.append(
            problem("No pixel: no conversion is sent to any ad platform.", "Add a pixel.", page(routes.PIXELS), docs)
        )
    testing = [r for r in rows if r.test_mode and (not a.provider or r.provider == a.provider.value)]
    problems += [
        problem(
            f"Pixel {r.name} is in test mode: the provider validates its conversions but does not count them.",
            "Turn test mode off on the Pixels page.",
            page(routes.PIXELS),
            docs_search.page_link("providers/index.md", "test-mode"),
        )
        for r in testing
    ]
    return {
        "query": {"provider": a.provider.value if a.provider else None, "deliveries_per_pixel": a.deliveries},
        "pixels": found,
        "problems": problems,
        "fix_at": page(routes.PIXELS),
        "docs": docs_search.page_link("guide/pixels.md"),
    }


def order_result(session: Session, actor: Actor, a: OrderConversionsArguments) -> ToolResult:
    order = session.exec(select(Order).where(Order.account_id == actor.account_id, Order.public_id == a.order)).first()
    if order is None:
        raise NotFound("No order with this id in this account.", field="order")
    zone = zone_of(session, actor)
    details = conversions.list_deliveries(
        session=session,
        account_id=actor.account_id,
        order_public_id=a.order,
        provider=a.provider.value if a.provider else None,
        limit=conversions.MAX_PAGE,
    ).rows[::-1]
    status = orders.payment_status(order)
    why_none: list[dict[str, Any]] = []
    if not details:
        receiving = pixels.pixels_for_campaign(
            session=session, account_id=actor.account_id, campaign_id=order.campaign_id
        )
        if a.provider:
            receiving = [p for p in receiving if p.provider == a.provider.value]
        pixels_docs = docs_search.page_link("guide/pixels.md")
        if order.imported:
            text = "The order was imported from Stripe's history: imported orders are never sent to ad platforms."
            why_none.append(problem(text, "Nothing to fix."))
        elif status.value != "paid":
            why_none.append(
                problem(
                    f"The order is {status.value}, not paid: only paid orders are sent.",
                    "Nothing to fix unless it was paid in Stripe: then check the Stripe webhook.",
                    page(routes.SETTINGS_STRIPE),
                    docs_search.page_link("stripe.md", "connect"),
                )
            )
        elif not receiving:
            which = f"No enabled {a.provider.value} pixel" if a.provider else "No enabled pixel"
            why_none.append(
                problem(
                    f"{which} receives this order's campaign: none is attached to the campaign or a default pixel.",
                    "Attach the pixel to the campaign, or make it a default pixel, on the Pixels page (orders paid "
                    "after that are sent).",
                    page(routes.PIXELS),
                    pixels_docs,
                )
            )
        else:
            text = "The receiving pixels do not take this kind of conversion (their events)."
            why_none.append(
                problem(text, "Check the pixel's events on the Pixels page.", page(routes.PIXELS), pixels_docs)
            )
    return {
        "query": {"order": a.order, "provider": a.provider.value if a.provider else None, "timezone": zone.key},
        "order": {
            "order_id": order.public_id,
            "status": status.value,
            "imported": order.imported,
            "created_at": when(order.created_at, zone),
            "paid_at": when(order.paid_at, zone),
            "page": page(f"{routes.ORDERS}/{order.public_id}"),
        },
        "deliveries": [_delivery(session, actor, d) for d in details],
        "why_nothing_was_sent": why_none,
    }


def alert_rules_result(session: Session, actor: Actor, a: NoArguments) -> ToolResult:
    zone = zone_of(session, actor)
    rules = alerts.list_rules(session=session, account_id=actor.account_id)
    return {
        "query": {"timezone": zone.key},
        "rules": [
            {
                "rule_id": r.public_id,
                "name": r.name,
                "campaign": r.campaign,
                "metric": r.metric,
                "condition": r.condition,
                "window": r.window,
                "minimum_volume": r.volume,
                "cooldown": r.cooldown,
                "enabled": r.enabled,
                "checked_yet": r.checked,
                "campaigns_firing_now": r.firing,
                "last_event_at": when(r.last_event_at, zone),
            }
            for r in rules
        ],
        "fix_at": page(routes.ALERTS),
        "docs": docs_search.page_link("guide/alerts.md"),
    }
