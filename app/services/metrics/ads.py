"""The ``ad_set`` and ``ad`` dimensions: figures per ad set or ad of the ad platforms, from the ad-level rollups
(``services/ad_rollups``) or the same per-day functions on the raw tables, and spend from the platforms'
synced daily rows at that level.

A session or an order's credit counts under an ad set / ad when its campaign is mapped to a platform campaign and its
touch landed with the platform's id (``utm_term`` / ``utm_content`` from the URL templates). Everything else (no id,
direct, imported, a campaign mapped to no platform campaign) is one bucket, ``none`` ("No ad set" / "No ad"); so is
spend that has no row at that level (CSV or API spend, a campaign not synced). Rows are labelled with the synced
name, the platform and the ad account's currency; an id the platform has not reported shows as the id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col

from app.models import AdConnection, AdSalesRollup, AdTrafficRollup, PlatformCampaign, PlatformDaily, ReportLevel
from app.services import rollups
from app.services.ad_connections import LABELS
from app.services.metrics.figures import Figures
from app.services.metrics.grouping import Dimension
from app.services.metrics.periods import Period
from app.services.spend import daily_spend

NONE_KEY = "none"  # the row of everything without an ad set (ad)
NONE_LABELS = {Dimension.AD_SET: "No ad set", Dimension.AD: "No ad"}
AD_DIMENSIONS = (Dimension.AD_SET, Dimension.AD)
_LEVELS = {Dimension.AD_SET: ReportLevel.ADSET, Dimension.AD: ReportLevel.AD}
_PLATFORMS = {platform.value: label for platform, label in LABELS.items()}


@dataclass
class AdLabels:
    """What the rows of one ad dimension are called: the synced names, and the platform and currency of each id."""

    dimension: Dimension
    names: dict[str, tuple[str, str, str]]  # platform id -> (synced name, platform, currency)
    mapped: dict[int, tuple[str, str]]  # campaign id -> (platform, currency) of a platform campaign mapped to it
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)  # ids met in rows: their campaign's platform

    def key(self, campaign_id: int, adset_id: str, ad_id: str) -> str:
        found = adset_id if self.dimension is Dimension.AD_SET else ad_id
        if not found or campaign_id not in self.mapped:
            return NONE_KEY
        self.seen.setdefault(found, self.mapped[campaign_id])
        return found

    def label(self, key: str) -> str:
        if key == NONE_KEY:
            return NONE_LABELS[self.dimension]
        name, platform, currency = self.names.get(key) or (key, *self.seen.get(key, ("", "")))
        return " · ".join(part for part in (name or key, _PLATFORMS.get(platform, platform), currency) if part)


def ad_labels(session: Session, account_id: int, dimension: Dimension) -> AdLabels:
    """The account's synced ad set (ad) names (the newest day's wins), and its mapped campaigns' platforms."""
    names: dict[str, tuple[str, str, str]] = {}
    for external_id, name, platform, currency in session.execute(
        sa_select(
            col(PlatformDaily.external_id),
            col(PlatformDaily.name),
            col(AdConnection.platform),
            col(PlatformDaily.currency),
        )
        .join(AdConnection, col(AdConnection.id) == col(PlatformDaily.connection_id))
        .where(col(PlatformDaily.account_id) == account_id, col(PlatformDaily.level) == _LEVELS[dimension].value)
        .order_by(col(PlatformDaily.day))
    ).all():
        names[str(external_id)] = (str(name or "") or names.get(str(external_id), ("",))[0], str(platform), currency)
    mapped: dict[int, tuple[str, str]] = {}
    for campaign_id, platform, currency in session.execute(
        sa_select(col(PlatformCampaign.campaign_id), col(AdConnection.platform), col(AdConnection.currency))
        .join(AdConnection, col(AdConnection.id) == col(PlatformCampaign.connection_id))
        .where(col(PlatformCampaign.account_id) == account_id, col(PlatformCampaign.campaign_id).is_not(None))
        .order_by(col(PlatformCampaign.id))
    ).all():
        mapped.setdefault(int(campaign_id), (str(platform), str(currency or "")))
    return AdLabels(dimension, names, mapped)


def _traffic(session: Session, account_id: int, period: Period, source: str) -> list[tuple[Any, ...]]:
    """(campaign, ad set, ad, sessions, visitors, converted) rows over the period."""
    if source == "raw":
        zone = rollups.account_zone(session, account_id)
        return [
            (r["campaign_id"], r["adset_id"], r["ad_id"], r["sessions"], r["visitors"], r["converted_sessions"])
            for day in period.dates()
            for r in rollups.ad_traffic_for_day(session, account_id, day, zone)
        ]
    keys: list[Mapped[Any]] = [
        col(AdTrafficRollup.campaign_id),
        col(AdTrafficRollup.adset_id),
        col(AdTrafficRollup.ad_id),
    ]
    return [
        tuple(row)
        for row in session.execute(
            sa_select(
                *keys,
                func.sum(AdTrafficRollup.sessions),
                func.sum(AdTrafficRollup.visitors),
                func.sum(AdTrafficRollup.converted_sessions),
            )
            .where(col(AdTrafficRollup.account_id) == account_id)
            .where(col(AdTrafficRollup.day) >= period.start, col(AdTrafficRollup.day) <= period.end)
            .group_by(*keys)
        ).all()
    ]


