"""Figures over an exact time window (alerts: the last hour, 24 hours, 7 days), computed from the raw tables with the
rules of the daily rollups, with spend prorated to the window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from app.services import rollups
from app.services.attribution import AttributionModel
from app.services.metrics.figures import Figures
from app.services.metrics.grouping import campaign_names, sum_figures
from app.services.metrics.sources import SalesRow, traffic_row
from app.services.spend import DailySpend, daily_spend


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
            DailySpend(
                row.day,
                row.campaign_id,
                row.currency,
                round(row.amount * share),
                round(row.impressions * share),
                round(row.clicks * share),
            )
        )
    return out


def window_figures(
    *, session: Session, account_id: int, start: datetime, end: datetime, model: str = AttributionModel.LAST_TOUCH
) -> WindowFigures:
    """Sessions started, payments and refunds made in ``[start, end)`` (same rules as the daily rollups, computed
    from the raw tables), and spend prorated to the window."""
    names = campaign_names(session, account_id)
    day = rollups.local_day(start, rollups.account_zone(session, account_id))
    traffic = [traffic_row(day, r) for r in rollups.traffic_between(session, account_id, start, end)]
    sales = [
        SalesRow(day, c, v, product, price, currency, measures)
        for (_m, c, v, product, price, currency), measures in rollups.sales_between(
            session, account_id, start, end, models=[str(model)]
        ).items()
    ]
    order_sales = [s for s in sales if not (s.product_id or s.price_id)]
    product_sales = [s for s in sales if s.product_id]
    spend = _prorated_spend(session, account_id, start, end)

    def everything(_cid: int, _vid: int) -> bool:
        return True

    by_campaign = sum_figures(
        traffic,
        order_sales,
        spend,
        lambda d, c, v, p, pr: str(c),
        everything,
        names,
        traffic_counts=True,
        spend_counts=True,
    )
    by_version = sum_figures(
        traffic,
        order_sales,
        spend,
        lambda d, c, v, p, pr: f"{c}:{v}",
        everything,
        names,
        traffic_counts=True,
        spend_counts=True,
    )
    by_product = sum_figures(
        [],
        product_sales,
        [],
        lambda d, c, v, p, pr: f"{c}:{p}",
        everything,
        names,
        traffic_counts=False,
        spend_counts=False,
    )
    return WindowFigures(
        start=start,
        end=end,
        campaigns={int(k): f for k, f in by_campaign.items()},
        versions={(int(k.split(":")[0]), int(k.split(":")[1])): f for k, f in by_version.items()},
        products={(int(k.split(":", 1)[0]), k.split(":", 1)[1]): f for k, f in by_product.items()},
    )
