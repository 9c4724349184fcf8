"""The metrics service: every figure the dashboard, the metrics API, alerts and the assistant show, in one place.

Measures: sessions, visitors, converted sessions (sessions whose checkout got paid), conversion rate (converted
sessions / sessions: one population, never above 100 %), orders, new and returning customers, gross revenue (first
and one-off payments), renewals and their revenue, refunds, net revenue (gross + renewals − refunds), AOV (gross /
orders), ad spend, ROAS (net / spend), CPA (spend / orders; None without spend), refund rate (refunds / (gross +
renewals)). Dimensions: campaign, version, channel (the ad platform), channel_group,
product, price, day, week, month. Money is integer minor units
per currency and never summed across currencies; a ratio whose base is zero is None ("n/a"), never an error.

Figures come from the daily rollups (``services/rollups``) for the default lookback, or are computed from the raw
tables with the same per-day functions (any lookback, and ``source="raw"`` for checks and benchmarks): the two
agree by construction. Visitors are distinct per day and summed over days (visitor-days).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models import AttributionModel, Campaign, CampaignVersion, SalesRollup, TrafficRollup
from app.services import rollups
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, LOOKBACK_DAYS
from app.services.campaigns import CHANNEL_GROUP_LABELS
from app.services.days import check_day
from app.services.errors import NotFound, ValidationFailed
from app.services.spend import DailySpend, daily_spend

DIRECT = "direct"  # the channel (and channel group) of sessions and orders no campaign matched
MAX_DAYS = 400


class Dimension(StrEnum):
    CAMPAIGN = "campaign"
    VERSION = "version"
    CHANNEL = "channel"  # the ad platform (meta, google, …): the name the API has always had
    CHANNEL_GROUP = "channel_group"  # paid_social, paid_search, …
    PRODUCT = "product"
    PRICE = "price"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


TIME_DIMENSIONS = (Dimension.DAY, Dimension.WEEK, Dimension.MONTH)


class Compare(StrEnum):
    PREVIOUS = "previous"  # the same number of days just before
    YEAR = "year"  # 52 weeks before: same length, same weekdays
    NONE = "none"


class Preset(StrEnum):
    TODAY = "today"
    YESTERDAY = "yesterday"
    LAST_7_DAYS = "last_7_days"
    LAST_28_DAYS = "last_28_days"
    LAST_90_DAYS = "last_90_days"
    MONTH_TO_DATE = "month_to_date"
    CUSTOM = "custom"


@dataclass(frozen=True)
class Period:
    """Calendar days in the account's timezone, both ends included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def resolve_period(preset: str, *, today: date, start: date | None = None, end: date | None = None) -> Period:
    """A preset (or ``custom`` with ``start``/``end``) as a period ending today at the latest."""
    try:
        kind = Preset(preset)
    except ValueError as error:
        raise ValidationFailed(f"range must be one of {', '.join(p.value for p in Preset)}.", field="range") from error
    if kind is Preset.CUSTOM:
        if start is None or end is None:
            raise ValidationFailed("A custom range needs both a start and an end date.", field="start")
        check_day(start, "start")
        check_day(end, "end")
        period = Period(start, end)
    else:
        period = {
            Preset.TODAY: Period(today, today),
            Preset.YESTERDAY: Period(today - timedelta(days=1), today - timedelta(days=1)),
            Preset.LAST_7_DAYS: Period(today - timedelta(days=6), today),
            Preset.LAST_28_DAYS: Period(today - timedelta(days=27), today),
            Preset.LAST_90_DAYS: Period(today - timedelta(days=89), today),
            Preset.MONTH_TO_DATE: Period(today.replace(day=1), today),
        }[kind]
    if period.end < period.start:
        raise ValidationFailed("The end date is before the start date.", field="end")
    if period.days > MAX_DAYS:
        raise ValidationFailed(f"A range may span at most {MAX_DAYS} days.", field="start")
    return period


def comparison_period(period: Period, compare: str) -> Period | None:
    try:
        kind = Compare(compare)
    except ValueError as error:
        raise ValidationFailed(
            f"compare must be one of {', '.join(c.value for c in Compare)}.", field="compare"
        ) from error
    if kind is Compare.NONE:
        return None
    if kind is Compare.PREVIOUS:
        return Period(period.start - timedelta(days=period.days), period.start - timedelta(days=1))
    return Period(period.start - timedelta(weeks=52), period.end - timedelta(weeks=52))


