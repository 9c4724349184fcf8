"""What the ad platforms claim against what was paid: per PaidSignal campaign, the purchases and purchase value Meta
and Google Ads report for the platform campaigns mapped to it, next to the Stripe-verified orders and net revenue the
attribution model credits to it; the over-/under-reporting ratio (claimed / verified purchases) and platform ROAS
(claimed value / spend) against verified ROAS (verified net revenue / spend).

Money stays per currency: a ROAS is computed only where revenue and spend share a currency. Platform figures are per
day of the ad account's timezone, verified figures per day of the account's: over a range the two line up, a single
day may not (``timezones_differ`` says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models import Account, AdConnection, Campaign, Order, PlatformCampaign, PlatformDaily, ReportLevel
from app.services import metrics as metric_service
from app.services import rollups
from app.services.attribution import DEFAULT_LOOKBACK_DAYS
from app.services.errors import NotFound
from app.services.metrics import Compare, Dimension, MetricsQuery, Period, ratio
from app.services.metrics.periods import check_span
from app.services.platform_rows import campaign_days

MICRO = 1_000_000


@dataclass(frozen=True)
class Claimed:
    """A platform's figures in one currency."""

    currency: str
    spend: int = 0
    purchases_micro: int = 0
    value: int = 0

    @property
    def purchases(self) -> float:
        return self.purchases_micro / MICRO


@dataclass(frozen=True)
class PlatformVsVerifiedRow:
    campaign_public_id: str  # "" for the platform campaigns mapped to no campaign
    campaign_name: str
    platforms: tuple[str, ...]
    claimed: Claimed  # one currency: a campaign's platform campaigns share it (mapping refuses a second one)
    verified_orders: float
    verified_net: dict[str, int] = field(default_factory=dict)  # per currency

    @property
    def reporting_ratio(self) -> float | None:
        """Claimed / verified purchases: 1.3 = the platform claims 30 % more than was paid; None without orders."""
        return ratio(self.claimed.purchases, self.verified_orders)

    @property
    def platform_roas(self) -> float | None:
        return ratio(self.claimed.value, self.claimed.spend)

    @property
    def verified_roas(self) -> float | None:
        net = self.verified_net.get(self.claimed.currency)
        return ratio(net, self.claimed.spend) if net is not None else None


@dataclass(frozen=True)
class PlatformVsVerifiedReport:
    period: Period
    comparison: Period | None
    rows: list[PlatformVsVerifiedRow]
    previous: dict[str, PlatformVsVerifiedRow]  # by campaign public id ("" = unmapped)
    model: str
    timezones_differ: bool


def _claims(session: Session, account_id: int, period: Period) -> dict[int | None, tuple[set[str], Claimed]]:
    """Per mapped campaign id (None: unmapped), the platforms and their campaign-level claims over the period."""
    found = session.execute(
        campaign_days(
            col(PlatformCampaign.campaign_id),
            col(AdConnection.platform),
            col(PlatformDaily.currency),
            func.sum(PlatformDaily.spend),
            func.sum(PlatformDaily.purchases_micro),
            func.sum(PlatformDaily.purchase_value),
            account_id=account_id,
            start=period.start,
            end=period.end,
        ).group_by(col(PlatformCampaign.campaign_id), col(AdConnection.platform), col(PlatformDaily.currency))
    ).all()
    result: dict[int | None, tuple[set[str], Claimed]] = {}
    for campaign_id, platform, currency, spend, purchases, value in found:
        key = None if campaign_id is None else int(campaign_id)
        platforms, before = result.get(key, (set(), Claimed(str(currency))))
        if before.currency != currency and before.spend >= int(spend or 0):
            continue  # a second currency (only unmapped campaigns can have one): the larger stays, never summed
        if before.currency != currency:
            before = Claimed(str(currency))
        platforms.add(str(platform))
        result[key] = (
            platforms,
            Claimed(
                str(currency),
                before.spend + int(spend or 0),
                before.purchases_micro + int(purchases or 0),
                before.value + int(value or 0),
            ),
        )
    return result


