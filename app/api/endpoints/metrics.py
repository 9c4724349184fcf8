"""``GET /api/v1/metrics`` (secret key): the dashboard's figures as JSON, from the same metrics service; and
``GET /api/v1/metrics/versions``: a campaign's versions compared, with how sure "B beat A" is; and
``/metrics/ltv``, ``/metrics/cohorts`` and ``/metrics/blended``: lifetime value, cohorts and blended figures."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import SecretKeyDep, SessionDep
from app.api.params import choice, day
from app.api.schemas import (
    BlendedOut,
    BlendedResponse,
    ClaimedFigures,
    CohortsResponse,
    ErrorResponse,
    LtvResponse,
    LtvRowOut,
    MetricsFigures,
    MetricsPeriod,
    MetricsResponse,
    PlatformVsVerifiedResponse,
    PlatformVsVerifiedRow,
    VersionComparisonResponse,
)
from app.models import AttributionModel
from app.services import metrics as metric_service
from app.services import platform_vs_verified as pvv
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, LOOKBACK_DAYS
from app.services.errors import ValidationFailed
from app.services.metrics import LTV_DIMENSIONS, Compare, Dimension, LtvQuery, MetricsQuery, MetricsRow, Period, Preset

router = APIRouter(tags=["metrics"])
_ERRORS: dict[int | str, dict[str, Any]] = {k: {"model": ErrorResponse} for k in (401, 404, 422)}


def _choice(value: str | None, enum: Any, name: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return enum(value)
    except ValueError as error:
        raise ValidationFailed(f"{name} must be one of {', '.join(m.value for m in enum)}.", field=name) from error


# A currency the comparison period has no money in: its sums were zero, its ratios had no base.
_NO_MONEY = {"gross": 0, "renewal_revenue": 0, "refunds": 0, "net": 0, "spend": 0}


def deltas(current: Any, previous: Any, *, money: bool = False) -> Any:
    """The figures' shape with ``{absolute, percent}`` for each number (None where there is nothing to compare)."""
    if isinstance(current, dict):
        previous = previous if isinstance(previous, dict) else {}
        if money:
            return {code: deltas(value, previous.get(code, _NO_MONEY)) for code, value in current.items()}
        return {key: deltas(value, previous.get(key), money=key == "money") for key, value in current.items()}
    if isinstance(current, int | float) or current is None:
        found = metric_service.delta(current, previous if isinstance(previous, int | float) else None)
        return {"absolute": found.absolute, "percent": found.percent}
    return None


def _period(period: Period) -> MetricsPeriod:
    return MetricsPeriod(start=period.start, end=period.end, days=period.days)


def _row(row: MetricsRow, key: str) -> MetricsFigures:
    figures = metric_service.figure_dict(row.figures) or {}
    previous = metric_service.figure_dict(row.previous)
    return MetricsFigures(
        key=key,
        label=row.label,
        figures=figures,
        previous=previous,
        deltas=deltas(figures, previous) if previous is not None else None,
    )


def _requested_period(session: Any, account_id: int, preset: str, start: date | None, end: date | None) -> Period:
    """The days asked for: a preset, or ``range=custom`` with both dates, in the account's timezone."""
    if (start is not None or end is not None) and preset != Preset.CUSTOM.value:
        raise ValidationFailed("start and end need range=custom.", field="range")
    today = metric_service.account_today(session, account_id)
    return metric_service.resolve_period(preset, today=today, start=start, end=end)


