"""The overview's state (``/``): KPI cards, net revenue and orders per day and the top campaigns for the URL's range;
the figures come from ``services.dashboard.overview``, their text and charts from ``app.presenters``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import reflex as rx

from app import routes
from app.db import session_scope
from app.presenters.charts import OverviewLines, orders_figure, overview_lines, revenue_figure
from app.presenters.metrics import BlendedLine, CampaignLine, KpiItem, blended_lines, campaign_lines, overview_cards
from app.presenters.ranges import RangeChoice, range_choice
from app.services import accounts as account_service
from app.services import dashboard
from app.services.accounts import SessionContext
from app.services.errors import ServiceError
from app.services.metrics import blended
from app.state.base import AppState
from app.state.live import OverviewData, OverviewState, read_overview
from app.state.metrics.date_range import RangeState


def _read_context(token_hash: str) -> SessionContext | None:
    """Blocking (``load_home`` runs its reads with ``asyncio.to_thread``, so the event loop sends what it has while
    they run): the session's context."""
    with session_scope() as session:
        return account_service.resolve_session(session=session, token_hash=token_hash)


def _read_figures(account_id: int, choice: RangeChoice) -> tuple[dashboard.Overview | None, str | None]:
    """Blocking, like ``_read_context``: the overview of the range, or why the range does not resolve."""
    with session_scope() as session:
        try:
            return dashboard.overview(session=session, account_id=account_id, choice=choice.dashboard_range()), None
        except ServiceError as failure:
            return None, failure.message


def _read_today(account_id: int, timezone: str) -> OverviewData:
    """Blocking, like ``_read_context``: today's live counters and latest events."""
    with session_scope() as session:
        return read_overview(session, account_id, timezone)


@dataclass(frozen=True)
class DrawnCharts:
    """What the overview's charts draw: the range's numbers, its currencies, with or without the comparison."""

    lines: OverviewLines
    currencies: list[str]
    comparing: bool


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
    # The charts' numbers for the range shown, and what the charts draw (the same, once drawn). Backend-only: the
    # browser gets them as the charts' figures, which depend on ``_drawn`` alone, so the figures' delta neither
    # rebuilds nor carries the charts (22 KB of plotly JSON) before they mount.
    _lines: OverviewLines | None = None
    _drawn: DrawnCharts | None = None
    charts_drawn: bool = False  # the charts mount (and plotly's script is fetched) once the KPI figures are shown

    @rx.event
    def draw_charts(self) -> None:
        """on_mount of the charts' row, which mounts with the KPI figures: plotly is fetched after they show, and
        the charts' figures are built and sent then too (the figures' delta stays small)."""
        self.charts_drawn = True
        self._draw()

    def _draw(self) -> None:
        if self._lines is not None:
            self._drawn = DrawnCharts(self._lines, list(self.currencies), self.comparing)

    @rx.var
    def revenue_chart(self) -> go.Figure:
        if (drawn := self._drawn) is None:
            return revenue_figure([], [], {}, {}, [], comparing=False)
        lines = drawn.lines
        return revenue_figure(
            lines.days, lines.comparison_days, lines.revenue, lines.revenue_previous, drawn.currencies,
            comparing=drawn.comparing,
        )  # fmt: skip

    @rx.var
    def orders_chart(self) -> go.Figure:
        if (drawn := self._drawn) is None:
            return orders_figure([], [], [], [], comparing=False)
        lines = drawn.lines
        return orders_figure(
            lines.days, lines.comparison_days, lines.orders, lines.orders_previous, comparing=drawn.comparing
        )

    @rx.event
    async def load_home(self) -> AsyncIterator[Any]:
        """The only on_load of ``/`` (four on_load events took four trips through the event queue), in three deltas:
        the session check (``check_login``'s), so the browser draws the page's frame and skeleton while the figures
        are read; the range picker and the KPI figures; today's live counters. The reads run in a worker thread, so
        the event loop sends each delta (and the hydration's) while the next read runs. A signed-out visitor is sent
        to the login page and nothing else is read."""
        choice = range_choice(self.router.url.query_parameters)
        picker = await self.get_state(RangeState)
        today = await self.get_state(OverviewState)
        if self.loaded:  # a new range on the open page: the skeleton replaces the old figures meanwhile
            self.loading, self.error = True, ""
            yield
        try:
            context = await asyncio.to_thread(_read_context, self._session_token_hash())
            self._apply_context(context)
            if not self.is_authenticated or context is None or context.actor is None or context.active is None:
                self._show_found(None)
                yield rx.redirect(routes.login_url(None))
                return
            if not self.loaded:
                yield  # the cold page's frame: sidebar, range picker, skeleton
            found, error = await asyncio.to_thread(_read_figures, context.actor.account_id, choice)
        finally:
            self.loading = False
        self.loaded, self.error = True, error or ""
        picker._show_range(choice, dashboard.ResolvedRange(found.period, found.comparison) if found else None)
        self._show_found(found)
        if self.has_data:
            # The figures show now. (An account without data waits for today's counters: with events of today
            # only, the "get started" card would flash before the counters.)
            yield
        today._show_live(await asyncio.to_thread(_read_today, context.actor.account_id, context.active.timezone))
        yield OverviewState.watch

    def _show_found(self, found: dashboard.Overview | None) -> None:
        if found is None:
            self.kpis, self.campaigns, self.blended, self.has_figures = [], [], [], False
            return
        self._show(found)

    def _show(self, found: dashboard.Overview) -> None:
        current, previous = found.by_day, found.by_day_before
        cards = overview_cards(found, self.account_locale)  # as the early figures show them (the same function)
        self.has_data, self.has_figures, self.comparing = cards.has_data, cards.has_figures, cards.comparing
        self.currencies, self.kpis = cards.currencies, cards.kpis
        self.campaigns = campaign_lines(found.by_campaign, found.campaign_ids, self.account_locale)
        self.blended = blended_lines(blended(found.by_campaign), self.account_locale)
        self._lines = overview_lines(found.period, found.comparison, current, previous, self.currencies)
        if self.charts_drawn:  # a new range on the open page
            self._draw()
