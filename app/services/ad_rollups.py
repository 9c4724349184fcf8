"""``rollup_ad_traffic`` / ``rollup_ad_sales``: what the metrics' ``ad_set`` and ``ad`` dimensions read, apart from the
campaign-level rollups so the overview's reads stay small; recomputed with them (same dirty days, same rebuild).

The ids are the ad platforms' own, from the landing URL templates (Meta ``utm_term={{adset.id}}`` and
``utm_content={{ad.id}}``, Google ``utm_term={adgroupid}`` and ``utm_content={creative}``): a session counts under
the ids it landed with, an order under those of the touches its credit came from. Platform ids are numbers: a
``utm_term`` / ``utm_content`` that is not (a keyword, free text) counts as none (""). Whether the touch's campaign is
mapped to a platform campaign is decided when the figures are read (``services/metrics/ads``), so mapping a campaign
later needs no rebuild. Sales: order level only, each campaign version's credit of an order (split exactly as in
``_add``) split again across the ad sets and ads of its touches, by the same model per touch: per campaign, the
ad-level rows sum to the campaign-level rollup exactly.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func
from sqlalchemy import select as sa_select  # sqlmodel's select types at most four columns
from sqlmodel import Session, col

from app.models import (
    AdSalesRollup,
    AdTrafficRollup,
    Order,
    VisitSession,
)
from app.models.base import table_of
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, TouchPoint, credit, split_by_shares
from app.services.rollup_rules import (
    FIRST_PAYMENTS,
    MICRO,
    MODELS,
    SALES_MEASURES,
    TRAFFIC,
    Credit,
    MoneyMoves,
    converted_sessions,
    day_bounds,
    money_moves,
)

_PLATFORM_ID = re.compile(r"[0-9]{1,40}")
NO_AD = ""  # no ad set / no ad
AdKey = tuple[str, str]  # ad set id, ad id
AdSalesKey = tuple[str, int, str, str, str]  # model, campaign, ad set, ad, currency


def ad_ids(term: Any, content: Any) -> AdKey:
    """The (ad set, ad) ids a landing's ``utm_term`` / ``utm_content`` carry: platform ids are numbers, else none."""

    def clean(value: Any) -> str:
        text = str(value or "").strip()
        return text if _PLATFORM_ID.fullmatch(text) else NO_AD

    return clean(term), clean(content)


def ad_traffic_between(
    session: Session, account_id: int, start: datetime, end: datetime, *, converted: dict[int, set[int]] | None = None
) -> list[dict[str, Any]]:
    """Sessions that started in ``[start, end)``, their distinct visitors and converted sessions, per campaign, ad set
    and ad (the session's own landing ids, as its campaign is its own tag)."""
    grouped = session.execute(
        sa_select(
            col(VisitSession.campaign_id),
            col(VisitSession.utm_term),
            col(VisitSession.utm_content),
            col(VisitSession.visitor_key),
            func.count(),
        )
        .where(col(VisitSession.account_id) == account_id)
        .where(col(VisitSession.started_at) >= start, col(VisitSession.started_at) < end)
        .group_by(
            col(VisitSession.campaign_id),
            col(VisitSession.utm_term),
            col(VisitSession.utm_content),
            col(VisitSession.visitor_key),
        )
    ).all()
    sessions: dict[tuple[int, str, str], int] = defaultdict(int)
    visitors: dict[tuple[int, str, str], set[str]] = defaultdict(set)
    for campaign_id, term, content, visitor, count in grouped:
        key = (campaign_id or 0, *ad_ids(term, content))
        sessions[key] += int(count)
        if visitor:
            visitors[key].add(str(visitor))
    counts: dict[tuple[int, str, str], int] = defaultdict(int)
    if converted is None:  # else already read (by the campaign-level rows of the same range)
        converted = {}
        converted_sessions(session, account_id, start, end, orders=converted)
    ids = sorted(converted)
    for at in range(0, len(ids), 500):
        for campaign_id, term, content in session.execute(
            sa_select(col(VisitSession.campaign_id), col(VisitSession.utm_term), col(VisitSession.utm_content)).where(
                col(VisitSession.id).in_(ids[at : at + 500])
            )
        ).all():
            counts[(campaign_id or 0, *ad_ids(term, content))] += 1
    return [
        {"account_id": account_id, "campaign_id": c, "adset_id": adset, "ad_id": ad, "sessions": n,
         "visitors": len(visitors.get((c, adset, ad), ())), "converted_sessions": counts.get((c, adset, ad), 0)}
        for (c, adset, ad), n in sorted(sessions.items())
    ]  # fmt: skip