@router.get("/metrics", response_model=MetricsResponse, responses=_ERRORS)
def get_metrics(
    identity: SecretKeyDep,
    session: SessionDep,
    preset: Annotated[
        str, choice(Preset, alias="range", description="a preset, or custom with start and end")
    ] = Preset.LAST_28_DAYS.value,
    start: Annotated[date | None, day("first day (range=custom), in the account's timezone")] = None,
    end: Annotated[date | None, day("last day, inclusive (range=custom)")] = None,
    compare: Annotated[str, choice(Compare)] = Compare.PREVIOUS.value,
    dimension: Annotated[str | None, choice(Dimension)] = None,
    model: Annotated[str, choice(AttributionModel)] = "last_touch",
    lookback_days: Annotated[int, choice(LOOKBACK_DAYS)] = DEFAULT_LOOKBACK_DAYS,
    campaign: Annotated[str | None, Query(max_length=40, description="campaign id (cmp_…)")] = None,
    channel: Annotated[str | None, Query(max_length=40, description="platform: meta | google | … | direct")] = None,
    channel_group: Annotated[
        str | None, Query(max_length=40, description="paid_social | paid_search | … | direct")
    ] = None,
    product: Annotated[str | None, Query(max_length=100, description="Stripe product id (prod_…)")] = None,
) -> MetricsResponse:
    """Figures for a date range (in the account's timezone) with the comparison period's, in total and by one
    dimension. Money is per currency in minor units, never summed across currencies; visitors are daily unique
    visitors summed over the days. Lookbacks other than 28 days are computed from the raw data (``source: raw``)."""
    compared = _choice(compare, Compare, "compare") or Compare.PREVIOUS
    by = _choice(dimension, Dimension, "dimension")
    period = _requested_period(session, identity.account_id, preset, start, end)
    query = MetricsQuery(
        start=period.start,
        end=period.end,
        dimension=by,
        model=model,
        lookback_days=lookback_days,
        compare=compared,
        campaign=campaign or None,
        channel=channel or None,
        product=product or None,
        channel_group=channel_group or None,
    )
    report = metric_service.metrics(session=session, account_id=identity.account_id, query=query)
    keys = metric_service.public_ids(session, identity.account_id, by)
    return MetricsResponse(
        period=_period(report.period),
        comparison=None if report.comparison is None else _period(report.comparison),
        dimension=by.value if by else None,
        model=report.model,
        lookback_days=report.lookback_days,
        source=report.source,
        currencies=report.currencies,
        total=_row(report.total, "total"),
        rows=[_row(row, keys.get(row.key, row.key)) for row in report.rows],
    )


@router.get("/metrics/versions", response_model=VersionComparisonResponse, responses=_ERRORS)
def get_version_comparison(
    identity: SecretKeyDep,
    session: SessionDep,
    campaign: Annotated[str, Query(max_length=40, description="campaign id (cmp_…)")],
    days: Annotated[
        int | None, Query(ge=1, le=metric_service.MAX_DAYS, description="window length (default: shortest live)")
    ] = None,
    model: Annotated[str, choice(AttributionModel)] = "last_touch",
    a: Annotated[str | None, Query(max_length=40, description="a version to compare: cv_…, v2 or 2")] = None,
    b: Annotated[str | None, Query(max_length=40, description="the version compared with a")] = None,
) -> VersionComparisonResponse:
    """A campaign's versions over windows of the same length from the day each went live, each consecutive pair
    (and ``a`` against ``b`` when both are given) with the winner or what is missing: P(B better) and the 95 %
    intervals for conversion rate and net revenue per session (per currency), the minimum detectable effect, and
    the whole shop's change over the same windows. The threshold is the account's winner probability."""
    report = metric_service.version_report(
        session=session, account_id=identity.account_id, campaign_public_id=campaign, days=days, model=model, a=a, b=b
    )
    return VersionComparisonResponse.model_validate({"campaign": campaign, **metric_service.report_dict(report)})


def _claimed(row: pvv.PlatformVsVerifiedRow) -> ClaimedFigures:
    return ClaimedFigures(
        currency=row.claimed.currency,
        spend=row.claimed.spend,
        claimed_purchases=row.claimed.purchases,
        claimed_value=row.claimed.value,
        verified_orders=row.verified_orders,
        verified_net=row.verified_net,
        reporting_ratio=row.reporting_ratio,
        platform_roas=row.platform_roas,
        verified_roas=row.verified_roas,
    )


