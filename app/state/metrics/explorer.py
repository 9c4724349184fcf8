"""The metrics explorer's state (``/metrics``): one row per value of the chosen dimension, sortable, with a chart of
one measure and a CSV export. Every choice lives in the URL; the figures come from ``services.dashboard.explorer``,
their text, chart points and CSV from ``app.presenters``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from app.lib.formatting import format_count
from app.presenters.charts import measure_figure
from app.presenters.explorer import (
    LABEL,
    ColumnItem,
    OptionItem,
    TableRow,
    campaign_options,
    chart_points,
    column_items,
    default_measure,
    display_row,
    explorer_columns,
    explorer_csv,
    product_options,
    row_labels,
    row_urls,
    sorted_rows,
    table_rows,
)
from app.presenters.metrics import DIMENSION_LABELS, column_label, is_column_key, platform_label
from app.services import dashboard
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, LOOKBACK_DAYS
from app.services.campaigns import Channel, ChannelGroup
from app.services.metrics import DIRECT, TIME_DIMENSIONS, Dimension
from app.state.base import AppState
from app.state.metrics.date_range import RangeChoice, changed_url, current_query, pick, range_choice
from app.state.toasts import toast

LOOKBACKS = [str(days) for days in LOOKBACK_DAYS]
# A select item cannot have an empty value: the filters' "any" choice.
ALL = "all"
CHANNELS = [*(c.value for c in Channel), DIRECT]  # platforms
CHANNEL_GROUPS = [*(g.value for g in ChannelGroup), DIRECT]
PLATFORM_OPTIONS = [(c, platform_label(c)) for c in CHANNELS]
_TIME_DIMENSIONS = {d.value for d in TIME_DIMENSIONS}


@dataclass(frozen=True)
class ExplorerChoice:
    range: RangeChoice
    dimension: str
    lookback: int
    campaign: str  # "" = every campaign
    channel: str  # platform
    product: str
    measure: str  # a column key ("orders", "net:EUR"); "" = the default
    channel_group: str = ""

    def query(self) -> dashboard.ExplorerQuery:
        return dashboard.ExplorerQuery(
            dimension=Dimension(self.dimension),
            lookback_days=self.lookback,
            campaign=self.campaign or None,
            channel=self.channel or None,
            channel_group=self.channel_group or None,
            product=self.product or None,
        )


def explorer_choice(params: Mapping[str, Any]) -> ExplorerChoice:
    """``?dimension=&lookback_days=&campaign=&channel=&group=&product=&measure=`` plus the range (``channel`` is the
    platform, ``group`` the channel group); unknown values fall back to the defaults (by campaign, 28 days, no
    filter)."""
    lookback = pick(params.get("lookback_days"), LOOKBACKS, str(DEFAULT_LOOKBACK_DAYS))
    measure = str(params.get("measure") or "")
    return ExplorerChoice(
        range=range_choice(params),
        dimension=pick(params.get("dimension"), DIMENSION_LABELS, Dimension.CAMPAIGN.value),
        lookback=int(lookback),
        campaign=str(params.get("campaign") or "")[:40],
        channel=pick(params.get("channel"), CHANNELS, ""),
        product=str(params.get("product") or "")[:100],
        measure=measure if is_column_key(measure) else "",
        channel_group=pick(params.get("group"), CHANNEL_GROUPS, ""),
    )


class ExplorerState(AppState):
    """The metrics explorer: one row per value of the chosen dimension, sortable, with a chart and a CSV export."""

    dimension: str = Dimension.CAMPAIGN.value
    lookback: str = str(DEFAULT_LOOKBACK_DAYS)
    campaign_filter: str = ALL
    channel_filter: str = ALL
    group_filter: str = ALL
    product_filter: str = ALL
    measure: str = "orders"
    campaign_options: list[OptionItem] = []
    product_options: list[OptionItem] = []
    measure_options: list[OptionItem] = []
    columns: list[ColumnItem] = []
    rows: list[dict[str, str]] = []
    total: dict[str, str] = {}
    sort_key: str = ""
    sort_desc: bool = True
    comparing: bool = False
    computed_live: bool = False
    loading: bool = False
    loaded: bool = False
    error: str = ""
    chart_labels: list[str] = []
    chart_keys: list[str] = []
    chart_values: list[float | None] = []
    chart_previous: list[float | None] = []

    # What the table shows, as numbers (sorted and formatted into ``rows``); kept on the server.
    _table: list[TableRow] = []
    _total: TableRow | None = None
    _urls: dict[str, str] = {}

    @rx.var
    def filtered(self) -> bool:
        return any(
            f != ALL for f in (self.campaign_filter, self.channel_filter, self.group_filter, self.product_filter)
        )

    @rx.var
    def row_count_text(self) -> str:
        return format_count(len(self.rows), "row", self.account_locale)

    @rx.var
    def is_time(self) -> bool:
        return self.dimension in _TIME_DIMENSIONS

    @rx.var
    def measure_label(self) -> str:
        return column_label(self.measure) if is_column_key(self.measure) else ""

    @rx.var
    def chart(self) -> go.Figure:
        return measure_figure(
            self.measure_label,
            self.chart_labels,
            self.chart_keys,
            self.chart_values,
            self.chart_previous,
            comparing=self.comparing,
            over_time=self.is_time,
        )

    @rx.event
    def load_explorer(self) -> Iterator[None]:
        """on_load of ``/metrics``: every choice comes from the URL."""
        choice = explorer_choice(self.router.url.query_parameters)
        self.dimension, self.lookback = choice.dimension, str(choice.lookback)
        self.channel_filter = choice.channel or ALL
        self.group_filter = choice.channel_group or ALL
        self.computed_live = choice.lookback != DEFAULT_LOOKBACK_DAYS
        self.loading, self.error = True, ""
        yield

        def read(s: Session) -> dashboard.Explorer:
            account_id = self._actor(s).account_id
            return dashboard.explorer(
                session=s, account_id=account_id, choice=choice.range.dashboard_range(), query=choice.query()
            )

        try:
            found, error = self._run(read)
        finally:
            self.loading = False
        self.loaded = True
        if found is None:
            if error and self.is_authenticated:
                self.error = error
            self._table, self._total, self.rows, self.total, self.columns = [], None, [], {}, []
            self.chart_labels, self.chart_keys, self.chart_values, self.chart_previous = [], [], [], []
            return
        self._show(found, choice)

    def _show(self, found: dashboard.Explorer, choice: ExplorerChoice) -> None:
        report = found.report
        self.campaign_options = campaign_options(found.campaigns)
        self.product_options = product_options(found.prices)
        self.campaign_filter = found.campaign or ALL
        self.product_filter = choice.product or ALL
        self.comparing = report.comparison is not None
        columns = explorer_columns(choice.dimension, report.currencies)
        self.measure_options = [OptionItem(value=c, label=column_label(c)) for c in columns]
        self.measure = choice.measure if choice.measure in columns else default_measure(columns)
        labels = row_labels(choice.dimension, found.prices, self.account_locale)
        self._table, self._total = table_rows(report, columns, found.keys, labels)
        self._urls = row_urls(choice.dimension, found.keys)
        self.sort_key = LABEL if self.is_time else ""
        self.sort_desc = False
        self._render(columns)

    def _columns(self) -> list[str]:
        return [c["key"] for c in self.columns]

    def _sorted(self) -> list[TableRow]:
        return sorted_rows(self._table, self.sort_key, self.sort_desc, over_time=self.is_time)

    def _render(self, columns: list[str] | None = None) -> None:
        columns = columns if columns is not None else self._columns()
        self.columns = column_items(columns, self.sort_key, self.sort_desc)
        ordered = self._sorted()
        locale, comparing = self.account_locale, self.comparing
        self.rows = [
            display_row(r, columns, self._urls.get(r["key"], ""), locale, comparing=comparing) for r in ordered
        ]
        self.total = display_row(self._total, columns, "", locale, comparing=comparing) if self._total else {}
        points = chart_points(ordered, self.measure, over_time=self.is_time)
        self.chart_labels, self.chart_keys = points.labels, points.keys
        self.chart_values, self.chart_previous = points.values, points.previous

    @rx.event
    def sort_by(self, key: str) -> None:
        """Click a header: sort by it (highest first), click again to flip."""
        if key != LABEL and key not in self._columns():
            return
        if key == self.sort_key:
            self.sort_desc = not self.sort_desc
        else:
            self.sort_key, self.sort_desc = key, key != LABEL
        self._render()

    @rx.event
    def export_csv(self) -> Any:
        if not self._total:
            return toast.error("Nothing to export yet.")
        text = explorer_csv(self._columns(), [*self._sorted(), self._total], comparing=self.comparing)
        _path, params = current_query(self.router)
        name = f"paidsignal-metrics-{self.dimension}-{range_choice(params).preset}.csv"
        return rx.download(data=text, filename=name, mime_type="text/csv")

    @rx.event
    def choose_dimension(self, dimension: str) -> Any:
        return rx.redirect(changed_url(self.router, dimension=pick(dimension, DIMENSION_LABELS, ""), measure=""))

    @rx.event
    def choose_lookback(self, lookback: str) -> Any:
        return rx.redirect(changed_url(self.router, lookback_days=pick(lookback, LOOKBACKS, "")))

    @rx.event
    def choose_measure(self, measure: str) -> None:
        """The chart's measure (the page writes it into the URL itself; no reload needed)."""
        if measure not in self._columns():
            return
        self.measure = measure
        self._render()

    @rx.event
    def choose_campaign(self, campaign: str) -> Any:
        known = {o["value"] for o in self.campaign_options}
        return rx.redirect(changed_url(self.router, campaign=campaign if campaign in known else ""))

    @rx.event
    def choose_channel(self, channel: str) -> Any:
        return rx.redirect(changed_url(self.router, channel=pick(channel, CHANNELS, "")))

    @rx.event
    def choose_channel_group(self, group: str) -> Any:
        return rx.redirect(changed_url(self.router, group=pick(group, CHANNEL_GROUPS, "")))

    @rx.event
    def choose_product(self, product: str) -> Any:
        known = {o["value"] for o in self.product_options}
        return rx.redirect(changed_url(self.router, product=product if product in known else ""))

    @rx.event
    def clear_filters(self) -> Any:
        return rx.redirect(changed_url(self.router, campaign="", channel="", group="", product=""))
