"""The dashboard's plotly figures and the numbers they plot: lines over days (the current period and, dashed and grey,
the comparison aligned by position) and bars per row, with names shown as text. Charts plot money in major units
of its currency and rates in percent."""

from __future__ import annotations

import functools
import html
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import ParamSpec

import plotly.graph_objects as go

from app.lib.formatting import to_major
from app.presenters.metrics import split_column
from app.services.metrics import Figures, MetricsReport, Period

CHART_LABEL_CHARS = 24  # a longer name is shortened under its bar (in full on hover)
CURRENT_COLOR, COMPARISON_COLOR = "#3e63dd", "#8b8d98"
# A chart's series: (name, one value per x, is the comparison).
Series = tuple[str, list[float | None], bool]
# Figures of arguments this short (no data, or a day or two) are built once per process and shared (see reused).
REUSED_KEY_CHARS = 600
REUSED_FIGURES = 64
P = ParamSpec("P")


def reused(build: Callable[P, go.Figure]) -> Callable[P, go.Figure]:
    """``build``, returning the figure it made before for the same small arguments. A new browser tab's first
    state snapshot computes every chart var of every state for its empty data: seven plotly figures, about 100 ms
    of the connect (docs/performance.md, "The dashboard's first paint"). Figures are only read and serialized
    after they are built, so one object may serve every state."""
    cache: OrderedDict[str, go.Figure] = OrderedDict()

    @functools.wraps(build)
    def build_or_reuse(*args: P.args, **kwargs: P.kwargs) -> go.Figure:
        key = repr((args, sorted(kwargs.items())))
        if len(key) > REUSED_KEY_CHARS:
            return build(*args, **kwargs)
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        figure = cache[key] = build(*args, **kwargs)
        if len(cache) > REUSED_FIGURES:
            cache.popitem(last=False)
        return figure

    return build_or_reuse


def plotly_text(text: str) -> str:
    """``text`` as plotly.js shows it literally. Plotly reads ``<b>``, ``<br>``, ``<a href>``… and entities in tick
    labels, legends and hover text as markup, so names (campaigns, products: anyone's text) are escaped."""
    return html.escape(text, quote=False)


def short_label(text: str, limit: int = CHART_LABEL_CHARS) -> str:
    """A tick label of at most ``limit`` characters and an ellipsis (long names would squeeze the plot)."""
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


@reused
def line_figure(x: list[str], series: list[Series], *, y_title: str = "", hover: list[str] | None = None) -> go.Figure:
    """Lines over days: ``series`` are (name, values, is_comparison); comparison lines are dashed and grey, aligned
    to the current days by position (their own dates in the hover text)."""
    figure = go.Figure()
    for name, values, comparison in series:
        figure.add_trace(
            go.Scatter(
                x=x,
                y=values,
                name=name,
                mode="lines+markers" if len(x) <= 31 else "lines",
                line={
                    "color": COMPARISON_COLOR if comparison else CURRENT_COLOR,
                    "dash": "dash" if comparison else "solid",
                    "width": 2,
                },
                text=hover if comparison and hover else None,
                hovertemplate="%{text}: %{y}<extra>" + name + "</extra>" if comparison and hover else None,
            )
        )
    _layout(figure, y_title)
    return figure


@reused
def bar_figure(labels: list[str], series: list[Series], *, y_title: str, keys: list[str] | None = None) -> go.Figure:
    """Bars per row: ``labels`` are names (shown as text, shortened under the bars, in full on hover); ``keys``
    tell rows apart (two names may share their first characters), default: the labels."""
    keys = keys if keys is not None and len(keys) == len(labels) else labels
    full = [plotly_text(label) for label in labels]
    figure = go.Figure()
    for name, values, comparison in series:
        figure.add_trace(
            go.Bar(
                x=keys,
                y=values,
                name=plotly_text(name),
                marker_color=COMPARISON_COLOR if comparison else CURRENT_COLOR,
                opacity=0.6 if comparison else 1.0,
                customdata=full,
                hovertemplate="%{customdata}: %{y}<extra>" + plotly_text(name) + "</extra>",
            )
        )
    _layout(figure, y_title)
    figure.update_layout(
        barmode="group",
        hovermode="closest",
        xaxis={
            "type": "category",  # keys may look like numbers
            "tickmode": "array",
            "tickvals": keys,
            "ticktext": [plotly_text(short_label(label)) for label in labels],
            "automargin": True,
        },
    )
    return figure