@router.get("/metrics/platform-vs-verified", response_model=PlatformVsVerifiedResponse, responses=_ERRORS)
def get_platform_vs_verified(
    identity: SecretKeyDep,
    session: SessionDep,
    preset: Annotated[
        str, choice(Preset, alias="range", description="a preset, or custom with start and end")
    ] = Preset.LAST_28_DAYS.value,
    start: Annotated[date | None, day("first day (range=custom)")] = None,
    end: Annotated[date | None, day("last day, inclusive (range=custom)")] = None,
    compare: Annotated[str, choice(Compare)] = Compare.PREVIOUS.value,
    model: Annotated[str, choice(AttributionModel)] = "last_touch",
    lookback_days: Annotated[int, choice(LOOKBACK_DAYS)] = DEFAULT_LOOKBACK_DAYS,
    campaign: Annotated[str | None, Query(max_length=40, description="campaign id (cmp_…)")] = None,
) -> PlatformVsVerifiedResponse:
    """What Meta and Google Ads claim (purchases, value, from their synced reports) against the Stripe-verified
    orders and net revenue credited to each campaign, with the over-/under-reporting ratio and both ROAS. Money per
    currency, never summed; the platform campaigns mapped to no campaign are one row with ``campaign: ""``."""
    _choice(compare, Compare, "compare")
    _choice(model, AttributionModel, "model")
    period = _requested_period(session, identity.account_id, preset, start, end)
    report = pvv.platform_vs_verified(
        session=session,
        account_id=identity.account_id,
        start=period.start,
        end=period.end,
        model=model,
        lookback_days=lookback_days,
        compare=compare,
        campaign_public_id=campaign or None,
    )
    return PlatformVsVerifiedResponse(
        period=_period(report.period),
        comparison=None if report.comparison is None else _period(report.comparison),
        model=report.model,
        timezones_differ=report.timezones_differ,
        rows=[
            PlatformVsVerifiedRow(
                campaign=row.campaign_public_id,
                campaign_name=row.campaign_name,
                platforms=list(row.platforms),
                figures=_claimed(row),
                previous=_claimed(report.previous[row.campaign_public_id])
                if row.campaign_public_id in report.previous
                else None,
            )
            for row in report.rows
        ],
    )


def _first_orders(session: Any, account_id: int, start: date | None, end: date | None) -> tuple[date, date]:
    """The first-order days asked for; by default the 365 days ending today (the account's timezone)."""
    today = metric_service.account_today(session, account_id)
    end = end or today
    return start or end - timedelta(days=364), end


@router.get("/metrics/ltv", response_model=LtvResponse, responses=_ERRORS)
def get_lifetime_value(
    identity: SecretKeyDep,
    session: SessionDep,
    start: Annotated[date | None, day("first day of the customers' first orders (default: end - 364 days)")] = None,
    end: Annotated[date | None, day("last day of the customers' first orders, inclusive (default: today)")] = None,
    dimension: Annotated[str | None, choice(LTV_DIMENSIONS, description="the acquiring dimension")] = "campaign",
    model: Annotated[str, choice(AttributionModel)] = "last_touch",
    lookback_days: Annotated[int, choice(LOOKBACK_DAYS)] = DEFAULT_LOOKBACK_DAYS,
    campaign: Annotated[str | None, Query(max_length=40, description="acquiring campaign id (cmp_…)")] = None,
    channel: Annotated[
        str | None, Query(max_length=40, description="acquiring platform: meta | google | … | direct | imported")
    ] = None,
) -> LtvResponse:
    """What the customers acquired in a range of days are worth: customers, cumulative net revenue per customer at
    30/60/90/180/365 days (each horizon counts only customers whose first order is that old), new-customer CPA,
    LTV:CAC and payback, in total and by acquiring campaign, version, channel (platform), product or first-order
    month. Customers imported from Stripe's history are the ``imported`` row. Money per currency in minor units.
    The default model and lookback read the customer rollup (``source: rollup``); others are computed live."""
    by = _choice(dimension, Dimension, "dimension")
    first, last = _first_orders(session, identity.account_id, start, end)
    query = LtvQuery(start=first, end=last, dimension=by, model=model, lookback_days=lookback_days,
                     campaign=campaign or None, channel=channel or None)  # fmt: skip
    report = metric_service.lifetime_value(session=session, account_id=identity.account_id, query=query)
    keys = metric_service.public_ids(session, identity.account_id, by)
    return LtvResponse(
        period=_period(report.period),
        as_of=report.as_of,
        dimension=by.value if by else None,
        model=report.model,
        lookback_days=report.lookback_days,
        source=report.source,
        currencies=report.currencies,
        horizons=list(metric_service.HORIZONS),
        total=LtvRowOut(key="total", label="Total", figures=metric_service.ltv_dict(report.total.figures)),
        rows=[
            LtvRowOut(key=keys.get(r.key, r.key), label=r.label, figures=metric_service.ltv_dict(r.figures))
            for r in report.rows
        ],
    )


