"""Lifetime value and cohorts: what the customers acquired in a range of days are worth N days after their first
order, by acquiring campaign, version, channel, product or first-order month, with new-customer CPA, LTV:CAC and
payback; and the cohort grid (first-order month × months since).

The per-customer rules live in ``services/lifetime``. For the default model and lookback (``source="rollup"``)
figures come from ``rollup_acquisition`` (per first-order day) or ``rollup_customer`` (per customer); otherwise from
the same per-customer rows computed on the fly (``source="live"``: any model and lookback, and checks). Both add up
the same integers, so they agree exactly.

Definitions (docs/guide/lifetime-value.md):
- customers acquired = Σ customer shares (a multi-touch first order splits a customer);
- LTV at N days = Σ net of days 0 … N−1 after each first order / customers, over the customers whose first order was
  at least N days before today (younger cohorts are left out of that horizon, not counted as zero);
- new-customer CPA = spend / customers acquired (per spend currency; by version, the spend of the days that version
  was live; by product n/a: spend is not per product); LTV:CAC = LTV at N / CPA;
- payback = the first checkpoint day N at which LTV at N ≥ CPA, or "not yet";
- money is per currency, never summed across currencies; a ratio without a base is None ("n/a").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from app.models import AcquisitionValue, AdSpend, CustomerValue
from app.models.base import table_of
from app.services import lifetime, rollups
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, LOOKBACK_DAYS, AttributionModel
from app.services.errors import NotFound, ValidationFailed
from app.services.metrics.figures import ratio
from app.services.metrics.grouping import (
    IMPORTED,
    IMPORTED_LABEL,
    CampaignNames,
    Dimension,
    campaign_names,
    key_function,
)
from app.services.metrics.periods import Period, account_today, check_span

HORIZONS: tuple[int, ...] = (30, 60, 90, 180, 365)
COHORT_MONTHS = 12  # month m of a cohort: days 0 … 30·m − 1 after the first order
LTV_DIMENSIONS = (Dimension.CAMPAIGN, Dimension.VERSION, Dimension.CHANNEL, Dimension.PRODUCT, Dimension.MONTH)
_ACQUISITION = {Dimension.CAMPAIGN, Dimension.VERSION, Dimension.CHANNEL}

# A group of per-customer rows: campaign, version, product, first month, imported, currency (unused parts: defaults).
GroupKey = tuple[int, int, str, date | None, bool, str]
# What is summed per group: ("customers", 0), ("eligible", N), ("net", N), ("net_total", 0), ("subscribers", N),
# ("active", N) — N a checkpoint; "eligible" rows are those whose first order is at least N days old.
Measure = tuple[str, int]


# --- summing per-customer rows: in SQL (rollup) or in Python (live), the same measures ---------------------------


def _sql_measure(measure: Measure, table: Any) -> Any:
    """The SQL sum of ``measure``; a cohort's age is compared with the bound parameter ``cut_N`` (today − N days)."""
    kind, n = measure
    old_enough = table.c.first_day <= bindparam(f"cut_{n}")
    if kind == "customers":
        return func.sum(table.c.customers_micro)
    if kind == "net_total":
        return func.sum(table.c.net_total)
    if kind == "eligible":
        return func.sum(case((old_enough, table.c.customers_micro), else_=0))
    if kind == "net":
        return func.sum(case((old_enough, table.c[f"net_d{n}"]), else_=0))
    if kind == "subscribers":
        return func.sum(case((old_enough, table.c.subscriber_micro), else_=0))
    active: ColumnElement[bool] = and_(old_enough, or_(table.c.ended_days.is_(None), table.c.ended_days >= n))
    return func.sum(case((active, table.c.subscriber_micro), else_=0))


def _row_measure(row: lifetime.CustomerRow, measure: Measure, today: date) -> int:
    kind, n = measure
    old_enough = row.first_day <= today - timedelta(days=n)
    if kind == "customers":
        return row.customers_micro
    if kind == "net_total":
        return row.net_total
    if not old_enough:
        return 0
    if kind == "eligible":
        return row.customers_micro
    if kind == "net":
        return row.nets[n]
    if kind == "subscribers":
        return row.subscriber_micro
    return row.subscriber_micro if row.ended_days is None or row.ended_days >= n else 0


_UNCUT = frozenset({"customers", "net_total"})  # measures that count every cohort, whatever its age
_QUERIES: dict[tuple[bool, frozenset[str], tuple[Measure, ...]], tuple[Any, list[str]]] = {}


