"""The dashboard's plotly figures and the numbers they plot, without Reflex: names as text, money in major units,
rates in percent, the overview's lines per day with the comparison aligned by position."""

from __future__ import annotations

from datetime import date

from app.presenters.charts import (
    bar_figure,
    chart_number,
    measure_figure,
    orders_figure,
    overview_lines,
    revenue_figure,
)
from app.services.metrics import Figures, MetricsReport, MetricsRow, Money, Period


def test_chart_names_are_text_and_long_ones_are_shortened() -> None:
    """Plotly reads <b>, <br>, <a href> in labels as markup: names are escaped, shortened under the bars (two names
    with the same start stay two bars), and in full on hover."""
    markup = '<b>Bold</b><br>Next <a href="https://x">link</a>'
    long_name = "Spring sale " + "x" * 108
    figure = bar_figure([markup, long_name, long_name[:-1] + "y"], [("Orders", [1.0, 2.0, 3.0], False)],
                        y_title="Orders", keys=["cmp_1", "cmp_2", "cmp_3"])  # fmt: skip
    axis = figure.layout.xaxis
    assert list(axis.tickvals) == ["cmp_1", "cmp_2", "cmp_3"] and axis.type == "category"
    assert axis.ticktext[0] == "&lt;b&gt;Bold&lt;/b&gt;&lt;br&gt;Next &lt;a h…"  # 24 characters, then …
    assert axis.ticktext[1] == axis.ticktext[2] == "Spring sale xxxxxxxxxxxx…"
    assert list(figure.data[0].customdata) == [
        '&lt;b&gt;Bold&lt;/b&gt;&lt;br&gt;Next &lt;a href="https://x"&gt;link&lt;/a&gt;',
        long_name,
        long_name[:-1] + "y",
    ]
    assert "<" not in "".join(axis.ticktext) and all("<" not in text for text in figure.data[0].customdata)


def test_charts_plot_money_in_major_units_and_rates_in_percent() -> None:
    assert chart_number("net:EUR", 1999) == 19.99 and chart_number("net:JPY", 1999) == 1999
    assert chart_number("aov:KWD", 12345) == 12.345
    assert chart_number("conversion_rate", 0.25) == 25 and chart_number("orders", 3) == 3
    assert chart_number("roas:EUR", None) is None


def test_the_explorers_chart_is_lines_over_time_and_bars_otherwise() -> None:
    lines = measure_figure("Orders", ["2026-03-01", "2026-03-02"], ["2026-03-01", "2026-03-02"], [1.0, None],
                           [2.0, 3.0], comparing=True, over_time=True)  # fmt: skip
    assert [t.type for t in lines.data] == ["scatter", "scatter"] and list(lines.data[0].y) == [1.0, 0.0]
    assert lines.data[1].line.dash == "dash"
    bars = measure_figure("ROAS (EUR)", ["Search"], ["cmp_1"], [None], [None], comparing=False, over_time=False)
    assert [t.type for t in bars.data] == ["bar"] and list(bars.data[0].y) == [None]  # n/a: no bar, not 0


def test_overview_lines_per_day_with_the_comparison_aligned() -> None:
    period, comparison = Period(date(2026, 3, 29), date(2026, 3, 31)), Period(date(2026, 3, 26), date(2026, 3, 28))

    def day(key: str, net: int, orders: int) -> MetricsRow:
        figures = Figures(orders_micro=orders * 1_000_000, money={"EUR": Money("EUR", gross=net)})
        return MetricsRow(key, key, figures)

    def report(p: Period, rows: list[MetricsRow]) -> MetricsReport:
        return MetricsReport(p, None, "last_touch", 28, "rollup", MetricsRow("total", "Total", Figures()), rows,
                             ["EUR"])  # fmt: skip

    current = report(period, [day("2026-03-29", 11_500, 1), day("2026-03-31", -2_000, 0)])
    previous = report(comparison, [day("2026-03-27", 500, 2)])
    lines = overview_lines(period, comparison, current, previous, ["EUR", "USD"])
    assert lines.days == ["2026-03-29", "2026-03-30", "2026-03-31"]
    assert lines.comparison_days == ["2026-03-26", "2026-03-27", "2026-03-28"]
    assert lines.revenue == {"EUR": [115.0, 0.0, -20.0], "USD": [0.0, 0.0, 0.0]}
    assert lines.revenue_previous["EUR"] == [0.0, 5.0, 0.0] and lines.orders_previous == [0.0, 2.0, 0.0]
    figure = revenue_figure(lines.days, lines.comparison_days, lines.revenue, lines.revenue_previous,
                            ["EUR", "USD"], comparing=True)  # fmt: skip
    assert figure.layout.yaxis.title.text == "Net revenue"  # two currencies: no single unit on the axis
    assert [t.name for t in figure.data] == ["Net revenue EUR", "Comparison EUR", "Net revenue USD", "Comparison USD"]
    one = revenue_figure(lines.days, [], {"EUR": lines.revenue["EUR"]}, {}, ["EUR"], comparing=False)
    assert one.layout.yaxis.title.text == "Net revenue (EUR)" and len(one.data) == 1
    alone = overview_lines(period, None, current, None, ["EUR"])
    assert alone.comparison_days == [] and alone.revenue_previous == {"EUR": []}


def test_a_figure_of_small_arguments_is_built_once_and_shared() -> None:
    # A new tab's first snapshot computes every chart var for its empty data: built once per process, not per tab.
    empty = revenue_figure([], [], {}, {}, [], comparing=False)
    assert revenue_figure([], [], {}, {}, [], comparing=False) is empty
    assert orders_figure([], [], [], [], comparing=True) is orders_figure([], [], [], [], comparing=True)
    assert orders_figure([], [], [], [], comparing=True) is not orders_figure([], [], [], [], comparing=False)
    days = [f"2026-03-{day:02}" for day in range(1, 32)]
    values = [float(day) for day in range(31)]
    # Real data is built each time (its figures are many and each is drawn once).
    first, second = (orders_figure(days, days, values, values, comparing=True) for _ in range(2))
    assert first is not second and first.to_plotly_json() == second.to_plotly_json()
    assert list(first.data[0].y) == values
