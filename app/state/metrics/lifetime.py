"""The lifetime value page's state (``/ltv``): the LTV table by acquiring dimension and the cohort heatmap, for the
customers acquired over the chosen days, one currency at a time, with CSV exports. Every choice lives in the URL; the
figures come from ``services.dashboard.lifetime``, their text, heatmap and CSV from ``app.presenters.lifetime``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from app.presenters.explorer import OptionItem, campaign_options
from app.presenters.lifetime import (
    LTV_DIMENSION_LABELS,
    PERIOD_LABELS,
    LtvLine,
    cohort_csv,
    cohort_figure,
    ltv_csv,
    ltv_lines,
)
from app.presenters.metrics import MODEL_LABELS
from app.services import dashboard
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, LOOKBACK_DAYS, AttributionModel
from app.services.metrics import IMPORTED, CohortReport, Dimension, LtvReport
from app.state.base import AppState
from app.state.metrics.date_range import changed_url, pick
from app.state.metrics.explorer import ALL, CHANNELS
from app.state.toasts import toast

LTV_CHANNELS = [*CHANNELS, IMPORTED]
_LOOKBACKS = [str(d) for d in LOOKBACK_DAYS]


@dataclass(frozen=True)
class LifetimeUrl:
    dimension: str
    days: str
    model: str
    lookback: str
    campaign: str
    channel: str
    currency: str

    def choice(self) -> dashboard.LifetimeChoice:
        return dashboard.LifetimeChoice(
            dimension=Dimension(self.dimension),
            days=int(self.days),
            model=AttributionModel(self.model),
            lookback_days=int(self.lookback),
            campaign=self.campaign or None,
            channel=self.channel or None,
        )


def lifetime_url(params: Mapping[str, Any]) -> LifetimeUrl:
    """``?dimension=&days=&model=&lookback_days=&campaign=&channel=&currency=``; unknown values fall back to the
    defaults (by campaign, the last 365 days, last touch, 28 days, no filter, the first currency)."""
    return LifetimeUrl(
        dimension=pick(params.get("dimension"), LTV_DIMENSION_LABELS, Dimension.CAMPAIGN.value),
        days=pick(params.get("days"), PERIOD_LABELS, "365"),
        model=pick(params.get("model"), MODEL_LABELS, AttributionModel.LAST_TOUCH.value),
        lookback=pick(params.get("lookback_days"), _LOOKBACKS, str(DEFAULT_LOOKBACK_DAYS)),
        campaign=str(params.get("campaign") or "")[:40],
        channel=pick(params.get("channel"), LTV_CHANNELS, ""),
        currency=str(params.get("currency") or "")[:3].upper(),
    )


class LifetimeState(AppState):
    """Lifetime value by acquiring dimension, and cohorts, for the URL's choices."""

    dimension: str = Dimension.CAMPAIGN.value
    days: str = "365"
    model: str = AttributionModel.LAST_TOUCH.value
    lookback: str = str(DEFAULT_LOOKBACK_DAYS)
    campaign_filter: str = ALL
    channel_filter: str = ALL
    currency: str = ""
    currencies: list[str] = []
    campaign_options: list[OptionItem] = []
    lines: list[LtvLine] = []
    total: LtvLine | None = None
    as_of: str = ""
    computed_live: bool = False
    cohort_rows: int = 0
    loading: bool = False
    loaded: bool = False
    error: str = ""

    _report: LtvReport | None = None
    _cohorts: CohortReport | None = None
    _keys: dict[str, str] = {}  # row key -> public id (campaign rows link to their campaign)

    @rx.var
    def cohort_chart(self) -> go.Figure:
        if self._cohorts is None or not self.currency:
            return go.Figure()
        return cohort_figure(self._cohorts, self.currency, self.account_locale)

    @rx.event
    def load_lifetime(self) -> Iterator[None]:
        """on_load of ``/ltv``: every choice comes from the URL."""
        url = lifetime_url(self.router.url.query_parameters)
        self.dimension, self.days, self.model, self.lookback = url.dimension, url.days, url.model, url.lookback
        self.channel_filter = url.channel or ALL
        self.loading, self.error = True, ""
        yield

        def read(s: Session) -> dashboard.Lifetime:
            account_id = self._actor(s).account_id
            return dashboard.lifetime(session=s, account_id=account_id, choice=url.choice())

        try:
            found, error = self._run(read)
        finally:
            self.loading = False
        self.loaded = True
        if found is None:
            if error and self.is_authenticated:
                self.error = error
            self._report, self._cohorts, self.lines, self.total, self.currencies = None, None, [], None, []
            return
        self._report, self._cohorts = found.report, found.cohorts
        self.campaign_options = campaign_options(found.campaigns)
        self.campaign_filter = found.campaign or ALL
        self.computed_live = found.report.source == "live"
        self.as_of = found.report.as_of.isoformat()
        self.currencies = sorted(set(found.report.currencies) | set(found.cohorts.currencies))
        self.currency = url.currency if url.currency in self.currencies else (self.currencies or [""])[0]
        self.cohort_rows = len(found.cohorts.rows)
        self._keys = found.keys
        self._render()

    def _render(self) -> None:
        if self._report is None or not self.currency:
            self.lines, self.total = [], None
            return
        self.lines, self.total = ltv_lines(self._report, self.currency, self._keys, {}, self.account_locale)

    @rx.event
    def choose_currency(self, currency: str) -> None:
        if currency in self.currencies:
            self.currency = currency
            self._render()

    @rx.event
    def choose_dimension(self, dimension: str) -> Any:
        return rx.redirect(changed_url(self.router, dimension=pick(dimension, LTV_DIMENSION_LABELS, "")))

    @rx.event
    def choose_days(self, days: str) -> Any:
        return rx.redirect(changed_url(self.router, days=pick(days, PERIOD_LABELS, "")))

    @rx.event
    def choose_model(self, model: str) -> Any:
        return rx.redirect(changed_url(self.router, model=pick(model, MODEL_LABELS, "")))

    @rx.event
    def choose_lookback(self, lookback: str) -> Any:
        return rx.redirect(changed_url(self.router, lookback_days=pick(lookback, _LOOKBACKS, "")))

    @rx.event
    def choose_campaign(self, campaign: str) -> Any:
        known = {o["value"] for o in self.campaign_options}
        return rx.redirect(changed_url(self.router, campaign=campaign if campaign in known else ""))

    @rx.event
    def choose_channel(self, channel: str) -> Any:
        return rx.redirect(changed_url(self.router, channel=pick(channel, LTV_CHANNELS, "")))

    @rx.event
    def clear_filters(self) -> Any:
        return rx.redirect(changed_url(self.router, campaign="", channel=""))

    @rx.event
    def export_ltv(self) -> Any:
        if self._report is None:
            return toast.error("Nothing to export yet.")
        name = f"paidsignal-ltv-{self.dimension}-{self.days}d.csv"
        return rx.download(data=ltv_csv(self._report, {}), filename=name, mime_type="text/csv")

    @rx.event
    def export_cohorts(self) -> Any:
        if self._cohorts is None:
            return toast.error("Nothing to export yet.")
        name = f"paidsignal-cohorts-{self.days}d.csv"
        return rx.download(data=cohort_csv(self._cohorts), filename=name, mime_type="text/csv")
