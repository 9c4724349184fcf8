"""How the metrics group rows: the dimensions, the account's campaigns and versions (names, channels, when each
version went live), a row's key and label for a dimension, and the sum of traffic, sales and spend rows as figures."""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import select as sa_select  # sqlmodel's select types at most four columns
from sqlmodel import Session, col

from app.models import Campaign, CampaignVersion
from app.services import rollups
from app.services.campaigns import CHANNEL_GROUP_LABELS
from app.services.metrics.figures import Figures
from app.services.metrics.sources import SalesRow, TrafficRow
from app.services.spend import DailySpend

DIRECT = "direct"  # the channel (and channel group) of sessions and orders no campaign matched
DIRECT_LABEL = "Direct / unmatched"
IMPORTED = "imported"  # orders imported from Stripe's history (rollups.IMPORTED): their own bucket, never a campaign's
IMPORTED_LABEL = "Imported from Stripe"


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
    AD_SET = "ad_set"  # the ad platforms' ad sets (Google: ad groups), by the ids the landing URLs carried
    AD = "ad"


TIME_DIMENSIONS = (Dimension.DAY, Dimension.WEEK, Dimension.MONTH)
# The dimensions whose key is read from a row's campaign (or version: a version's rows are of one campaign).
CAMPAIGN_DIMENSIONS = (Dimension.CAMPAIGN, Dimension.VERSION, Dimension.CHANNEL, Dimension.CHANNEL_GROUP)
# A row's key from (day, campaign id, version id, product id, price id), and a key's label.
RowKey = Callable[[date, int, int, str, str], str]
RowLabel = Callable[[str], str]


@dataclass
class CampaignNames:
    """The account's campaigns and versions by internal id, and when each version went live."""

    campaigns: dict[int, tuple[str, str, str]]  # id -> (public id, name, channel)
    versions: dict[int, tuple[str, int, int]]  # id -> (public id, number, campaign id)
    active: dict[int, list[tuple[date, int]]]  # campaign -> [(first day active, version id)], by day
    groups: dict[int, str] = field(default_factory=dict)  # campaign id -> channel group

    def channel(self, campaign_id: int) -> str:
        if campaign_id == rollups.IMPORTED:
            return IMPORTED
        return self.campaigns[campaign_id][2] if campaign_id in self.campaigns else DIRECT

    def channel_group(self, campaign_id: int) -> str:
        return IMPORTED if campaign_id == rollups.IMPORTED else self.groups.get(campaign_id, DIRECT)

    def version_on(self, campaign_id: int, day: date) -> int:
        """The version that was live at the end of ``day`` (where spend of that day is credited)."""
        chosen = 0
        for first_day, version_id in self.active.get(campaign_id, []):
            if first_day <= day:
                chosen = version_id
        return chosen


def campaign_names(session: Session, account_id: int) -> CampaignNames:
    zone = rollups.account_zone(session, account_id)
    campaigns: dict[int, tuple[str, str, str]] = {}
    groups: dict[int, str] = {}
    for cid, pid, name, channel, group in session.execute(
        sa_select(
            col(Campaign.id),
            col(Campaign.public_id),
            col(Campaign.name),
            col(Campaign.channel),
            col(Campaign.channel_group),
        ).where(col(Campaign.account_id) == account_id)
    ).all():
        assert cid is not None  # a stored row
        campaigns[cid], groups[cid] = (pid, name, channel), group
    versions: dict[int, tuple[str, int, int]] = {}
    active: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for vid, pid, number, cid, published in session.execute(
        sa_select(
            col(CampaignVersion.id),
            col(CampaignVersion.public_id),
            col(CampaignVersion.number),
            col(CampaignVersion.campaign_id),
            col(CampaignVersion.published_at),
        )
        .where(col(CampaignVersion.account_id) == account_id)
        .order_by(col(CampaignVersion.published_at), col(CampaignVersion.id))
    ).all():
        assert vid is not None  # a stored row
        versions[vid] = (pid, number, cid)
        active[cid].append((rollups.local_day(published, zone), vid))
    return CampaignNames(campaigns, versions, dict(active), groups)


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def key_function(dimension: Dimension | None, names: CampaignNames) -> tuple[RowKey, RowLabel]:
    """How a row (day, campaign, version, product, price) maps to a dimension key, and a key to its label."""
    if dimension is None:
        return (lambda *_: "total"), (lambda _k: "Total")
    if dimension is Dimension.CAMPAIGN:

        def campaign_label(key: str) -> str:
            cid = int(key)
            if cid == rollups.IMPORTED:
                return IMPORTED_LABEL
            return names.campaigns[cid][1] if cid in names.campaigns else DIRECT_LABEL

        return (lambda d, c, v, p, pr: str(c)), campaign_label
    if dimension is Dimension.VERSION:

        def version_label(key: str) -> str:
            vid = int(key)
            if vid == rollups.IMPORTED:
                return IMPORTED_LABEL
            if vid not in names.versions:
                return DIRECT_LABEL
            _pid, number, cid = names.versions[vid]
            return f"{names.campaigns.get(cid, ('', '?', ''))[1]} v{number}"

        return (lambda d, c, v, p, pr: str(v)), version_label
    if dimension is Dimension.CHANNEL:
        return (lambda d, c, v, p, pr: names.channel(c)), (
            lambda k: DIRECT_LABEL if k == DIRECT else IMPORTED_LABEL if k == IMPORTED else k
        )
    if dimension is Dimension.CHANNEL_GROUP:
        return (lambda d, c, v, p, pr: names.channel_group(c)), (
            lambda k: (
                DIRECT_LABEL if k == DIRECT else IMPORTED_LABEL if k == IMPORTED else CHANNEL_GROUP_LABELS.get(k, k)
            )
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


def sum_figures(
    traffic: list[TrafficRow],
    sales: list[SalesRow],
    spend: list[DailySpend],
    key_of: RowKey,
    keep: Callable[[int, int], bool],
    names: CampaignNames,
    *,
    traffic_counts: bool,
    spend_counts: bool,
) -> dict[str, Figures]:
    """The rows that ``keep`` (campaign id, version id) lets through, added up per key: traffic and spend only when
    they count (rows by product have no traffic or spend); spend is credited to the version live that day."""
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