def _rollup_query(per_customer: bool, grain: frozenset[str], measures: tuple[Measure, ...]) -> tuple[Any, list[str]]:
    """The grouped sums over ``rollup_customer`` (per customer) or ``rollup_acquisition``, built once per shape
    (building the statement cost more than running it), with its group column names."""
    found = _QUERIES.get((per_customer, grain, measures))
    if found is not None:
        return found
    table = table_of(CustomerValue if per_customer else AcquisitionValue)
    columns: dict[str, Any] = {"campaign": table.c.campaign_id}
    if "version" in grain:
        columns["version"] = table.c.campaign_version_id
    if "product" in grain:
        columns["product"] = table.c.product_id
    if "month" in grain:
        columns["month"] = table.c.first_month
    columns["imported"] = table.c.imported
    columns["currency"] = table.c.currency
    query = (
        sa_select(*columns.values(), *(_sql_measure(m, table) for m in measures))
        .where(table.c.account_id == bindparam("account_id"))
        .where(table.c.first_day >= bindparam("start"), table.c.first_day <= bindparam("end"))
        .group_by(*columns.values())
    )
    found = _QUERIES[(per_customer, grain, measures)] = (query, list(columns))
    return found


def _group_sums(
    session: Session,
    account_id: int,
    period: Period,
    today: date,
    grain: frozenset[str],
    measures: list[Measure],
    *,
    source: str,
    model: str,
    lookback_days: int,
) -> dict[GroupKey, list[int]]:
    """Per group (by campaign always, and version / product / first month when ``grain`` has them, imported and
    currency), the sums of ``measures`` over the customers whose first order's day is in ``period``."""
    out: dict[GroupKey, list[int]] = {}
    if source == "rollup":
        # Per first-order day and version where it will do (the LTV table: ~25× fewer rows); per customer for the
        # product (not in the day sums) and for subscriptions still active (each customer's end).
        per_customer = "product" in grain or any(kind == "active" for kind, _n in measures)
        query, names = _rollup_query(per_customer, grain, tuple(measures))
        params: dict[str, Any] = {"account_id": account_id, "start": period.start, "end": period.end}
        params |= {f"cut_{n}": today - timedelta(days=n) for kind, n in measures if kind not in _UNCUT}
        for row in session.execute(query, params).all():
            values = dict(zip(names, row[: len(names)], strict=True))
            key: GroupKey = (
                int(values["campaign"]),
                int(values.get("version", 0)),
                str(values.get("product", "")),
                values.get("month"),
                bool(values["imported"]),
                str(values["currency"]),
            )
            out[key] = [int(v or 0) for v in row[len(names) :]]
        return out
    for customer in lifetime.customer_rows(session, account_id, model=model, lookback_days=lookback_days):
        if not period.start <= customer.first_day <= period.end:
            continue
        key = (
            customer.campaign_id,
            customer.campaign_version_id if "version" in grain else 0,
            customer.product_id if "product" in grain else "",
            customer.first_month if "month" in grain else None,
            customer.imported,
            customer.currency,
        )
        sums = out.setdefault(key, [0] * len(measures))
        for index, measure in enumerate(measures):
            sums[index] += _row_measure(customer, measure, today)
    return out


# --- figures --------------------------------------------------------------------------------------------------------


@dataclass
class LtvMoney:
    """One currency's money of a group of customers: net revenue at each checkpoint (of the cohorts old enough for
    it), net revenue to date, and the spend that acquired them (None: spend is not known per this dimension)."""

    currency: str
    nets: dict[int, int] = field(default_factory=lambda: dict.fromkeys(lifetime.CHECKPOINTS, 0))
    net_total: int = 0
    spend: int | None = 0


