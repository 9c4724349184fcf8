"""The overview's state (``/``): KPI cards, net revenue and orders per day and the top campaigns for the URL's range;
the figures come from ``services.dashboard.overview``, their text and charts from ``app.presenters``."""

from __future__ import annotations

from collections.abc import Iterator

import plotly.graph_objects as go
import reflex as rx

from app.presenters.charts import orders_figure, overview_lines, revenue_figure
from app.presenters.metrics import CampaignLine, KpiItem, campaign_lines, overview_kpis
from app.services import dashboard
from app.services.metrics import has_figures
from app.state.base import AppState
from app.state.metrics.date_range import range_choice


class DashboardState(AppState):
    """The overview's figures for the URL's range: KPI cards, revenue and orders per day, top campaigns."""

    loading: bool = False
    loaded: bool = False
    error: str = ""
    has_data: bool = False  # anything in the account at all (else the "get started" card)
    has_figures: bool = False  # anything in this range or its comparison
    comparing: bool = False
    currencies: list[str] = []
    kpis: list[KpiItem] = []
    campaigns: list[CampaignLine] = []
    days: list[str] = []
    comparison_days: list[str] = []
    revenue: dict[str, list[float]] = {}  # currency -> net revenue per day (major units)
    revenue_previous: dict[str, list[float]] = {}
    orders: list[float] = []
    orders_previous: list[float] = []

    @rx.var
    def revenue_chart(self) -> go.Figure:
        return revenue_figure(
            self.days,
            self.comparison_days,
            self.revenue,
            self.revenue_previous,
            self.currencies,
            comparing=self.comparing,
        )

    @rx.var
    def orders_chart(self) -> go.Figure:
        return orders_figure(
            self.days, self.comparison_days, self.orders, self.orders_previous, comparing=self.comparing
        )

    @rx.event
    def load_dashboard(self) -> Iterator[None]:
        """on_load of ``/``: the figures of the URL's range (a skeleton shows meanwhile)."""
        choice = range_choice(self.router.url.query_parameters).dashboard_range()
        self.loading, self.error = True, ""
        yield
        try:
            found, error = self._run(
                lambda s: dashboard.overview(session=s, account_id=self._actor(s).account_id, choice=choice)
            )
        finally:
            self.loading = False
        self.loaded = True
        if found is None:
            if error and self.is_authenticated:
                self.error = error
            self.kpis, self.campaigns, self.has_figures = [], [], False
            return
        self._show(found)

    def _show(self, found: dashboard.Overview) -> None:
        current, previous = found.by_day, found.by_day_before
        total, before = current.total.figures, previous.total.figures if previous else None
        self.has_data = found.any_data
        self.has_figures = has_figures(total) or has_figures(before)
        self.comparing = previous is not None
        self.currencies = sorted(set(current.currencies) | set(previous.currencies if previous else []))
        self.kpis = overview_kpis(total, before, self.currencies, self.account_locale)
        self.campaigns = campaign_lines(found.by_campaign, found.campaign_ids, self.account_locale)
        lines = overview_lines(found.period, found.comparison, current, previous, self.currencies)
        self.days, self.comparison_days = lines.days, lines.comparison_days
        self.revenue, self.revenue_previous = lines.revenue, lines.revenue_previous
        self.orders, self.orders_previous = lines.orders, lines.orders_previous
