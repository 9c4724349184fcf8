"""The metrics query: figures for a date range, in total and by one dimension, each with the comparison period's,
from the rollups (default lookback) or the raw tables (any lookback)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlmodel import Session

from app.services import rollups
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, LOOKBACK_DAYS, AttributionModel
from app.services.errors import NotFound, ValidationFailed
from app.services.metrics.ads import AD_DIMENSIONS, ad_figures, ad_labels
from app.services.metrics.figures import Figures, MetricsReport, MetricsRow
from app.services.metrics.grouping import (
    CAMPAIGN_DIMENSIONS,
    DIRECT,
    IMPORTED,
    TIME_DIMENSIONS,
    CampaignNames,
    Dimension,
    campaign_names,
    key_function,
    sum_figures,
)
from app.services.metrics.periods import Compare, Period, check_span, comparison_period
from app.services.metrics.sources import SalesRow, product_conversions, read_sales, read_traffic
from app.services.spend import DailySpend, daily_spend


@dataclass(frozen=True)
class MetricsQuery:
    """What to measure: the range, the dimension of the rows, attribution, the comparison and the filters."""

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


class SharedReads:
    """What several reports of one page read alike, read once: the account's campaigns and versions, and the spend
    of each period (the overview's by-day and by-campaign reports are of the same 30 days)."""

    def __init__(self, session: Session, account_id: int) -> None:
        self._session, self._account_id = session, account_id
        self._names: CampaignNames | None = None
        self._spend: dict[tuple[Period, frozenset[str] | None], list[DailySpend]] = {}

    def names(self) -> CampaignNames:
        if self._names is None:
            self._names = campaign_names(self._session, self._account_id)
        return self._names

    def spend(self, period: Period, by: frozenset[str] | None) -> list[DailySpend]:
        """``daily_spend`` of ``period``, summed in SQL per currency and ``by``'s columns (None: every row)."""
        found = self._spend.get((period, by))
        if found is None:
            found = self._spend[(period, by)] = daily_spend(
                session=self._session, account_id=self._account_id, start=period.start, end=period.end, by=by
            )
        return found


def metrics(
    *, session: Session, account_id: int, query: MetricsQuery, source: str = "auto", shared: SharedReads | None = None
) -> MetricsReport:
    """Figures for ``query``: a total and one row per dimension value, each with the comparison period's.

    ``source``: ``auto`` (rollups for the default lookback, raw otherwise), ``rollup`` or ``raw``. ``shared``: the
    reads of the other reports of the same page (``overview_reports``), or None.
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
    check_span(period)
    comparison = comparison_period(period, query.compare)
    shared = shared or SharedReads(session, account_id)
    names = shared.names()
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
    key_of, label_of = key_function(query.dimension, names)
    labels = None
    if query.dimension in AD_DIMENSIONS:
        if query.product:
            raise ValidationFailed("Rows by ad set or ad cannot be filtered by product.", field="product")
        labels = ad_labels(session, account_id, query.dimension)
        label_of = labels.label
    # What the rows must be grouped by in SQL (currency always: money is never summed across currencies); the rest is
    # summed in SQL. The campaign only when a row's key or a filter needs it (campaign, version, channel, a filter).
    grain = frozenset(
        {"day"}
        if query.dimension in TIME_DIMENSIONS
        else {"version"}
        if query.dimension is Dimension.VERSION
        else {"product"}
        if product_dimension
        else set()
    ) | (
        {"campaign"}
        if query.campaign or query.channel or query.channel_group or query.dimension in CAMPAIGN_DIMENSIONS
        else set()
    )

    # Spend is credited to the version live that day: rows by version need it per day and campaign.
    spend_grain = None if "version" in grain else grain & {"day", "campaign"}

    def total_key(_day: date, _campaign: int, _version: int, _product: str, _price: str) -> str:
        return "total"

    def figures_for(p: Period) -> tuple[dict[str, Figures], Figures]:
        # Order-level sales rows count each order once; product rows count an order for each product in it. Traffic
        # and spend have no product: rows by product leave them out, and a product filter keeps the sessions (the
        # conversion rate is sessions that converted with an order containing the product / all sessions) but not
        # the spend.
        traffic = read_traffic(session, account_id, p, source, grain)
        if query.product:
            traffic = [replace(t, converted=0) for t in traffic]
            traffic += product_conversions(session, account_id, p, query.product)
        spend = shared.spend(p, spend_grain)
        order_sales: list[SalesRow] = []
        product_sales: list[SalesRow] = []
        if not query.product:
            order_sales = read_sales(
                session, account_id, p, model, query.lookback_days, source, products=False, grain=grain
            )
        if product_dimension or query.product:
            product_sales = read_sales(
                session,
                account_id,
                p,
                model,
                query.lookback_days,
                source,
                products=True,
                grain=grain,
                product=query.product,
            )
        row_sales = product_sales if product_dimension or query.product else order_sales
        total_sales = product_sales if query.product else order_sales
        total = sum_figures(
            traffic, total_sales, spend, total_key, keep, names, traffic_counts=True, spend_counts=not query.product
        )
        if labels is not None:  # rows from the ad-level rollups; the total as for every other dimension
            ad_rows = ad_figures(session, account_id, p, model=model, lookback_days=query.lookback_days,
                                 source=source, labels=labels, keep=keep)  # fmt: skip
            return ad_rows, total.get("total", Figures())
        rows = sum_figures(
            traffic,
            row_sales,
            spend,
            key_of,
            keep,
            names,
            traffic_counts=not product_dimension,
            spend_counts=not product_dimension and not query.product,
        )
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


@dataclass(frozen=True)
class OverviewReports:
    by_day: MetricsReport
    by_day_before: MetricsReport | None  # by day, over the comparison period
    by_campaign: MetricsReport


def overview_reports(
    *,
    session: Session,
    account_id: int,
    period: Period,
    comparison: Period | None,
    model: str,
    source: str = "auto",
    shared: SharedReads | None = None,
) -> OverviewReports:
    """The overview's three reports (``/``): ``period`` by day, ``comparison`` by day, ``period`` by campaign, each
    without a comparison of its own; the account's campaigns and each period's spend read once for the three (and
    for the caller's other reads, with ``shared``)."""
    shared = shared or SharedReads(session, account_id)

    def report(p: Period, dimension: Dimension) -> MetricsReport:
        query = MetricsQuery(start=p.start, end=p.end, dimension=dimension, model=model, compare=Compare.NONE)
        return metrics(session=session, account_id=account_id, query=query, source=source, shared=shared)

    return OverviewReports(
        report(period, Dimension.DAY),
        report(comparison, Dimension.DAY) if comparison else None,
        report(period, Dimension.CAMPAIGN),
    )


def _net_sort(figures: Figures) -> float:
    return float(sum(m.net for m in figures.money.values())) + figures.orders_micro / 1e12


def public_ids(
    session: Session, account_id: int, dimension: Dimension | None, shared: SharedReads | None = None
) -> dict[str, str]:
    """Rows by campaign or version are keyed by internal ids: their public ids (``cmp_…``, ``cv_…``) for links,
    filters and the API; no campaign is ``direct``. Empty for other dimensions (their keys are public already)."""
    if dimension not in {Dimension.CAMPAIGN, Dimension.VERSION}:
        return {}
    names = (shared or SharedReads(session, account_id)).names()
    table = names.campaigns if dimension is Dimension.CAMPAIGN else names.versions
    return {
        "0": DIRECT,
        str(rollups.IMPORTED): IMPORTED,
        **{str(internal): values[0] for internal, values in table.items()},
    }