@dataclass
class LtvFigures:
    customers_micro: int = 0
    eligible_micro: dict[int, int] = field(default_factory=lambda: dict.fromkeys(lifetime.CHECKPOINTS, 0))
    money: dict[str, LtvMoney] = field(default_factory=dict)
    spend_known: bool = True

    def currency(self, code: str) -> LtvMoney:
        money = self.money.get(code)
        if money is None:
            money = self.money[code] = LtvMoney(code, spend=0 if self.spend_known else None)
        return money

    @property
    def customers(self) -> float:
        return self.customers_micro / rollups.MICRO

    def eligible(self, days: int) -> float:
        """Customers whose first order is at least ``days`` days old (the ones the horizon counts)."""
        return self.eligible_micro[days] / rollups.MICRO

    def ltv(self, code: str, days: int) -> float | None:
        """Cumulative net revenue per customer ``days`` days after the first order; None without old enough
        customers."""
        money = self.money.get(code)
        return ratio(money.nets[days], self.eligible(days)) if money else None

    def cpa(self, code: str) -> float | None:
        """Spend per new customer; None ("n/a") without spend in ``code``, without customers, or by product."""
        money = self.money.get(code)
        if money is None or not money.spend:
            return None
        return ratio(money.spend, self.customers)

    def ltv_cac(self, code: str, days: int) -> float | None:
        value, cpa = self.ltv(code, days), self.cpa(code)
        return None if value is None or cpa is None else ratio(value, cpa)

    def payback_days(self, code: str) -> int | None:
        """The first checkpoint day at which LTV ≥ CPA; None when not yet (or when CPA is n/a: see ``payback``)."""
        cpa = self.cpa(code)
        if cpa is None:
            return None
        for days in lifetime.CHECKPOINTS:
            value = self.ltv(code, days)
            if value is not None and value >= cpa:
                return days
        return None

    def payback(self, code: str) -> str:
        """``"n/a"`` (no CPA), ``"not yet"``, or ``"N days"``."""
        if self.cpa(code) is None:
            return "n/a"
        days = self.payback_days(code)
        return "not yet" if days is None else f"{days} days"

    def add(self, sums: dict[Measure, int], code: str) -> None:
        self.customers_micro += sums[("customers", 0)]
        money = self.currency(code)
        money.net_total += sums[("net_total", 0)]
        for days in lifetime.CHECKPOINTS:
            self.eligible_micro[days] += sums[("eligible", days)]
            money.nets[days] += sums[("net", days)]


@dataclass
class LtvRow:
    key: str
    label: str
    figures: LtvFigures


@dataclass
class LtvReport:
    period: Period
    as_of: date
    model: str
    lookback_days: int
    source: str  # rollup | live
    dimension: Dimension | None
    total: LtvRow
    rows: list[LtvRow]
    currencies: list[str]


@dataclass(frozen=True)
class LtvQuery:
    """Customers whose first order's day is in ``start`` … ``end``, by one acquiring dimension."""

    start: date
    end: date
    dimension: Dimension | None = Dimension.CAMPAIGN
    model: str = AttributionModel.LAST_TOUCH.value
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    campaign: str | None = None  # public id
    channel: str | None = None  # platform, ``direct`` or ``imported``


_LTV_MEASURES: list[Measure] = [
    ("customers", 0),
    ("net_total", 0),
    *(("eligible", n) for n in lifetime.CHECKPOINTS),
    *(("net", n) for n in lifetime.CHECKPOINTS),
]


def _check(model: str, lookback_days: int, source: str) -> tuple[str, str]:
    try:
        chosen = AttributionModel(model).value
    except ValueError as error:
        raise ValidationFailed(
            f"model must be one of {', '.join(m.value for m in AttributionModel)}.", field="model"
        ) from error
    if lookback_days not in LOOKBACK_DAYS:
        raise ValidationFailed(
            f"lookback must be one of {', '.join(map(str, LOOKBACK_DAYS))} days.", field="lookback_days"
        )
    default = chosen == lifetime.DEFAULT_MODEL and lookback_days == DEFAULT_LOOKBACK_DAYS
    if source == "auto":
        source = "rollup" if default else "live"
    if source not in {"rollup", "live"}:
        raise ValidationFailed("source must be auto, rollup or live.", field="source")
    if source == "rollup" and not default:
        raise ValidationFailed(
            f"Customer rollups are kept for {lifetime.DEFAULT_MODEL} and {DEFAULT_LOOKBACK_DAYS} days only.",
            field="model",
        )
    return chosen, source


def _filter(
    names: CampaignNames, campaign: str | None, channel: str | None
) -> tuple[Callable[[int, bool], bool], int | None]:
    campaign_id: int | None = None
    if campaign:
        match = [cid for cid, (pid, _n, _c) in names.campaigns.items() if pid == campaign]
        if not match:
            raise NotFound("No campaign with this id.", field="campaign")
        campaign_id = match[0]

    def keep(cid: int, imported: bool) -> bool:
        if campaign_id is not None and (imported or cid != campaign_id):
            return False
        if channel:
            return (IMPORTED if imported else names.channel(cid)) == channel
        return True

    return keep, campaign_id