@dataclass(frozen=True)
class _AdTouches:
    """An order's snapshot touches as the ad-level split needs them: when it converted, and per touch its time,
    campaign version id (0: none) and (ad set, ad) ids. ``readable`` False: times that cannot be read (no split)."""

    at: datetime
    times: list[datetime]
    versions: list[int]
    keys: list[AdKey]
    readable: bool = True


def _ad_touches(order: Order, version_ids: dict[str, tuple[int | None, int | None]]) -> _AdTouches:
    snapshot = order.attribution if isinstance(order.attribution, dict) else {}
    touches = [t for t in snapshot.get("touches") or [] if isinstance(t, dict) and t.get("at")]
    versions = [version_ids.get(str(t.get("campaign_version") or ""), (None, None))[1] or 0 for t in touches]
    keys = [ad_ids(t.get("utm_term"), t.get("utm_content")) for t in touches]
    try:
        at = datetime.fromisoformat(snapshot["at"]) if snapshot.get("at") else order.created_at
        times = [datetime.fromisoformat(str(t["at"])) for t in touches]
        if any(moment.tzinfo is None for moment in [at, *times]):
            raise ValueError("naive time")
    except (TypeError, ValueError):  # stored data never makes a read fail: no split, no ad set
        return _AdTouches(order.created_at, [], [], [], readable=False)
    return _AdTouches(at, times, versions, keys)


def _touch_splits(
    touches: _AdTouches, model: str, lookback_days: int, credits: Sequence[Credit]
) -> list[list[tuple[AdKey, Fraction]]]:
    """For each of the order's credits (campaign versions): its ad sets and ads with their shares of that credit,
    from the touches of that version in the lookback window, weighted by the model per touch. A credit with no such
    touch (direct, imported, an old snapshot without touches) goes whole to no ad set."""
    none = [((NO_AD, NO_AD), Fraction(1))]
    if not touches.readable:
        return [none for _ in credits]
    window = touches.at - timedelta(days=lookback_days)
    counting = [i for i, moment in enumerate(touches.times) if window <= moment <= touches.at]
    per_touch: dict[int, Fraction] | None = None
    splits = []
    for c in credits:
        mine = [i for i in counting if touches.versions[i] == c.version_id] if c.campaign_id > 0 else []
        keys = {touches.keys[i] for i in mine}
        if len(keys) <= 1:  # one ad set and ad (or none): no need to weigh the touches
            splits.append([(keys.pop(), Fraction(1))] if keys else none)
            continue
        if per_touch is None:  # the model per touch: each touch its own "version" (ids 1…n)
            points = [TouchPoint(moment, i + 1, i + 1) for i, moment in enumerate(touches.times)]
            per_touch = {
                (found.version_id or 0) - 1: found.share
                for found in credit(points, touches.at, model=model, lookback_days=lookback_days)
                if found.version_id is not None
            }
        weights: dict[AdKey, Fraction] = defaultdict(Fraction)
        for i in mine:
            weights[touches.keys[i]] += per_touch.get(i, Fraction(0))
        total = sum(weights.values(), Fraction(0))
        splits.append([(key, w / total) for key, w in weights.items() if w] if total else none)
    return splits