def _layout(figure: go.Figure, y_title: str) -> None:
    figure.update_layout(
        height=280,
        margin={"l": 48, "r": 16, "t": 16, "b": 40},
        legend={"orientation": "h", "y": -0.2},
        yaxis={"title": {"text": y_title}, "rangemode": "tozero"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hovermode="x unified",
    )


def measure_figure(
    title: str,
    labels: list[str],
    keys: list[str],
    values: list[float | None],
    previous: list[float | None],
    *,
    comparing: bool,
    over_time: bool,
) -> go.Figure:
    """The explorer's chart of one measure: a line over days, weeks or months (no value plots as 0), else bars per
    row (no value: no bar)."""
    series: list[Series] = [(title, list(values), False)]
    if comparing:
        series.append(("Comparison", list(previous), True))
    if over_time:
        return line_figure(labels, [(name, [v or 0.0 for v in vs], c) for name, vs, c in series], y_title=title)
    return bar_figure(labels, series, y_title=title, keys=keys)


def chart_number(key: str, value: float | None) -> float | None:
    """A measure's value as a chart plots it: money in major units of its currency, rates in percent."""
    if value is None:
        return None
    measure, currency = split_column(key)
    if measure.kind == "money":
        return float(to_major(value, currency))
    return value * 100 if measure.kind == "rate" else value


# --- the overview's lines over days ---------------------------------------------------------------------------------


def daily_series(report: MetricsReport | None, period: Period | None, value: Callable[[Figures], float]) -> list[float]:
    """One value per day of ``period`` (0 for days without data), from a report by day."""
    if report is None or period is None:
        return []
    by_day = {row.key: row.figures for row in report.rows}
    return [value(by_day[d]) if d in by_day else 0.0 for d in (day.isoformat() for day in period.dates())]


def net_revenue(currency: str) -> Callable[[Figures], float]:
    """A day's net revenue in ``currency``, in major units (0 without money in it)."""
    return lambda f: float(to_major(f.money[currency].net, currency)) if currency in f.money else 0.0


def _orders(figures: Figures) -> float:
    return figures.orders


@dataclass(frozen=True)
class OverviewLines:
    """The overview's two charts as numbers: net revenue per currency and orders, per day, with the comparison's."""

    days: list[str]
    comparison_days: list[str]  # the comparison's own dates, for the hover text
    revenue: dict[str, list[float]]  # currency -> net revenue per day (major units)
    revenue_previous: dict[str, list[float]]
    orders: list[float]
    orders_previous: list[float]


def overview_lines(
    period: Period,
    comparison: Period | None,
    current: MetricsReport,
    previous: MetricsReport | None,
    currencies: list[str],
) -> OverviewLines:
    """``current`` and ``previous`` are reports by day over ``period`` and ``comparison``; the comparison's days are
    paired with the period's by position."""
    return OverviewLines(
        days=[day.isoformat() for day in period.dates()],
        comparison_days=(
            [(comparison.start + timedelta(days=n)).isoformat() for n in range(period.days)] if comparison else []
        ),
        revenue={code: daily_series(current, period, net_revenue(code)) for code in currencies},
        revenue_previous={code: daily_series(previous, comparison, net_revenue(code)) for code in currencies},
        orders=daily_series(current, period, _orders),
        orders_previous=daily_series(previous, comparison, _orders),
    )


def revenue_figure(
    days: list[str],
    comparison_days: list[str],
    revenue: dict[str, list[float]],
    revenue_previous: dict[str, list[float]],
    currencies: list[str],
    *,
    comparing: bool,
) -> go.Figure:
    """Net revenue per day, a line per currency (and the comparison's)."""
    series: list[Series] = []
    for code in sorted(revenue):
        series.append((f"Net revenue {code}", list(revenue[code]), False))
        if comparing:
            series.append((f"Comparison {code}", list(revenue_previous.get(code, [])), True))
    title = "Net revenue" + (f" ({currencies[0]})" if len(currencies) == 1 else "")
    return line_figure(days, series, y_title=title, hover=comparison_days)


def orders_figure(
    days: list[str], comparison_days: list[str], orders: list[float], previous: list[float], *, comparing: bool
) -> go.Figure:
    """Orders per day (and the comparison's)."""
    series: list[Series] = [("Orders", list(orders), False)]
    if comparing:
        series.append(("Comparison", list(previous), True))
    return line_figure(days, series, y_title="Orders", hover=comparison_days)


CLAIMED_COLOR = "#e54d2e"  # what the platform claims, beside the verified (current) colour


@reused
def claims_figure(days: list[str], claimed: list[float], verified: list[float]) -> go.Figure:
    """A campaign's platform-vs-verified day by day: the purchases its ad platforms claim and the paid orders credited
    to it, two lines over the same days."""
    figure = go.Figure()
    for name, values, color in (("Claimed purchases", claimed, CLAIMED_COLOR), ("Verified orders", verified,
                                                                                 CURRENT_COLOR)):  # fmt: skip
        figure.add_trace(
            go.Scatter(
                x=days,
                y=values,
                name=name,
                mode="lines+markers" if len(days) <= 31 else "lines",
                line={"color": color, "width": 2},
            )
        )
    _layout(figure, "Purchases")
    return figure