def _spend(session: Session, account_id: int, period: Period, *, by_day: bool) -> list[tuple[date, int, str, int]]:
    """Spend of the period as (day, campaign, currency, amount), summed in SQL per campaign and currency, and per day
    when ``by_day`` (versions and months need the day; otherwise the day is the period's start)."""
    columns: list[Any] = [col(AdSpend.campaign_id), col(AdSpend.currency)]
    if by_day:
        columns.append(col(AdSpend.day))
    query = (
        sa_select(*columns, func.sum(AdSpend.amount))
        .where(col(AdSpend.account_id) == account_id)
        .where(col(AdSpend.day) >= period.start, col(AdSpend.day) <= period.end)
        .group_by(*columns)
    )
    return [
        (row[2] if by_day else period.start, int(row[0]), str(row[1]), int(row[-1] or 0))
        for row in session.execute(query).all()
    ]


def lifetime_value(
    *, session: Session, account_id: int, query: LtvQuery, source: str = "auto", today: date | None = None
) -> LtvReport:
    """Customers acquired in the query's days, in total and by one dimension: customers, LTV at each checkpoint,
    new-customer CPA, LTV:CAC and payback, per currency.

    ``source``: ``auto`` (the rollup for the default model and lookback, live otherwise), ``rollup`` or ``live``.
    """
    model, source = _check(query.model, query.lookback_days, source)
    if query.dimension is not None and query.dimension not in LTV_DIMENSIONS:
        raise ValidationFailed(
            f"dimension must be one of {', '.join(d.value for d in LTV_DIMENSIONS)}.", field="dimension"
        )
    period = Period(query.start, query.end)
    check_span(period)
    today = today or account_today(session, account_id)
    names = campaign_names(session, account_id)
    keep, _campaign_id = _filter(names, query.campaign, query.channel)
    dimension = query.dimension
    grain = frozenset(
        {"version"}
        if dimension is Dimension.VERSION
        else {"product"}
        if dimension is Dimension.PRODUCT
        else {"month"}
        if dimension is Dimension.MONTH
        else set()
    )
    groups = _group_sums(
        session, account_id, period, today, grain, _LTV_MEASURES,
        source=source, model=model, lookback_days=query.lookback_days,
    )  # fmt: skip
    key_of, label_of = key_function(dimension, names)
    spend_known = dimension is not Dimension.PRODUCT
    rows: dict[str, LtvFigures] = {}
    total = LtvFigures()
    for (campaign_id, version_id, product_id, month, imported, currency), values in groups.items():
        if not keep(campaign_id, imported):
            continue
        sums = dict(zip(_LTV_MEASURES, values, strict=True))
        if imported and dimension in _ACQUISITION:
            key = IMPORTED
        else:
            key = key_of(month or period.start, campaign_id, version_id, product_id, "")
        rows.setdefault(key, LtvFigures(spend_known=spend_known)).add(sums, currency)
        total.add(sums, currency)
    spend: dict[tuple[str, str], int] = defaultdict(int)
    for day, campaign_id, currency, amount in _spend(session, account_id, period, by_day=dimension is not None):
        if not keep(campaign_id, False):
            continue
        total_money = total.currency(currency)
        total_money.spend = (total_money.spend or 0) + amount
        if spend_known:
            version = names.version_on(campaign_id, day) if dimension is Dimension.VERSION else 0
            spend[(key_of(day, campaign_id, version, "", ""), currency)] += amount
    for (key, currency), amount in spend.items():
        money = rows.setdefault(key, LtvFigures()).currency(currency)
        money.spend = (money.spend or 0) + amount

    def label(key: str) -> str:
        return IMPORTED_LABEL if key == IMPORTED and dimension in _ACQUISITION else label_of(key)

    out = [LtvRow(key, label(key), figures) for key, figures in rows.items()]
    if dimension is Dimension.MONTH:
        out.sort(key=lambda r: r.key)
    else:
        out.sort(key=lambda r: (-r.figures.customers_micro, r.label))
    return LtvReport(
        period=period,
        as_of=today,
        model=model,
        lookback_days=query.lookback_days,
        source=source,
        dimension=dimension,
        total=LtvRow("total", "Total", total),
        rows=out,
        currencies=sorted(total.money),
    )


def ltv_dict(figures: LtvFigures) -> dict[str, Any]:
    """Figures as plain data (API, CSV export, assistant tools): customers, and per currency LTV at each horizon,
    net to date, spend, CPA, LTV:CAC and payback."""
    return {
        "customers": round(figures.customers, 6),
        "customers_by_horizon": {str(n): round(figures.eligible(n), 6) for n in HORIZONS},
        "money": {
            code: {
                "ltv": {str(n): figures.ltv(code, n) for n in HORIZONS},
                "net_to_date": m.net_total,
                "spend": m.spend,
                "cpa": figures.cpa(code),
                "ltv_cac": {str(n): figures.ltv_cac(code, n) for n in HORIZONS},
                "payback_days": figures.payback_days(code),
                "payback": figures.payback(code),
            }
            for code, m in sorted(figures.money.items())
        },
    }