@dataclass(frozen=True)
class MetricsQuery:
    start: date
    end: date
    dimension: Dimension | None = None
    model: str = AttributionModel.LAST_TOUCH.value
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    compare: Compare = Compare.PREVIOUS
    campaign: str | None = None  # public id
    channel: str | None = None  # platform
    product: str | None = None  # Stripe product id
    channel_group: str | None = None


@dataclass
class Money:
    """One currency's money (minor units) and the ratios that use it."""

    currency: str
    gross: int = 0
    renewal_revenue: int = 0
    refunds: int = 0
    spend: int = 0

    @property
    def net(self) -> int:
        return self.gross + self.renewal_revenue - self.refunds


@dataclass
class Figures:
    sessions: int = 0
    visitors: int = 0
    converted_sessions: int = 0
    orders_micro: int = 0
    new_customers_micro: int = 0
    renewals_micro: int = 0
    impressions: int = 0
    clicks: int = 0
    money: dict[str, Money] = field(default_factory=dict)

    def currency(self, code: str) -> Money:
        return self.money.setdefault(code, Money(code))

    @property
    def orders(self) -> float:
        return self.orders_micro / rollups.MICRO

    @property
    def new_customers(self) -> float:
        return self.new_customers_micro / rollups.MICRO

    @property
    def returning_customers(self) -> float:
        return (self.orders_micro - self.new_customers_micro) / rollups.MICRO

    @property
    def renewals(self) -> float:
        return self.renewals_micro / rollups.MICRO

    @property
    def conversion_rate(self) -> float | None:
        """Converted sessions / sessions, both counting the sessions that started in the range (with their own
        campaign tag). Orders are credited by the attribution model and may come from other sessions (a direct
        return visit, a second order), so orders / sessions would not be a rate: it can pass 100 %."""
        return ratio(self.converted_sessions, self.sessions)

    def aov(self, code: str) -> float | None:
        money = self.money.get(code)
        return ratio(money.gross, self.orders) if money else None

    def roas(self, code: str) -> float | None:
        money = self.money.get(code)
        return ratio(money.net, money.spend) if money else None

    def cpa(self, code: str) -> float | None:
        """Spend per order; None ("n/a") without spend in ``code``, as for ROAS: 0.00 would read as free customers."""
        money = self.money.get(code)
        return ratio(money.spend, self.orders) if money and money.spend else None

    def refund_rate(self, code: str) -> float | None:
        money = self.money.get(code)
        return ratio(money.refunds, money.gross + money.renewal_revenue) if money else None


def ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


@dataclass(frozen=True)
class Delta:
    current: float | None
    previous: float | None
    absolute: float | None
    percent: float | None  # None: "n/a" (no base to compare with)


def delta(current: float | None, previous: float | None) -> Delta:
    if current is None or previous is None:
        return Delta(current, previous, None, None)
    return Delta(current, previous, current - previous, ratio((current - previous) * 100, previous))


@dataclass
class MetricsRow:
    key: str
    label: str
    figures: Figures
    previous: Figures | None = None


@dataclass
class MetricsReport:
    period: Period
    comparison: Period | None
    model: str
    lookback_days: int
    source: str  # rollup | raw
    total: MetricsRow
    rows: list[MetricsRow]
    currencies: list[str]


# --- reading --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Traffic:
    day: date
    campaign_id: int
    version_id: int
    sessions: int
    visitors: int
    converted: int


@dataclass(frozen=True)
class _Sales:
    day: date
    campaign_id: int
    version_id: int
    product_id: str
    price_id: str
    currency: str
    measures: dict[str, int]


def _traffic_row(day: date, row: dict[str, Any]) -> _Traffic:
    """A row of ``rollups.traffic_between`` as read by the metrics."""
    return _Traffic(day, row["campaign_id"], row["campaign_version_id"], row["sessions"], row["visitors"],
                    row["converted_sessions"])  # fmt: skip


