"""The overview's state (``/``): KPI cards, net revenue and orders per day and the top campaigns for the URL's range;
the figures come from ``services.dashboard.overview``, their text and charts from ``app.presenters``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from app import routes
from app.db import session_scope
from app.presenters.charts import orders_figure, overview_lines, revenue_figure
from app.presenters.metrics import BlendedLine, CampaignLine, KpiItem, blended_lines, campaign_lines, overview_kpis
from app.services import dashboard
from app.services.accounts import SessionContext
from app.services.errors import ServiceError
from app.services.metrics import blended, has_figures
from app.state.base import AppState
from app.state.live import OverviewData, OverviewState, read_overview
from app.state.metrics.date_range import RangeChoice, RangeState, range_choice


@dataclass(frozen=True)
class HomeRead:
    """What ``/`` shows, read in one transaction."""

    context: SessionContext | None  # None: not signed in (then nothing else is read)
    found: dashboard.Overview | None = None  # None: the range did not resolve (``error`` says why)
    error: str | None = None
    today: OverviewData | None = None


def _read_home(session: Session, context: SessionContext | None, choice: RangeChoice) -> HomeRead:
    if context is None or context.actor is None or context.active is None:
        return HomeRead(context)
    account_id = context.actor.account_id
    try:
        found, error = dashboard.overview(session=session, account_id=account_id, choice=choice.dashboard_range()), None
    except ServiceError as failure:
        found, error = None, failure.message
    return HomeRead(context, found, error, read_overview(session, account_id, context.active.timezone))


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
    blended: list[BlendedLine] = []  # MER and blended CPA beside attributed ROAS and CPA, per currency with spend
    days: list[str] = []
    comparison_days: list[str] = []
    revenue: dict[str, list[float]] = {}  # currency -> net revenue per day (major units)
    revenue_previous: dict[str, list[float]] = {}
    orders: list[float] = []
    orders_previous: list[float] = []
    charts_drawn: bool = False  # the charts mount (and plotly's script is fetched) once the KPI figures are shown

    @rx.event
    def draw_charts(self) -> None:
        """on_mount of the charts' row, which mounts with the KPI figures: plotly is fetched after they show, and
        the charts' figures are built and sent then too (the figures' delta stays small)."""
        self.charts_drawn = True

    @rx.var
    def revenue_chart(self) -> go.Figure:
        drawn = self.charts_drawn
        return revenue_figure(
            self.days if drawn else [],
            self.comparison_days if drawn else [],
            self.revenue if drawn else {},
            self.revenue_previous if drawn else {},
            self.currencies if drawn else [],
            comparing=self.comparing,
        )

    @rx.var
    def orders_chart(self) -> go.Figure:
        if not self.charts_drawn:
            return orders_figure([], [], [], [], comparing=self.comparing)
        return orders_figure(
            self.days, self.comparison_days, self.orders, self.orders_previous, comparing=self.comparing
        )

    @rx.event
    async def load_home(self) -> AsyncIterator[Any]:
        """The only on_load of ``/``: the session check (``check_login``'s), the range picker, the figures and today's
        live counters in one event and one transaction, so the first delta after hydration carries the KPI figures
        (four on_load events took four trips through the event queue, each with its own delta). A signed-out visitor
        is sent to the login page."""
        choice = range_choice(self.router.url.query_parameters)
        picker = await self.get_state(RangeState)
        today = await self.get_state(OverviewState)
        if self.loaded:  # a new range on the open page: the skeleton replaces the old figures meanwhile
            self.loading, self.error = True, ""
            yield
        try:
            with session_scope() as session:
                read = _read_home(session, self._context(session), choice)
        finally:
            self.loading = False
        self._apply_context(read.context)
        if not self.is_authenticated:
            self._show_found(None)
            yield rx.redirect(routes.login_url(None))
            return
        self.loaded, self.error = True, read.error or ""
        picker._show_range(
            choice, dashboard.ResolvedRange(read.found.period, read.found.comparison) if read.found else None
        )
        self._show_found(read.found)
        if read.today is not None:
            today._show_live(read.today)
        yield OverviewState.watch

    def _show_found(self, found: dashboard.Overview | None) -> None:
        if found is None:
            self.kpis, self.campaigns, self.blended, self.has_figures = [], [], [], False
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
        self.blended = blended_lines(blended(found.by_campaign), self.account_locale)
        lines = overview_lines(found.period, found.comparison, current, previous, self.currencies)
        self.days, self.comparison_days = lines.days, lines.comparison_days
        self.revenue, self.revenue_previous = lines.revenue, lines.revenue_previous
        self.orders, self.orders_previous = lines.orders, lines.orders_previous
