"""Platform vs verified on ``/metrics`` and on each campaign page: what Meta and Google Ads claim next to what Stripe
was paid (services/platform_vs_verified), formatted for a table."""

from __future__ import annotations

from typing import TypedDict

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from app import routes
from app.lib.formatting import format_money, format_number, format_ratio
from app.presenters.charts import claims_figure
from app.services import dashboard
from app.services import platform_vs_verified as pvv
from app.state.base import AppState
from app.state.metrics.date_range import range_choice

PLATFORM_NAMES = {"meta": "Meta", "google": "Google Ads"}
NA = "n/a"


class ClaimItem(TypedDict):
    campaign: str
    url: str
    platforms: str
    spend: str
    claimed_purchases: str
    claimed_value: str
    verified_orders: str
    verified_net: str
    reporting_ratio: str  # "3.00×" claimed per verified purchase; "n/a" without verified orders
    reporting_note: str  # "over-reports" / "under-reports" / ""
    previous_ratio: str
    platform_roas: str
    verified_roas: str


def _ratio(value: float | None, locale: str) -> str:
    return NA if value is None else format_ratio(value, locale)


def claim_item(row: pvv.PlatformVsVerifiedRow, previous: pvv.PlatformVsVerifiedRow | None, locale: str) -> ClaimItem:
    claimed = row.claimed
    ratio = row.reporting_ratio
    note = "" if ratio is None or abs(ratio - 1) < 0.005 else ("over-reports" if ratio > 1 else "under-reports")
    return ClaimItem(
        campaign=row.campaign_name or "Not mapped to a campaign",
        url=routes.campaign_url(row.campaign_public_id) if row.campaign_public_id else "",
        platforms=" + ".join(PLATFORM_NAMES.get(p, p) for p in row.platforms),
        spend=format_money(claimed.spend, claimed.currency, locale),
        claimed_purchases=format_number(claimed.purchases, locale),
        claimed_value=format_money(claimed.value, claimed.currency, locale),
        verified_orders=format_number(row.verified_orders, locale) if row.campaign_public_id else "—",
        verified_net=" · ".join(format_money(v, c, locale) for c, v in sorted(row.verified_net.items())) or "—",
        reporting_ratio=_ratio(ratio, locale),
        reporting_note=note,
        previous_ratio=_ratio(previous.reporting_ratio, locale) if previous else "",
        platform_roas=_ratio(row.platform_roas, locale),
        verified_roas=_ratio(row.verified_roas, locale) if row.campaign_public_id else "—",
    )


class BreakdownItem(TypedDict):
    level: str  # "Ad set" | "Ad"
    name: str
    spend: str
    claimed_purchases: str
    verified_orders: str
    reporting_ratio: str
    platform_roas: str


def breakdown_item(row: pvv.BreakdownRow, locale: str) -> BreakdownItem:
    claimed = row.claimed
    return BreakdownItem(
        level="Ad set" if row.level == "adset" else "Ad",
        name=row.name or row.external_id,
        spend=format_money(claimed.spend, claimed.currency, locale),
        claimed_purchases=format_number(claimed.purchases, locale),
        verified_orders=format_number(row.verified_orders, locale),
        reporting_ratio=_ratio(row.reporting_ratio, locale),
        platform_roas=_ratio(row.platform_roas, locale),
    )


class PlatformClaimsState(AppState):
    """The table of ``/metrics`` (every campaign) and of a campaign page (that campaign), over the URL's range."""

    claims: list[ClaimItem] = []
    claims_loaded: bool = False
    claims_timezone_note: str = ""
    claims_comparing: bool = False
    # A campaign page's ad sets and ads (each ad set followed by its ads).
    breakdown: list[BreakdownItem] = []
    # A campaign page's day by day: claimed purchases and verified orders per day of the range.
    claim_days: list[str] = []
    claimed_daily: list[float] = []
    verified_daily: list[float] = []
    claims_chart_drawn: bool = False  # the chart mounts (and plotly's script is fetched) once the table is shown

    def _load_claims(self, campaign_public_id: str | None) -> None:
        choice = range_choice(self.router.url.query_parameters)

        def read(s: Session) -> tuple[pvv.PlatformVsVerifiedReport, list[pvv.BreakdownRow], list[pvv.DailyClaim]]:
            account_id = self._actor(s).account_id
            found = dashboard.resolve_range(session=s, account_id=account_id, choice=choice.dashboard_range())
            period = found.period
            report = pvv.platform_vs_verified(
                session=s,
                account_id=account_id,
                start=period.start,
                end=period.end,
                model=choice.model,
                compare=choice.compare,
                campaign_public_id=campaign_public_id,
            )
            rows: list[pvv.BreakdownRow] = []
            days: list[pvv.DailyClaim] = []
            if campaign_public_id:
                rows = pvv.breakdown(session=s, account_id=account_id, campaign_public_id=campaign_public_id,
                                     start=period.start, end=period.end)  # fmt: skip
            if campaign_public_id and report.rows:  # the chart shows with the table, only when there are claims
                days = pvv.daily_claims(session=s, account_id=account_id, campaign_public_id=campaign_public_id,
                                        start=period.start, end=period.end, model=choice.model)  # fmt: skip
            return report, rows, days

        found, _error = self._run(read)
        self.claims_loaded = True
        if found is None:
            self.claims, self.breakdown, self.claims_timezone_note, self.claims_comparing = [], [], "", False
            self.claim_days, self.claimed_daily, self.verified_daily = [], [], []
            return
        report, rows, days = found
        self.claim_days = [d.day.isoformat() for d in days]
        self.claimed_daily = [d.claimed_purchases for d in days]
        self.verified_daily = [d.verified_orders for d in days]
        self.breakdown = [breakdown_item(r, self.account_locale) for r in rows]
        self.claims = [
            claim_item(r, report.previous.get(r.campaign_public_id), self.account_locale) for r in report.rows
        ]
        self.claims_comparing = report.comparison is not None
        self.claims_timezone_note = (
            "Platform figures are per day of the ad account's timezone, which differs from this account's: over a "
            "single day the two may not line up."
            if report.timezones_differ
            else ""
        )

    @rx.event
    def draw_claims_chart(self) -> None:
        """on_mount of a campaign page's claims chart, which mounts with the table: plotly is fetched after it."""
        self.claims_chart_drawn = True

    @rx.var
    def claims_chart(self) -> go.Figure:
        if not self.claims_chart_drawn:
            return claims_figure([], [], [])
        return claims_figure(self.claim_days, self.claimed_daily, self.verified_daily)

    @rx.event
    def load_platform_claims(self) -> None:
        """on_load of ``/metrics``: every campaign with platform claims."""
        self._load_claims(None)

    @rx.event
    def load_campaign_claims(self) -> None:
        """on_load of ``/campaigns/[campaign_id]``: this campaign's."""
        self._load_claims((self.router.url.path or "").rstrip("/").rsplit("/", 1)[-1])