def _traffic(session: Session, account_id: int, period: Period, source: str, grain: frozenset[str]) -> list[_Traffic]:
    """Sessions and visitors per campaign (and per day / version when ``grain`` has them)."""
    if source == "raw":
        zone = rollups.account_zone(session, account_id)
        return [
            _traffic_row(day, row)
            for day in _days(period)
            for row in rollups.traffic_for_day(session, account_id, day, zone)
        ]
    keys = [TrafficRollup.campaign_id]
    if "day" in grain:
        keys.append(TrafficRollup.day)
    if "version" in grain:
        keys.append(TrafficRollup.campaign_version_id)
    rows = session.exec(
        select(
            *keys,
            func.sum(TrafficRollup.sessions),
            func.sum(TrafficRollup.visitors),
            func.sum(TrafficRollup.converted_sessions),
        )
        .where(TrafficRollup.account_id == account_id)
        .where(col(TrafficRollup.day) >= period.start, col(TrafficRollup.day) <= period.end)
        .group_by(*keys)
    ).all()
    out = []
    for row in rows:
        values = dict(zip([k.key for k in keys], row, strict=False))
        out.append(
            _Traffic(
                values.get("day", period.start),
                values["campaign_id"],
                values.get("campaign_version_id", 0),
                int(row[-3]),
                int(row[-2]),
                int(row[-1]),
            )
        )
    return out


def _product_conversions(session: Session, account_id: int, period: Period, product: str) -> list[_Traffic]:
    """Under a product filter: the sessions of ``period`` that converted with an order containing ``product`` (read
    from the raw tables, so rollups and raw agree), as traffic rows with no sessions of their own."""
    zone = rollups.account_zone(session, account_id)
    start, end = rollups.day_bounds(period.start, zone)[0], rollups.day_bounds(period.end, zone)[1]
    counts: dict[tuple[date, int, int], int] = defaultdict(int)
    for started, campaign_id, version_id in rollups.converted_sessions(
        session, account_id, start, end, product=product
    ):
        counts[(rollups.local_day(started, zone), campaign_id, version_id)] += 1
    return [_Traffic(day, c, v, 0, 0, n) for (day, c, v), n in sorted(counts.items())]


