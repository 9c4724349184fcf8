"""What the dashboard pages read, in one call each: the overview (``/``), the metrics explorer (``/metrics``) and
lifetime value (``/ltv``). They
combine the metrics, campaigns, events and Stripe catalogue services for the range a page's URL chose."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session

from app.services import campaigns as campaign_service
from app.services import events as event_service
from app.services import stripe_connection
from app.services.attribution import AttributionModel
from app.services.metrics import (
    DIRECT,
    IMPORTED,
    CohortReport,
    Compare,
    Dimension,
    LtvQuery,
    LtvReport,
    MetricsQuery,
    MetricsReport,
    Period,
    Preset,
    SharedReads,
    account_today,
    cohorts,
    comparison_period,
    has_figures,
    lifetime_value,
    metrics,
    overview_reports,
    public_ids,
    resolve_period,
)
from app.services.stripe_connection import PriceRow


@dataclass(frozen=True)
class DashboardRange:
    """A page's date range (a preset, or custom dates), its comparison and the attribution model."""

    preset: Preset
    compare: Compare
    model: AttributionModel
    start: date | None = None  # custom ranges only
    end: date | None = None


@dataclass(frozen=True)
class ResolvedRange:
    period: Period
    comparison: Period | None


def resolve_range(*, session: Session, account_id: int, choice: DashboardRange) -> ResolvedRange:
    """The range's days, ending today in the account's timezone at the latest, and the comparison's."""
    today = account_today(session, account_id)
    period = resolve_period(choice.preset, today=today, start=choice.start, end=choice.end)
    return ResolvedRange(period, comparison_period(period, choice.compare))


# --- the overview ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    period: Period
    comparison: Period | None
    by_day: MetricsReport
    by_day_before: MetricsReport | None  # by day, over the comparison period
    by_campaign: MetricsReport
    campaign_ids: dict[str, str]  # a campaign row's key (internal id) -> its public id; none for direct
    any_data: bool  # anything in the account at all, in this range or not (else the page offers to get started)


def overview(*, session: Session, account_id: int, choice: DashboardRange) -> Overview:
    """The overview's three queries: the period by day, the comparison period by day, the period by campaign."""
    found = resolve_range(session=session, account_id=account_id, choice=choice)
    period, comparison = found.period, found.comparison

    shared = SharedReads(session, account_id)  # the account's campaigns, read once for the reports and their links
    reports = overview_reports(
        session=session, account_id=account_id, period=period, comparison=comparison, model=choice.model, shared=shared
    )
    by_day, by_day_before, by_campaign = reports.by_day, reports.by_day_before, reports.by_campaign
    ids = {
        key: pid
        for key, pid in public_ids(session, account_id, Dimension.CAMPAIGN, shared).items()
        if pid not in {DIRECT, IMPORTED}
    }
    any_data = has_figures(by_day.total.figures) or has_figures(by_day_before.total.figures if by_day_before else None)
    if not any_data:
        any_data = bool(event_service.list_events(session=session, account_id=account_id, limit=1).events)
    return Overview(period, comparison, by_day, by_day_before, by_campaign, ids, any_data)


# --- the explorer ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExplorerQuery:
    """The explorer's rows, attribution lookback and filters (``None``: no filter)."""

    dimension: Dimension
    lookback_days: int
    campaign: str | None = None  # public id; one that is not this account's is left out
    channel: str | None = None  # platform
    channel_group: str | None = None
    product: str | None = None  # Stripe product id


@dataclass(frozen=True)
class Explorer:
    report: MetricsReport
    campaign: str | None  # the campaign filter applied
    campaigns: list[tuple[str, str]]  # every campaign as (public id, name), by name: the filter's choices
    prices: list[PriceRow]  # the catalogue, inactive prices too: product and price names
    # Row key -> the public id the API shows (``cmp_…``, ``cv_…``, ``direct``) where the metrics key rows by internal
    # ids (campaigns, versions); empty for other dimensions.
    keys: dict[str, str]


def explorer(*, session: Session, account_id: int, choice: DashboardRange, query: ExplorerQuery) -> Explorer:
    """The explorer's report for the range and choices, with what its filters and labels need."""
    period = resolve_range(session=session, account_id=account_id, choice=choice).period
    campaigns = campaign_service.campaign_choices(session=session, account_id=account_id)
    campaign = query.campaign if query.campaign in {pid for pid, _name in campaigns} else None
    metrics_query = MetricsQuery(
        start=period.start,
        end=period.end,
        dimension=query.dimension,
        model=choice.model,
        lookback_days=query.lookback_days,
        compare=choice.compare,
        campaign=campaign,
        channel=query.channel,
        product=query.product,
        channel_group=query.channel_group,
    )
    return Explorer(
        report=metrics(session=session, account_id=account_id, query=metrics_query),
        campaign=campaign,
        campaigns=campaigns,
        prices=stripe_connection.list_prices(session=session, account_id=account_id, include_inactive=True),
        keys=public_ids(session, account_id, query.dimension),
    )


# --- lifetime value ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LifetimeChoice:
    """The lifetime value page's choices: customers acquired over the last ``days`` days, by ``dimension``."""

    dimension: Dimension
    days: int
    model: AttributionModel
    lookback_days: int
    campaign: str | None = None  # public id; one that is not this account's is left out
    channel: str | None = None  # platform, ``direct`` or ``imported``


@dataclass(frozen=True)
class Lifetime:
    report: LtvReport
    cohorts: CohortReport
    campaign: str | None
    campaigns: list[tuple[str, str]]
    keys: dict[str, str]  # row key -> public id (campaigns, versions)


def lifetime(*, session: Session, account_id: int, choice: LifetimeChoice) -> Lifetime:
    """The LTV table by the chosen dimension and the cohort grid, for the customers whose first order was in the
    last ``days`` days (today included), with the campaign and channel filters."""
    today = account_today(session, account_id)
    start = today - timedelta(days=choice.days - 1)
    campaigns = campaign_service.campaign_choices(session=session, account_id=account_id)
    campaign = choice.campaign if choice.campaign in {pid for pid, _name in campaigns} else None
    query = LtvQuery(start=start, end=today, dimension=choice.dimension, model=choice.model,
                     lookback_days=choice.lookback_days, campaign=campaign, channel=choice.channel)  # fmt: skip
    report = lifetime_value(session=session, account_id=account_id, query=query, today=today)
    grid = cohorts(session=session, account_id=account_id, start=start, end=today, campaign=campaign,
                   channel=choice.channel, model=choice.model, lookback_days=choice.lookback_days,
                   today=today)  # fmt: skip
    keys = public_ids(session, account_id, choice.dimension)
    return Lifetime(report, grid, campaign, campaigns, keys)