def _rows(session: Session, account_id: int, period: Period, model: str, lookback_days: int,
          campaign_id: int | None) -> list[PlatformVsVerifiedRow]:  # fmt: skip
    claims = _claims(session, account_id, period)
    if campaign_id is not None:
        claims = {k: v for k, v in claims.items() if k == campaign_id}
    if not claims:
        return []
    report = metric_service.metrics(
        session=session,
        account_id=account_id,
        query=MetricsQuery(
            period.start,
            period.end,
            dimension=Dimension.CAMPAIGN,
            model=model,
            lookback_days=lookback_days,
            compare=Compare.NONE,
        ),
    )
    verified = {row.key: row.figures for row in report.rows}
    names = {
        cid: (pid, name)
        for cid, pid, name in session.exec(
            select(Campaign.id, Campaign.public_id, Campaign.name).where(Campaign.account_id == account_id)
        ).all()
    }
    rows = []
    for cid, (platforms, claimed) in claims.items():
        public_id, name = names.get(cid, ("", "")) if cid is not None else ("", "")
        figures = verified.get(str(cid)) if cid is not None else None
        rows.append(
            PlatformVsVerifiedRow(
                campaign_public_id=public_id,
                campaign_name=name,
                platforms=tuple(sorted(platforms)),
                claimed=claimed,
                verified_orders=figures.orders if figures else 0.0,
                verified_net={c: m.net for c, m in figures.money.items()} if figures else {},
            )
        )
    return sorted(rows, key=lambda r: (not r.campaign_public_id, -r.claimed.spend, r.campaign_name))


def platform_vs_verified(
    *,
    session: Session,
    account_id: int,
    start: date,
    end: date,
    model: str = "last_touch",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    compare: str = Compare.PREVIOUS.value,
    campaign_public_id: str | None = None,
) -> PlatformVsVerifiedReport:
    """Per campaign with mapped platform campaigns (and one row for the unmapped ones): claimed vs verified over
    ``[start, end]``, and the comparison period's rows."""
    period = Period(start, end)
    check_span(period)
    comparison = metric_service.comparison_period(period, compare)
    campaign_id: int | None = None
    if campaign_public_id:
        campaign_id = session.exec(
            select(Campaign.id).where(Campaign.account_id == account_id, Campaign.public_id == campaign_public_id)
        ).first()
        if campaign_id is None:
            raise NotFound("No campaign with this id.", field="campaign")
    rows = _rows(session, account_id, period, model, lookback_days, campaign_id)
    previous = {}
    if comparison is not None:
        previous = {
            r.campaign_public_id: r for r in _rows(session, account_id, comparison, model, lookback_days, campaign_id)
        }
    account_tz = session.exec(select(Account.timezone).where(Account.id == account_id)).first() or "UTC"
    zones = set(session.exec(select(AdConnection.timezone).where(AdConnection.account_id == account_id)).all())
    return PlatformVsVerifiedReport(
        period=period,
        comparison=comparison,
        rows=rows,
        previous=previous,
        model=model,
        timezones_differ=any(z and z != account_tz for z in zones),
    )


@dataclass(frozen=True)
class DailyClaim:
    day: date
    claimed_purchases: float
    verified_orders: float


def daily_claims(
    *, session: Session, account_id: int, campaign_public_id: str, start: date, end: date, model: str = "last_touch"
) -> list[DailyClaim]:
    """Day by day for one campaign: claimed purchases (all its platform campaigns) and verified orders."""
    period = Period(start, end)
    check_span(period)
    campaign_id = session.exec(
        select(Campaign.id).where(Campaign.account_id == account_id, Campaign.public_id == campaign_public_id)
    ).first()
    if campaign_id is None:
        raise NotFound("No campaign with this id.", field="campaign")
    claimed: dict[date, int] = {}
    for day, purchases in session.execute(
        campaign_days(
            col(PlatformDaily.day), func.sum(PlatformDaily.purchases_micro), account_id=account_id, start=start, end=end
        )
        .where(col(PlatformCampaign.campaign_id) == campaign_id)
        .group_by(col(PlatformDaily.day))
    ).all():
        claimed[day] = int(purchases or 0)
    report = metric_service.metrics(
        session=session,
        account_id=account_id,
        query=MetricsQuery(
            start, end, dimension=Dimension.DAY, model=model, compare=Compare.NONE, campaign=campaign_public_id
        ),
    )
    verified = {row.key: row.figures.orders for row in report.rows}
    return [
        DailyClaim(day, claimed.get(day, 0) / MICRO, verified.get(day.isoformat(), 0.0))
        for day in (date.fromordinal(o) for o in range(start.toordinal(), end.toordinal() + 1))
    ]


def over_reporting_percent(
    *, session: Session, account_id: int, campaign_public_id: str, start: date, end: date, model: str = "last_touch"
) -> float | None:
    """How many more purchases the platforms claim than were paid, in percent (30 = 30 % more; negative: fewer);
    None without platform figures or verified orders. What alert rules on platform over-reporting watch."""
    report = platform_vs_verified(session=session, account_id=account_id, start=start, end=end, model=model,
                                  compare=Compare.NONE.value, campaign_public_id=campaign_public_id)  # fmt: skip
    ratio_ = report.rows[0].reporting_ratio if report.rows else None
    return None if ratio_ is None else (ratio_ - 1) * 100