def _sales(
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
) -> list[_Sales]:
    """Order-level rows (``products`` False) or the per-product rows (of ``product`` only, when given), grouped by
    campaign and currency, and by day / version / product and price when ``grain`` has them."""
    if source == "raw":
        zone = rollups.account_zone(session, account_id)
        out = []
        for day in _days(period):
            found = rollups.sales_for_day(session, account_id, day, zone, models=[model], lookback_days=lookback)
            for (_model, c, v, product_id, price, currency), measures in found.items():
                if bool(product_id or price) == products and (product is None or product_id == product):
                    out.append(_Sales(day, c, v, product_id, price, currency, measures))
        return out
    keys = [SalesRollup.campaign_id, SalesRollup.currency]
    if "day" in grain:
        keys.append(SalesRollup.day)
    if "version" in grain:
        keys.append(SalesRollup.campaign_version_id)
    if "product" in grain:
        keys += [SalesRollup.product_id, SalesRollup.price_id]
    measures = [func.sum(getattr(SalesRollup, name)) for name in rollups.SALES_MEASURES]
    query = (
        select(*keys, *measures)
        .where(SalesRollup.account_id == account_id, SalesRollup.model == model)
        .where(col(SalesRollup.day) >= period.start, col(SalesRollup.day) <= period.end)
        .group_by(*keys)
    )
    if product is not None:
        query = query.where(SalesRollup.product_id == product)
    elif products:
        query = query.where(col(SalesRollup.product_id) != "")
    else:
        query = query.where(SalesRollup.product_id == "")
    out = []
    names = [k.key for k in keys]
    for row in session.exec(query).all():
        values = dict(zip(names, row[: len(names)], strict=True))
        out.append(
            _Sales(
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


def _days(period: Period) -> Iterable[date]:
    return (period.start + timedelta(days=n) for n in range(period.days))


@dataclass
class _Names:
    campaigns: dict[int, tuple[str, str, str]]  # id -> (public id, name, channel)
    versions: dict[int, tuple[str, int, int]]  # id -> (public id, number, campaign id)
    active: dict[int, list[tuple[date, int]]]  # campaign -> [(first day active, version id)], by day
    groups: dict[int, str] = field(default_factory=dict)  # campaign id -> channel group

    def channel(self, campaign_id: int) -> str:
        return self.campaigns[campaign_id][2] if campaign_id in self.campaigns else DIRECT

    def channel_group(self, campaign_id: int) -> str:
        return self.groups.get(campaign_id, DIRECT)

    def version_on(self, campaign_id: int, day: date) -> int:
        """The version that was live at the end of ``day`` (where spend of that day is credited)."""
        chosen = 0
        for first_day, version_id in self.active.get(campaign_id, []):
            if first_day <= day:
                chosen = version_id
        return chosen


def _names(session: Session, account_id: int) -> _Names:
    zone = rollups.account_zone(session, account_id)
    campaigns: dict[int, tuple[str, str, str]] = {}
    groups: dict[int, str] = {}
    for cid, pid, name, channel, group in session.exec(
        select(Campaign.id, Campaign.public_id, Campaign.name, Campaign.channel, Campaign.channel_group).where(
            Campaign.account_id == account_id
        )
    ).all():
        campaigns[cid], groups[cid] = (pid, name, channel), group
    versions: dict[int, tuple[str, int, int]] = {}
    active: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for vid, pid, number, cid, published in session.exec(
        select(
            CampaignVersion.id,
            CampaignVersion.public_id,
            CampaignVersion.number,
            CampaignVersion.campaign_id,
            CampaignVersion.published_at,
        )
        .where(CampaignVersion.account_id == account_id)
        .order_by(col(CampaignVersion.published_at), col(CampaignVersion.id))
    ).all():
        versions[vid] = (pid, number, cid)
        active[cid].append((rollups.local_day(published, zone), vid))
    return _Names(campaigns, versions, dict(active), groups)


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _key_function(
    dimension: Dimension | None, names: _Names, period: Period
) -> tuple[Callable[..., str], Callable[[str], str]]:
    """How a row (day, campaign, version, product, price) maps to a dimension key, and a key to its label."""
    if dimension is None:
        return (lambda *_: "total"), (lambda _k: "Total")
    if dimension is Dimension.CAMPAIGN:

        def campaign_label(key: str) -> str:
            cid = int(key)
            return names.campaigns[cid][1] if cid in names.campaigns else "Direct / unmatched"

        return (lambda d, c, v, p, pr: str(c)), campaign_label
    if dimension is Dimension.VERSION:

        def version_label(key: str) -> str:
            vid = int(key)
            if vid not in names.versions:
                return "Direct / unmatched"
            _pid, number, cid = names.versions[vid]
            return f"{names.campaigns.get(cid, ('', '?', ''))[1]} v{number}"

        return (lambda d, c, v, p, pr: str(v)), version_label
    if dimension is Dimension.CHANNEL:
        return (lambda d, c, v, p, pr: names.channel(c)), (lambda k: "Direct / unmatched" if k == DIRECT else k)
    if dimension is Dimension.CHANNEL_GROUP:
        return (lambda d, c, v, p, pr: names.channel_group(c)), (
            lambda k: "Direct / unmatched" if k == DIRECT else CHANNEL_GROUP_LABELS.get(k, k)
        )
    if dimension is Dimension.PRODUCT:
        return (lambda d, c, v, p, pr: p), (lambda k: k)
    if dimension is Dimension.PRICE:
        return (lambda d, c, v, p, pr: pr), (lambda k: k)
    if dimension is Dimension.DAY:
        return (lambda d, c, v, p, pr: d.isoformat()), (lambda k: k)
    if dimension is Dimension.WEEK:
        return (lambda d, c, v, p, pr: _week(d).isoformat()), (lambda k: f"week of {k}")
    return (lambda d, c, v, p, pr: d.replace(day=1).isoformat()), (
        lambda k: f"{calendar.month_abbr[int(k[5:7])]} {k[:4]}"
    )


def _figures(
    traffic: list[_Traffic],
    sales: list[_Sales],
    spend: list[DailySpend],
    key_of: Callable[..., str],
    keep: Callable[[int, int], bool],
    names: _Names,
    *,
    traffic_counts: bool,
    spend_counts: bool,
) -> dict[str, Figures]:
    out: dict[str, Figures] = defaultdict(Figures)
    if traffic_counts:
        for t in traffic:
            if keep(t.campaign_id, t.version_id):
                figures = out[key_of(t.day, t.campaign_id, t.version_id, "", "")]
                figures.sessions += t.sessions
                figures.visitors += t.visitors
                figures.converted_sessions += t.converted
    for s in sales:
        if not keep(s.campaign_id, s.version_id):
            continue
        figures = out[key_of(s.day, s.campaign_id, s.version_id, s.product_id, s.price_id)]
        m = s.measures
        figures.orders_micro += m["orders_micro"]
        figures.new_customers_micro += m["new_customers_micro"]
        figures.renewals_micro += m["renewals_micro"]
        money = figures.currency(s.currency)
        money.gross += m["gross"]
        money.renewal_revenue += m["renewal_revenue"]
        money.refunds += m["refunds"]
    if spend_counts:
        for row in spend:
            version = names.version_on(row.campaign_id, row.day)
            if not keep(row.campaign_id, version):
                continue
            figures = out[key_of(row.day, row.campaign_id, version, "", "")]
            figures.currency(row.currency).spend += row.amount
            figures.impressions += row.impressions
            figures.clicks += row.clicks
    return dict(out)


def account_today(session: Session, account_id: int) -> date:
    from app.models.base import utcnow

    return rollups.local_day(utcnow(), rollups.account_zone(session, account_id))


def metrics(*, session: Session, account_id: int, query: MetricsQuery, source: str = "auto") -> MetricsReport:
    """Figures for ``query``: a total and one row per dimension value, each with the comparison period's.

    ``source``: ``auto`` (rollups for the default lookback, raw otherwise), ``rollup`` or ``raw``.
    """
    try:
        model = AttributionModel(query.model).value
    except ValueError as error:
        raise ValidationFailed(
            f"model must be one of {', '.join(m.value for m in AttributionModel)}.", field="model"
        ) from error
    if query.lookback_days not in LOOKBACK_DAYS:
        raise ValidationFailed(
            f"lookback must be one of {', '.join(map(str, LOOKBACK_DAYS))} days.", field="lookback_days"
        )
    if source == "auto":
        source = "rollup" if query.lookback_days == DEFAULT_LOOKBACK_DAYS else "raw"
    if source == "rollup" and query.lookback_days != DEFAULT_LOOKBACK_DAYS:
        raise ValidationFailed("Rollups are kept for the default lookback only.", field="lookback_days")
    period = Period(query.start, query.end)
    if period.end < period.start:
        raise ValidationFailed("The end date is before the start date.", field="end")
    if period.days > MAX_DAYS:
        raise ValidationFailed(f"A range may span at most {MAX_DAYS} days.", field="start")
    comparison = comparison_period(period, query.compare)
    names = _names(session, account_id)
    campaign_id: int | None = None
    if query.campaign:
        match = [cid for cid, (pid, _n, _c) in names.campaigns.items() if pid == query.campaign]
        if not match:
            raise NotFound("No campaign with this id.", field="campaign")
        campaign_id = match[0]

    def keep(cid: int, _vid: int) -> bool:
        if campaign_id is not None and cid != campaign_id:
            return False
        if query.channel_group and names.channel_group(cid) != query.channel_group:
            return False
        return not (query.channel and names.channel(cid) != query.channel)

    product_dimension = query.dimension in {Dimension.PRODUCT, Dimension.PRICE}
    key_of, label_of = _key_function(query.dimension, names, period)
    # What the rows must be grouped by in SQL (campaign and currency always: filters and money need them).
    grain = frozenset(
        {"day"} if query.dimension in TIME_DIMENSIONS else {"version"} if query.dimension is Dimension.VERSION
        else {"product"} if product_dimension else set()
    )  # fmt: skip

    def total_key(*_: Any) -> str:
        return "total"

    def figures_for(p: Period) -> tuple[dict[str, Figures], Figures]:
        # Order-level sales rows count each order once; product rows count an order for each product in it. Traffic
        # and spend have no product: rows by product leave them out, and a product filter keeps the sessions (the
        # conversion rate is sessions that converted with an order containing the product / all sessions) but not
        # the spend.
        traffic = _traffic(session, account_id, p, source, grain)
        if query.product:
            traffic = [replace(t, converted=0) for t in traffic]
            traffic += _product_conversions(session, account_id, p, query.product)
        spend = daily_spend(session=session, account_id=account_id, start=p.start, end=p.end)
        order_sales: list[_Sales] = []
        product_sales: list[_Sales] = []
        if not query.product:
            order_sales = _sales(session, account_id, p, model, query.lookback_days, source, products=False,
                                 grain=grain)  # fmt: skip
        if product_dimension or query.product:
            product_sales = _sales(session, account_id, p, model, query.lookback_days, source, products=True,
                                   grain=grain, product=query.product)  # fmt: skip
        row_sales = product_sales if product_dimension or query.product else order_sales
        total_sales = product_sales if query.product else order_sales
        rows = _figures(traffic, row_sales, spend, key_of, keep, names, traffic_counts=not product_dimension,
                        spend_counts=not product_dimension and not query.product)  # fmt: skip
        total = _figures(traffic, total_sales, spend, total_key, keep, names, traffic_counts=True,
                         spend_counts=not query.product)  # fmt: skip
        return rows, total.get("total", Figures())

    current_rows, current_total = figures_for(period)
    previous_rows: dict[str, Figures] = {}
    previous_total: Figures | None = None
    if comparison is not None:
        previous_rows, previous_total = figures_for(comparison)
    if query.dimension in TIME_DIMENSIONS and comparison is not None:
        # Time rows pair by position: day 1 with the comparison's day 1.
        keys = sorted(current_rows)
        shifted = {
            key: previous_rows.get(key_of(date.fromisoformat(key) - (period.start - comparison.start), 0, 0, "", ""))
            for key in keys
        }
        rows = [MetricsRow(k, label_of(k), current_rows[k], shifted.get(k)) for k in keys]
    else:
        keys = sorted(set(current_rows) | set(previous_rows))
        rows = [MetricsRow(k, label_of(k), current_rows.get(k, Figures()), previous_rows.get(k)) for k in keys]
        rows.sort(key=lambda r: (-_net_sort(r.figures), r.label))
    currencies = sorted({c for r in [current_total, previous_total] if r for c in r.money})
    return MetricsReport(
        period=period,
        comparison=comparison,
        model=model,
        lookback_days=query.lookback_days,
        source=source,
        total=MetricsRow("total", "Total", current_total, previous_total),
        rows=rows,
        currencies=currencies,
    )


@dataclass
class WindowFigures:
    """Figures over an exact time window (alerts: the last hour, 24 hours, 7 days), by campaign, by campaign
    version, and by campaign and product (sales only). Keys use internal ids; campaign 0 is direct."""

    start: datetime
    end: datetime
    campaigns: dict[int, Figures]
    versions: dict[tuple[int, int], Figures]
    products: dict[tuple[int, str], Figures]

    def campaign(self, campaign_id: int) -> Figures:
        return self.campaigns.get(campaign_id, Figures())


def _prorated_spend(session: Session, account_id: int, start: datetime, end: datetime) -> list[DailySpend]:
    """Daily spend of the days the window overlaps, each counted for the share of its day inside the window
    (spend is stored per day: an hour's spend is its day's spend spread evenly)."""
    zone = rollups.account_zone(session, account_id)
    first, last = rollups.local_day(start, zone), rollups.local_day(end - timedelta(microseconds=1), zone)
    out = []
    for row in daily_spend(session=session, account_id=account_id, start=first, end=last):
        day_start, day_end = rollups.day_bounds(row.day, zone)
        inside = (min(end, day_end) - max(start, day_start)).total_seconds()
        share = max(inside, 0) / (day_end - day_start).total_seconds()
        if share <= 0:
            continue
        out.append(
            DailySpend(row.day, row.campaign_id, row.currency, round(row.amount * share),
                       round(row.impressions * share), round(row.clicks * share))
        )  # fmt: skip
    return out


def window_figures(
    *, session: Session, account_id: int, start: datetime, end: datetime, model: str = AttributionModel.LAST_TOUCH
) -> WindowFigures:
    """Sessions started, payments and refunds made in ``[start, end)`` (same rules as the daily rollups, computed
    from the raw tables), and spend prorated to the window."""
    names = _names(session, account_id)
    day = rollups.local_day(start, rollups.account_zone(session, account_id))
    traffic = [_traffic_row(day, r) for r in rollups.traffic_between(session, account_id, start, end)]
    sales = [
        _Sales(day, c, v, product, price, currency, measures)
        for (_m, c, v, product, price, currency), measures in rollups.sales_between(
            session, account_id, start, end, models=[str(model)]
        ).items()
    ]
    order_sales = [s for s in sales if not (s.product_id or s.price_id)]
    product_sales = [s for s in sales if s.product_id]
    spend = _prorated_spend(session, account_id, start, end)

    def everything(_cid: int, _vid: int) -> bool:
        return True

    by_campaign = _figures(traffic, order_sales, spend, lambda d, c, v, p, pr: str(c), everything, names,
                           traffic_counts=True, spend_counts=True)  # fmt: skip
    by_version = _figures(traffic, order_sales, spend, lambda d, c, v, p, pr: f"{c}:{v}", everything, names,
                          traffic_counts=True, spend_counts=True)  # fmt: skip
    by_product = _figures([], product_sales, [], lambda d, c, v, p, pr: f"{c}:{p}", everything, names,
                          traffic_counts=False, spend_counts=False)  # fmt: skip
    return WindowFigures(
        start=start,
        end=end,
        campaigns={int(k): f for k, f in by_campaign.items()},
        versions={(int(k.split(":")[0]), int(k.split(":")[1])): f for k, f in by_version.items()},
        products={(int(k.split(":", 1)[0]), k.split(":", 1)[1]): f for k, f in by_product.items()},
    )


def _net_sort(figures: Figures) -> float:
    return float(sum(m.net for m in figures.money.values())) + figures.orders_micro / 1e12


def figure_dict(figures: Figures | None) -> dict[str, Any] | None:
    """Figures as plain data (API, CSV export, assistant tools): counts, rates and money per currency."""
    if figures is None:
        return None
    return {
        "sessions": figures.sessions,
        "visitors": figures.visitors,
        "converted_sessions": figures.converted_sessions,
        "orders": round(figures.orders, 6),
        "new_customers": round(figures.new_customers, 6),
        "returning_customers": round(figures.returning_customers, 6),
        "renewals": round(figures.renewals, 6),
        "conversion_rate": figures.conversion_rate,
        "impressions": figures.impressions,
        "clicks": figures.clicks,
        "money": {
            code: {
                "gross": m.gross,
                "renewal_revenue": m.renewal_revenue,
                "refunds": m.refunds,
                "net": m.net,
                "spend": m.spend,
                "aov": figures.aov(code),
                "roas": figures.roas(code),
                "cpa": figures.cpa(code),
                "refund_rate": figures.refund_rate(code),
            }
            for code, m in sorted(figures.money.items())
        },
    }


@dataclass
class VersionWindow:
    """One version's figures over its own window: the first ``days`` days it was live (all versions get windows of
    the same length, so v1 and v2 compare like for like; volumes are shown so small samples are visible)."""

    version_id: str
    number: int
    start: date
    end: date
    live_days: int
    figures: Figures


def version_comparison(
    *, session: Session, account_id: int, campaign_public_id: str, days: int | None = None, model: str = "last_touch"
) -> list[VersionWindow]:
    """Each version of a campaign over aligned windows: from the day it went live, for ``days`` days (default: the
    shortest time any version was live, at most 90), clipped to today."""
    names = _names(session, account_id)
    campaign_id = next((cid for cid, (pid, _n, _c) in names.campaigns.items() if pid == campaign_public_id), None)
    if campaign_id is None:
        raise NotFound("No campaign with this id.", field="campaign")
    today = account_today(session, account_id)
    schedule = names.active.get(campaign_id, [])
    spans = []
    for index, (first_day, version_id) in enumerate(schedule):
        next_day = schedule[index + 1][0] if index + 1 < len(schedule) else today + timedelta(days=1)
        spans.append((version_id, first_day, max(1, (next_day - first_day).days)))
    if not spans:
        return []
    length = days or min(90, min(live for _v, _s, live in spans))
    if not 1 <= length <= MAX_DAYS:
        raise ValidationFailed(f"days must be between 1 and {MAX_DAYS}.", field="days")
    windows = []
    for version_id, first_day, live in spans:
        end = min(first_day + timedelta(days=length - 1), today)
        query = MetricsQuery(start=first_day, end=end, model=model, compare=Compare.NONE, campaign=campaign_public_id,
                             dimension=Dimension.VERSION)  # fmt: skip
        report = metrics(session=session, account_id=account_id, query=query)
        row = next((r for r in report.rows if r.key == str(version_id)), None)
        pid, number, _cid = names.versions[version_id]
        windows.append(VersionWindow(pid, number, first_day, end, live, row.figures if row else Figures()))
    return windows


def public_ids(session: Session, account_id: int, dimension: Dimension | None) -> dict[str, str]:
    """Rows by campaign or version are keyed by internal ids: their public ids (``cmp_…``, ``cv_…``) for links,
    filters and the API; no campaign is ``direct``. Empty for other dimensions (their keys are public already)."""
    if dimension not in {Dimension.CAMPAIGN, Dimension.VERSION}:
        return {}
    names = _names(session, account_id)
    table = names.campaigns if dimension is Dimension.CAMPAIGN else names.versions
    return {"0": DIRECT, **{str(internal): values[0] for internal, values in table.items()}}