@router.get("/metrics/cohorts", response_model=CohortsResponse, responses=_ERRORS)
def get_cohorts(
    identity: SecretKeyDep,
    session: SessionDep,
    start: Annotated[date | None, day("first day of the customers' first orders (default: end - 364 days)")] = None,
    end: Annotated[date | None, day("last day of the customers' first orders, inclusive (default: today)")] = None,
    model: Annotated[str, choice(AttributionModel)] = "last_touch",
    lookback_days: Annotated[int, choice(LOOKBACK_DAYS)] = DEFAULT_LOOKBACK_DAYS,
    campaign: Annotated[str | None, Query(max_length=40, description="acquiring campaign id (cmp_…)")] = None,
    channel: Annotated[
        str | None, Query(max_length=40, description="acquiring platform: meta | google | … | direct | imported")
    ] = None,
) -> CohortsResponse:
    """First-order month × months since: cumulative net revenue per customer and the share of subscriptions still
    active, for the customers acquired by ``campaign`` / ``channel`` (all by default)."""
    first, last = _first_orders(session, identity.account_id, start, end)
    report = metric_service.cohorts(session=session, account_id=identity.account_id, start=first, end=last,
                                    campaign=campaign or None, channel=channel or None, model=model,
                                    lookback_days=lookback_days)  # fmt: skip
    return CohortsResponse(
        period=_period(report.period),
        as_of=report.as_of,
        model=report.model,
        lookback_days=report.lookback_days,
        source=report.source,
        currencies=report.currencies,
        months=report.months,
        rows=metric_service.cohort_dict(report),
    )


@router.get("/metrics/blended", response_model=BlendedResponse, responses=_ERRORS)
def get_blended(
    identity: SecretKeyDep,
    session: SessionDep,
    preset: Annotated[
        str, choice(Preset, alias="range", description="a preset, or custom with start and end")
    ] = Preset.LAST_28_DAYS.value,
    start: Annotated[date | None, day("first day (range=custom), in the account's timezone")] = None,
    end: Annotated[date | None, day("last day, inclusive (range=custom)")] = None,
    model: Annotated[str, choice(AttributionModel)] = "last_touch",
) -> BlendedResponse:
    """The whole business beside the campaigns, per currency: MER (all net revenue / all ad spend) and blended
    new-customer CPA (all spend / all new customers), with the attributed ROAS and new-customer CPA (what the model
    credits to campaigns: not direct, not imported) and the attributed share of net revenue."""
    period = _requested_period(session, identity.account_id, preset, start, end)
    query = MetricsQuery(start=period.start, end=period.end, dimension=Dimension.CAMPAIGN, model=model,
                         compare=Compare.NONE)  # fmt: skip
    report = metric_service.metrics(session=session, account_id=identity.account_id, query=query)
    return BlendedResponse(
        period=_period(report.period),
        model=report.model,
        currencies=[BlendedOut(**asdict(b)) for b in metric_service.blended(report)],
    )
