"""The rows the metrics add up, read from the daily rollups or computed from the raw tables with the same per-day
functions (``services/rollups``): traffic (sessions, visitors, converted sessions) and sales (orders and money) per
day, campaign and version, and per product and price."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy import select as sa_select  # the grouping columns vary: more than sqlmodel's select types
from sqlmodel import Session

from app.models import SalesRollup, TrafficRollup
from app.models.base import table_of
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
    """Sessions and visitors per what ``grain`` names (campaign, day, version), the rest summed in SQL; a row's
    campaign (version) is 0 when the grain has none. Raw: per day, campaign and version."""
    if source == "raw":
        zone = rollups.account_zone(session, account_id)
        return [
            traffic_row(day, row)
            for day in period.dates()
            for row in rollups.traffic_for_day(session, account_id, day, zone)
        ]
    query, names = _traffic_query(grain)
    out = []
    for row in session.execute(query, {"account_id": account_id, "start": period.start, "end": period.end}):
        if row[-1] is None:  # no rows at all, grouped by nothing: one row of NULL sums
            continue
        values = dict(zip(names, row, strict=False))
        out.append(
            TrafficRow(
                values.get("day", period.start),
                values.get("campaign_id", 0),
                values.get("campaign_version_id", 0),
                int(row[-3]),
                int(row[-2]),
                int(row[-1]),
            )
        )
    return out


# The grouped sums over the rollups, built once per shape (building a statement costs more than running it here).
_TRAFFIC = table_of(TrafficRollup)
_SALES = table_of(SalesRollup)
_TRAFFIC_QUERIES: dict[frozenset[str], tuple[Any, list[str]]] = {}
_SALES_QUERIES: dict[tuple[frozenset[str], str], tuple[Any, list[str]]] = {}


def _traffic_query(grain: frozenset[str]) -> tuple[Any, list[str]]:
    """Traffic summed per the ``grain``'s columns (campaign, day, version): SQL adds up the days and campaigns a
    report does not tell apart, so Python gets one row per row of the report (about 30 for a month by day)."""
    found = _TRAFFIC_QUERIES.get(grain)
    if found is not None:
        return found
    t = _TRAFFIC.c
    keys = {name: column for name, column, part in (("campaign_id", t.campaign_id, "campaign"), ("day", t.day, "day"),
                                                    ("campaign_version_id", t.campaign_version_id, "version"))
            if part in grain}  # fmt: skip
    query = (
        sa_select(*keys.values(), func.sum(t.sessions), func.sum(t.visitors), func.sum(t.converted_sessions))
        .where(t.account_id == bindparam("account_id"), t.day >= bindparam("start"), t.day <= bindparam("end"))
        .group_by(*keys.values())
    )
    found = _TRAFFIC_QUERIES[grain] = (query, list(keys))
    return found


def _sales_query(grain: frozenset[str], rows: str) -> tuple[Any, list[str]]:
    """Sales summed per currency and the ``grain``'s columns (campaign, day, version, product and price), of the
    order-level rows (``rows`` "orders"), the product rows ("products") or one product's ("product")."""
    found = _SALES_QUERIES.get((grain, rows))
    if found is not None:
        return found
    s = _SALES.c
    keys = {"currency": s.currency} | {
        name: column
        for name, column, part in (("campaign_id", s.campaign_id, "campaign"), ("day", s.day, "day"),
                                   ("campaign_version_id", s.campaign_version_id, "version"),
                                   ("product_id", s.product_id, "product"), ("price_id", s.price_id, "product"))
        if part in grain
    }  # fmt: skip
    products = {
        "orders": s.product_id == "",
        "products": s.product_id != "",
        "product": s.product_id == bindparam("product"),
    }
    query = (
        sa_select(*keys.values(), *(func.sum(s[name]) for name in rollups.SALES_MEASURES))
        .where(s.account_id == bindparam("account_id"), s.model == bindparam("model"), products[rows])
        .where(s.day >= bindparam("start"), s.day <= bindparam("end"))
        .group_by(*keys.values())
    )
    found = _SALES_QUERIES[(grain, rows)] = (query, list(keys))
    return found


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
    currency and by what ``grain`` names (campaign, day, version, product and price), the rest summed in SQL. Raw:
    per day, campaign, version, product and price."""
    if source == "raw":
        zone = rollups.account_zone(session, account_id)
        out = []
        for day in period.dates():
            found = rollups.sales_for_day(session, account_id, day, zone, models=[model], lookback_days=lookback)
            for (_model, c, v, product_id, price, currency), measures in found.items():
                if bool(product_id or price) == products and (product is None or product_id == product):
                    out.append(SalesRow(day, c, v, product_id, price, currency, measures))
        return out
    query, names = _sales_query(grain, "product" if product is not None else "products" if products else "orders")
    parameters = {"account_id": account_id, "model": model, "start": period.start, "end": period.end}
    if product is not None:
        parameters["product"] = product
    out = []
    width = len(names)
    for row in session.execute(query, parameters):
        values = dict(zip(names, row[:width], strict=True))
        out.append(
            SalesRow(
                values.get("day", period.start),
                values.get("campaign_id", 0),
                values.get("campaign_version_id", 0),
                values.get("product_id", ""),
                values.get("price_id", ""),
                values["currency"],
                dict(zip(rollups.SALES_MEASURES, map(int, row[width:]), strict=True)),
            )
        )
    return out
