"""The rows the metrics add up, read from the daily rollups or computed from the raw tables with the same per-day
functions (``services/rollups``): traffic (sessions, visitors, converted sessions) and sales (orders and money) per
day, campaign and version, and per product and price."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select  # the grouping columns vary: more than sqlmodel's select types
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col

from app.models import SalesRollup, TrafficRollup
from app.services import rollups
from app.services.metrics.periods import Period


@dataclass(frozen=True)
class TrafficRow:
    day: date
    campaign_id: int
    version_id: int
    sessions: int
    visitors: int
    converted: int


@dataclass(frozen=True)
class SalesRow:
    day: date
    campaign_id: int
    version_id: int
    product_id: str
    price_id: str
    currency: str
    measures: dict[str, int]


def traffic_row(day: date, row: dict[str, Any]) -> TrafficRow:
    """A row of ``rollups.traffic_between`` as read by the metrics."""
    return TrafficRow(
        day, row["campaign_id"], row["campaign_version_id"], row["sessions"], row["visitors"], row["converted_sessions"]
    )


def read_traffic(
    session: Session, account_id: int, period: Period, source: str, grain: frozenset[str]
) -> list[TrafficRow]:
    """Sessions and visitors per campaign (and per day / version when ``grain`` has them)."""
    if source == "raw":
        zone = rollups.account_zone(session, account_id)
        return [
            traffic_row(day, row)
            for day in period.dates()
            for row in rollups.traffic_for_day(session, account_id, day, zone)
        ]
    keys: dict[str, Mapped[Any]] = {"campaign_id": col(TrafficRollup.campaign_id)}
    if "day" in grain:
        keys["day"] = col(TrafficRollup.day)
    if "version" in grain:
        keys["campaign_version_id"] = col(TrafficRollup.campaign_version_id)
    rows = session.execute(
        sa_select(
            *keys.values(),
            func.sum(TrafficRollup.sessions),
            func.sum(TrafficRollup.visitors),
            func.sum(TrafficRollup.converted_sessions),
        )
        .where(col(TrafficRollup.account_id) == account_id)
        .where(col(TrafficRollup.day) >= period.start, col(TrafficRollup.day) <= period.end)
        .group_by(*keys.values())
    ).all()
    out = []
    for row in rows:
        values = dict(zip(keys, row, strict=False))
        out.append(
            TrafficRow(
                values.get("day", period.start),
                values["campaign_id"],
                values.get("campaign_version_id", 0),
                int(row[-3]),
                int(row[-2]),
                int(row[-1]),
            )
        )
    return out


def product_conversions(session: Session, account_id: int, period: Period, product: str) -> list[TrafficRow]:
    """Under a product filter: the sessions of ``period`` that converted with an order containing ``product`` (read
    from the raw tables, so rollups and raw agree), as traffic rows with no sessions of their own."""
    zone = rollups.account_zone(session, account_id)
    start, end = rollups.day_bounds(period.start, zone)[0], rollups.day_bounds(period.end, zone)[1]
    counts: dict[tuple[date, int, int], int] = defaultdict(int)
    for started, campaign_id, version_id in rollups.converted_sessions(
        session, account_id, start, end, product=product
    ):
        counts[(rollups.local_day(started, zone), campaign_id, version_id)] += 1
    return [TrafficRow(day, c, v, 0, 0, n) for (day, c, v), n in sorted(counts.items())]


def read_sales(
    session: Session,
    account_id: int,
    period: Period,
    model: str,
    lookback: int,
    source: str,
    *,
    products: bool,
    grain: frozenset[str],
    product: str | None = None,
) -> list[SalesRow]:
    """Order-level rows (``products`` False) or the per-product rows (of ``product`` only, when given), grouped by
    campaign and currency, and by day / version / product and price when ``grain`` has them."""
    if source == "raw":
        zone = rollups.account_zone(session, account_id)
        out = []
        for day in period.dates():
            found = rollups.sales_for_day(session, account_id, day, zone, models=[model], lookback_days=lookback)
            for (_model, c, v, product_id, price, currency), measures in found.items():
                if bool(product_id or price) == products and (product is None or product_id == product):
                    out.append(SalesRow(day, c, v, product_id, price, currency, measures))
        return out
    keys: dict[str, Mapped[Any]] = {"campaign_id": col(SalesRollup.campaign_id), "currency": col(SalesRollup.currency)}
    if "day" in grain:
        keys["day"] = col(SalesRollup.day)
    if "version" in grain:
        keys["campaign_version_id"] = col(SalesRollup.campaign_version_id)
    if "product" in grain:
        keys["product_id"] = col(SalesRollup.product_id)
        keys["price_id"] = col(SalesRollup.price_id)
    sums = [func.sum(getattr(SalesRollup, name)) for name in rollups.SALES_MEASURES]
    query = (
        sa_select(*keys.values(), *sums)
        .where(col(SalesRollup.account_id) == account_id, col(SalesRollup.model) == model)
        .where(col(SalesRollup.day) >= period.start, col(SalesRollup.day) <= period.end)
        .group_by(*keys.values())
    )
    if product is not None:
        query = query.where(col(SalesRollup.product_id) == product)
    elif products:
        query = query.where(col(SalesRollup.product_id) != "")
    else:
        query = query.where(col(SalesRollup.product_id) == "")
    out = []
    names = list(keys)
    for row in session.execute(query).all():
        values = dict(zip(names, row[: len(names)], strict=True))
        out.append(
            SalesRow(
                values.get("day", period.start),
                values["campaign_id"],
                values.get("campaign_version_id", 0),
                values.get("product_id", ""),
                values.get("price_id", ""),
                values["currency"],
                dict(zip(rollups.SALES_MEASURES, map(int, row[len(names) :]), strict=True)),
            )
        )
    return out