# --- cohorts --------------------------------------------------------------------------------------------------------


@dataclass
class CohortCell:
    """Month ``months`` of a cohort (days 0 … 30·months − 1): None when the cohort is not that old yet."""

    months: int
    customers_micro: int
    net: dict[str, int]
    subscribers_micro: int
    active_micro: int

    def net_per_customer(self, code: str) -> float | None:
        return ratio(self.net.get(code, 0), self.customers_micro / rollups.MICRO) if self.customers_micro else None

    @property
    def active_share(self) -> float | None:
        return ratio(self.active_micro, self.subscribers_micro)


@dataclass
class CohortRow:
    month: date
    label: str
    customers_micro: int
    cells: list[CohortCell | None]


@dataclass
class CohortReport:
    period: Period
    as_of: date
    model: str
    lookback_days: int
    source: str
    months: list[int]
    rows: list[CohortRow]
    currencies: list[str]


def _cohort_measures() -> list[Measure]:
    out: list[Measure] = [("customers", 0)]
    for m in range(1, COHORT_MONTHS + 1):
        out += [("eligible", 30 * m), ("net", 30 * m), ("subscribers", 30 * m), ("active", 30 * m)]
    return out


def cohorts(
    *,
    session: Session,
    account_id: int,
    start: date,
    end: date,
    campaign: str | None = None,
    channel: str | None = None,
    model: str = AttributionModel.LAST_TOUCH.value,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    source: str = "auto",
    today: date | None = None,
) -> CohortReport:
    """First-order month × months since (1 … 12, 30 days each): cumulative net revenue per customer and, for
    customers whose first order was a subscription, the share still active; only cohorts old enough fill a cell."""
    model, source = _check(model, lookback_days, source)
    period = Period(start, end)
    check_span(period)
    today = today or account_today(session, account_id)
    names = campaign_names(session, account_id)
    keep, _campaign_id = _filter(names, campaign, channel)
    measures = _cohort_measures()
    groups = _group_sums(
        session, account_id, period, today, frozenset({"month"}), measures,
        source=source, model=model, lookback_days=lookback_days,
    )  # fmt: skip
    by_month: dict[date, dict[Measure, int]] = defaultdict(lambda: dict.fromkeys(measures, 0))
    nets: dict[tuple[date, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    currencies: set[str] = set()
    for (campaign_id, _v, _p, month, imported, currency), values in groups.items():
        if month is None or not keep(campaign_id, imported):
            continue
        sums = dict(zip(measures, values, strict=True))
        target = by_month[month]
        for measure in measures:
            if measure[0] != "net":
                target[measure] += sums[measure]
        for m in range(1, COHORT_MONTHS + 1):
            nets[(month, m)][currency] += sums[("net", 30 * m)]
        currencies.add(currency)
    _key, label_of = key_function(Dimension.MONTH, names)
    rows = []
    for month in sorted(by_month):
        sums = by_month[month]
        cells: list[CohortCell | None] = []
        for m in range(1, COHORT_MONTHS + 1):
            eligible = sums[("eligible", 30 * m)]
            cells.append(
                CohortCell(m, eligible, dict(nets[(month, m)]), sums[("subscribers", 30 * m)], sums[("active", 30 * m)])
                if eligible
                else None
            )
        rows.append(CohortRow(month, label_of(month.isoformat()), sums[("customers", 0)], cells))
    return CohortReport(
        period=period,
        as_of=today,
        model=model,
        lookback_days=lookback_days,
        source=source,
        months=list(range(1, COHORT_MONTHS + 1)),
        rows=rows,
        currencies=sorted(currencies),
    )


def cohort_dict(report: CohortReport) -> list[dict[str, Any]]:
    """The cohort grid as plain data (API, CSV, assistant)."""
    return [
        {
            "month": row.month.isoformat(),
            "customers": round(row.customers_micro / rollups.MICRO, 6),
            "cells": [
                None
                if cell is None
                else {
                    "months": cell.months,
                    "customers": round(cell.customers_micro / rollups.MICRO, 6),
                    "net_per_customer": {code: cell.net_per_customer(code) for code in report.currencies},
                    "active_share": cell.active_share,
                }
                for cell in row.cells
            ],
        }
        for row in report.rows
    ]