def _sales(
    session: Session, account_id: int, period: Period, model: str, lookback: int, source: str
) -> list[tuple[int, str, str, str, dict[str, int]]]:
    """(campaign, ad set, ad, currency, measures) rows over the period, under ``model``."""
    if source == "raw":
        zone = rollups.account_zone(session, account_id)
        return [
            (c, adset, ad, currency, measures)
            for day in period.dates()
            for (_m, c, adset, ad, currency), measures in rollups.ad_sales_for_day(
                session, account_id, day, zone, models=[model], lookback_days=lookback
            ).items()
        ]
    keys: list[Mapped[Any]] = [
        col(AdSalesRollup.campaign_id),
        col(AdSalesRollup.adset_id),
        col(AdSalesRollup.ad_id),
        col(AdSalesRollup.currency),
    ]
    found = session.execute(
        sa_select(*keys, *(func.sum(getattr(AdSalesRollup, m)) for m in rollups.SALES_MEASURES))
        .where(col(AdSalesRollup.account_id) == account_id, col(AdSalesRollup.model) == model)
        .where(col(AdSalesRollup.day) >= period.start, col(AdSalesRollup.day) <= period.end)
        .group_by(*keys)
    ).all()
    return [
        (int(row[0]), str(row[1]), str(row[2]), str(row[3]),
         dict(zip(rollups.SALES_MEASURES, map(int, row[4:]), strict=True)))
        for row in found
    ]  # fmt: skip


def _platform_spend(
    session: Session, account_id: int, period: Period, dimension: Dimension
) -> list[tuple[date, int, str, str, int, int, int]]:
    """The synced rows at the dimension's level whose platform campaign is mapped, as (day, campaign id, platform
    id, currency, spend, impressions, clicks)."""
    found = session.execute(
        sa_select(
            col(PlatformDaily.day),
            col(PlatformCampaign.campaign_id),
            col(PlatformDaily.external_id),
            col(PlatformDaily.currency),
            col(PlatformDaily.spend),
            col(PlatformDaily.impressions),
            col(PlatformDaily.clicks),
        )
        .join(
            PlatformCampaign,
            (col(PlatformCampaign.connection_id) == col(PlatformDaily.connection_id))
            & (col(PlatformCampaign.external_id) == col(PlatformDaily.campaign_external_id)),
        )
        .where(
            col(PlatformDaily.account_id) == account_id,
            col(PlatformDaily.level) == _LEVELS[dimension].value,
            col(PlatformDaily.day) >= period.start,
            col(PlatformDaily.day) <= period.end,
            col(PlatformCampaign.campaign_id).is_not(None),
        )
    ).all()
    return [(d, int(c), str(e), str(cur), int(s), int(i), int(k)) for d, c, e, cur, s, i, k in found]


def ad_figures(
    session: Session,
    account_id: int,
    period: Period,
    *,
    model: str,
    lookback_days: int,
    source: str,
    labels: AdLabels,
    keep: Callable[[int, int], bool],
) -> dict[str, Figures]:
    """Figures per ad set (ad) key over ``period`` for the campaigns ``keep`` (campaign id, version 0) lets through."""
    out: dict[str, Figures] = defaultdict(Figures)
    for campaign_id, adset, ad, sessions, visitors, converted in _traffic(session, account_id, period, source):
        if keep(campaign_id, 0):
            figures = out[labels.key(campaign_id, adset, ad)]
            figures.sessions += int(sessions)
            figures.visitors += int(visitors)
            figures.converted_sessions += int(converted)
    for campaign_id, adset, ad, currency, m in _sales(session, account_id, period, model, lookback_days, source):
        if not keep(campaign_id, 0):
            continue
        figures = out[labels.key(campaign_id, adset, ad)]
        figures.orders_micro += m["orders_micro"]
        figures.new_customers_micro += m["new_customers_micro"]
        figures.renewals_micro += m["renewals_micro"]
        money = figures.currency(currency)
        money.gross += m["gross"]
        money.renewal_revenue += m["renewal_revenue"]
        money.refunds += m["refunds"]
    # Spend: the platform's rows at this level; a campaign-day with none (CSV or API spend, not synced) is no ad set's.
    covered: set[tuple[date, int]] = set()
    for day, campaign_id, external_id, currency, spend, impressions, clicks in _platform_spend(
        session, account_id, period, labels.dimension
    ):
        covered.add((day, campaign_id))
        if keep(campaign_id, 0):
            key = labels.key(
                campaign_id, *((external_id, "") if labels.dimension is Dimension.AD_SET else ("", external_id))
            )
            figures = out[key]
            figures.currency(currency).spend += spend
            figures.impressions += impressions
            figures.clicks += clicks
    for row in daily_spend(session=session, account_id=account_id, start=period.start, end=period.end):
        if (row.day, row.campaign_id) not in covered and keep(row.campaign_id, 0):
            figures = out[NONE_KEY]
            figures.currency(row.currency).spend += row.amount
            figures.impressions += row.impressions
            figures.clicks += row.clicks
    return dict(out)