def ad_sales_between(
    session: Session,
    account_id: int,
    start: datetime,
    end: datetime,
    *,
    models: Sequence[str] = MODELS,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    moves: MoneyMoves | None = None,
) -> dict[AdSalesKey, dict[str, int]]:
    """What payments and refunds in ``[start, end)`` add to each (model, campaign, ad set, ad, currency); ``moves``:
    that range's, when already read."""
    moves = moves or money_moves(session, account_id, start, end)
    out: dict[AdSalesKey, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SALES_MEASURES, 0))
    version_ids = moves.version_ids(session, account_id)
    cache: dict[tuple[int, str], tuple[list[Credit], list[list[tuple[AdKey, Fraction]]]]] = {}
    touches_of: dict[int, _AdTouches] = {}

    def add(order: Order, model: str, currency: str, amount: int, money: str, count: str | None, new: bool) -> None:
        key = (order.id or 0, model)
        if key not in cache:
            if key[0] not in touches_of:
                touches_of[key[0]] = _ad_touches(order, version_ids)
            credits = moves.credits(session, order, model, lookback_days)
            cache[key] = (credits, _touch_splits(touches_of[key[0]], model, lookback_days, credits))
        credits, splits = cache[key]
        shares = [c.share for c in credits]
        # As _add splits the order-level row, then each credit's part across its ad sets and ads.
        for c, micro, part, split in zip(
            credits, split_by_shares(MICRO, shares), split_by_shares(amount, shares), splits, strict=True
        ):
            if len(split) == 1:
                parts: Iterable[tuple[AdKey, int, int]] = [(split[0][0], micro, part)]
            else:
                subshares = [s for _, s in split]
                parts = zip(
                    [k for k, _ in split], split_by_shares(micro, subshares), split_by_shares(part, subshares),
                    strict=True,
                )  # fmt: skip
            for (adset, ad), sub_micro, sub_part in parts:
                row = out[(model, c.campaign_id, adset, ad, currency)]
                row[money] += sub_part
                if count:
                    row[count] += sub_micro
                if new:
                    row["new_customers_micro"] += sub_micro

    for payment in moves.payments:
        order = moves.orders.get(payment.order_id)
        if order is None:
            continue
        first = payment.kind in FIRST_PAYMENTS
        new = first and (order.id or 0) in moves.new_orders
        for model in models:
            if first:
                add(order, model, payment.currency, payment.amount, "gross", "orders_micro", new)
            else:
                count = "renewals_micro" if payment.kind == "renewal" else None
                add(order, model, payment.currency, payment.amount, "renewal_revenue", count, False)
    for refund in moves.refunds:
        order = moves.orders.get(refund.order_id)
        if order is not None:
            for model in models:
                add(order, model, refund.currency, refund.amount, "refunds", None, False)
    return dict(out)


def ad_traffic_for_day(session: Session, account_id: int, day: date, zone: ZoneInfo) -> list[dict[str, Any]]:
    start, end = day_bounds(day, zone)
    return [{"day": day, **row} for row in ad_traffic_between(session, account_id, start, end)]


def ad_sales_for_day(
    session: Session,
    account_id: int,
    day: date,
    zone: ZoneInfo,
    *,
    models: Sequence[str] = MODELS,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> dict[AdSalesKey, dict[str, int]]:
    start, end = day_bounds(day, zone)
    return ad_sales_between(session, account_id, start, end, models=models, lookback_days=lookback_days)


def recompute_ad_day(
    session: Session,
    account_id: int,
    day: date,
    kind: str,
    zone: ZoneInfo,
    *,
    converted: dict[int, set[int]] | None = None,
    moves: MoneyMoves | None = None,
) -> None:
    """Replace one day's ad-level rows of ``kind`` (traffic | sales), in the caller's transaction, with what the
    campaign-level rows of that day already read (its converted sessions, its payments and refunds)."""
    start, end = day_bounds(day, zone)
    if kind == TRAFFIC:
        session.execute(
            delete(AdTrafficRollup).where(
                col(AdTrafficRollup.account_id) == account_id, col(AdTrafficRollup.day) == day
            )
        )
        rows = [{"day": day, **row} for row in ad_traffic_between(session, account_id, start, end, converted=converted)]
        if rows:
            session.execute(table_of(AdTrafficRollup).insert(), rows)
        return
    session.execute(
        delete(AdSalesRollup).where(col(AdSalesRollup.account_id) == account_id, col(AdSalesRollup.day) == day)
    )
    sales = [
        {"account_id": account_id, "day": day, "model": m, "campaign_id": c, "adset_id": adset, "ad_id": ad,
         "currency": currency, **measures}
        for (m, c, adset, ad, currency), measures in ad_sales_between(
            session, account_id, start, end, moves=moves
        ).items()
    ]  # fmt: skip
    if sales:
        session.execute(table_of(AdSalesRollup).insert(), sales)


def clear_ad_rollups(session: Session, account_id: int) -> None:
    """Every ad-level row of the account (a rebuild recomputes them)."""
    session.execute(delete(AdTrafficRollup).where(col(AdTrafficRollup.account_id) == account_id))
    session.execute(delete(AdSalesRollup).where(col(AdSalesRollup.account_id) == account_id))