@dataclass(frozen=True)
class BreakdownRow:
    """One ad set or ad of a campaign's platform campaigns: its claims, and the paid orders whose last touch landed
    with its id in the URL (``utm_term`` = ad set, ``utm_content`` = ad, from the URL templates)."""

    level: str  # adset | ad
    external_id: str
    name: str
    adset_id: str  # an ad's ad set
    claimed: Claimed
    verified_orders: int

    @property
    def reporting_ratio(self) -> float | None:
        return ratio(self.claimed.purchases, self.verified_orders)

    @property
    def platform_roas(self) -> float | None:
        return ratio(self.claimed.value, self.claimed.spend)


def _last_touch_ids(
    session: Session, account_id: int, campaign_id: int, start: date, end: date
) -> list[dict[str, Any]]:
    """The last touch of each paid order of days ``[start, end]`` credited (last touch) to the campaign."""
    zone = rollups.account_zone(session, account_id)
    since, until = rollups.day_bounds(start, zone)[0], rollups.day_bounds(end, zone)[1]
    found = session.exec(
        select(Order.attribution).where(
            Order.account_id == account_id,
            Order.campaign_id == campaign_id,
            col(Order.imported).is_(False),
            col(Order.paid_at) >= since,
            col(Order.paid_at) < until,
        )
    ).all()
    touches = []
    for attribution in found:
        listed = attribution.get("touches") if isinstance(attribution, dict) else None
        last = listed[-1] if isinstance(listed, list) and listed and isinstance(listed[-1], dict) else {}
        touches.append(last)
    return touches


def breakdown(
    *, session: Session, account_id: int, campaign_public_id: str, start: date, end: date
) -> list[BreakdownRow]:
    """The ad sets and ads of a campaign's platform campaigns over ``[start, end]``: claims per ad set and ad (synced
    names), and verified orders by last touch where landing URLs carried the ids. Ad sets first, each followed by its
    ads, by spend."""
    campaign_id = session.exec(
        select(Campaign.id).where(Campaign.account_id == account_id, Campaign.public_id == campaign_public_id)
    ).first()
    if campaign_id is None:
        raise NotFound("No campaign with this id.", field="campaign")
    mapped = session.exec(
        select(PlatformCampaign.connection_id, PlatformCampaign.external_id).where(
            PlatformCampaign.account_id == account_id, PlatformCampaign.campaign_id == campaign_id
        )
    ).all()
    if not mapped:
        return []
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for connection_id, campaign_external_id in mapped:
        for row in session.exec(
            select(PlatformDaily)
            .where(
                PlatformDaily.connection_id == connection_id,
                PlatformDaily.campaign_external_id == campaign_external_id,
                col(PlatformDaily.level).in_([ReportLevel.ADSET.value, ReportLevel.AD.value]),
                col(PlatformDaily.day) >= start,
                col(PlatformDaily.day) <= end,
            )
            .order_by(col(PlatformDaily.day))
        ).all():
            entry = totals.setdefault(
                (str(row.level), row.external_id),
                {"name": row.name, "adset": row.adset_external_id, "currency": row.currency, "sums": [0, 0, 0]},
            )
            entry["name"] = row.name or entry["name"]  # the newest day's name
            if row.currency == entry["currency"]:
                sums = entry["sums"]
                sums[0] += row.spend
                sums[1] += row.purchases_micro
                sums[2] += row.purchase_value
    paid_adsets: dict[str, int] = {}
    paid_ads: dict[str, int] = {}
    for touch in _last_touch_ids(session, account_id, campaign_id, start, end):
        if touch.get("utm_term"):
            paid_adsets[str(touch["utm_term"])] = paid_adsets.get(str(touch["utm_term"]), 0) + 1
        if touch.get("utm_content"):
            paid_ads[str(touch["utm_content"])] = paid_ads.get(str(touch["utm_content"]), 0) + 1
    rows = [
        BreakdownRow(
            level=level,
            external_id=external_id,
            name=str(entry["name"]),
            adset_id=str(entry["adset"]) if level == ReportLevel.AD.value else external_id,
            claimed=Claimed(str(entry["currency"]), *entry["sums"]),
            verified_orders=(paid_adsets if level == ReportLevel.ADSET.value else paid_ads).get(external_id, 0),
        )
        for (level, external_id), entry in totals.items()
    ]
    spend_of = {r.external_id: r.claimed.spend for r in rows if r.level == ReportLevel.ADSET.value}
    return sorted(
        rows,
        key=lambda r: (-spend_of.get(r.adset_id, 0), r.adset_id, r.level != ReportLevel.ADSET.value,
                       -r.claimed.spend, r.name),
    )  # fmt: skip
