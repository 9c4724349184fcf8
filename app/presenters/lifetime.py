"""Lifetime value as people read it: the LTV table (one currency at a time: money is never summed across currencies),
the cohort heatmap (first-order month × months since) and their CSV files. Money in the account's locale (Babel)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import plotly.graph_objects as go

from app import routes
from app.lib.csv_export import csv_text
from app.lib.formatting import format_money, format_number, format_percent, format_ratio, to_major
from app.presenters.charts import plotly_text
from app.services.metrics import HORIZONS, CohortReport, Dimension, LtvFigures, LtvReport

LTV_DIMENSION_LABELS = {
    Dimension.CAMPAIGN.value: "Acquiring campaign",
    Dimension.VERSION.value: "Acquiring version",
    Dimension.CHANNEL.value: "Acquiring platform",
    Dimension.PRODUCT.value: "First product",
    Dimension.MONTH.value: "First-order month",
}
PERIOD_LABELS = {"90": "Acquired in the last 90 days", "180": "… last 180 days", "365": "… last 365 days"}
RATIO_HORIZON = 90  # the LTV:CAC column: LTV at 90 days / CPA
NA = "n/a"


class LtvLine(TypedDict):
    key: str
    label: str
    url: str
    customers: str
    ltv_30: str
    ltv_60: str
    ltv_90: str
    ltv_180: str
    ltv_365: str
    cpa: str
    ltv_cac: str
    payback: str


def _money(value: float | None, currency: str, locale: str) -> str:
    return NA if value is None else format_money(value, currency, locale)


def ltv_line(key: str, label: str, url: str, figures: LtvFigures, currency: str, locale: str) -> LtvLine:
    ratio = figures.ltv_cac(currency, RATIO_HORIZON)
    values = {f"ltv_{n}": _money(figures.ltv(currency, n), currency, locale) for n in HORIZONS}
    return LtvLine(
        key=key,
        label=label,
        url=url,
        customers=format_number(figures.customers, locale),
        ltv_30=values["ltv_30"],
        ltv_60=values["ltv_60"],
        ltv_90=values["ltv_90"],
        ltv_180=values["ltv_180"],
        ltv_365=values["ltv_365"],
        cpa=_money(figures.cpa(currency), currency, locale),
        ltv_cac=NA if ratio is None else format_ratio(ratio, locale),
        payback=figures.payback(currency),
    )


def ltv_lines(
    report: LtvReport, currency: str, keys: Mapping[str, str], labels: Mapping[str, str], locale: str
) -> tuple[list[LtvLine], LtvLine]:
    """The table's rows (links to campaigns where the row is one) and its total line, in ``currency``."""
    lines = []
    for row in report.rows:
        public_id = keys.get(row.key, "")
        url = routes.campaign_url(public_id) if report.dimension is Dimension.CAMPAIGN and public_id else ""
        lines.append(ltv_line(row.key, labels.get(row.key, row.label), url, row.figures, currency, locale))
    return lines, ltv_line("total", "All customers", "", report.total.figures, currency, locale)


def ltv_csv(report: LtvReport, labels: Mapping[str, str]) -> str:
    """Every row in every currency, numbers unformatted (minor units as decimals of the currency)."""
    header = ["row", "currency", "customers", *(f"ltv_{n}d" for n in HORIZONS), "net_to_date", "spend", "cpa",
              f"ltv_cac_{RATIO_HORIZON}d", "payback_days", "payback"]  # fmt: skip
    lines: list[list[object]] = []
    for row in [*report.rows, report.total]:
        figures = row.figures
        for code in sorted(figures.money):
            money = figures.money[code]

            def major(value: float | None, code: str = code) -> object:
                return None if value is None else round(float(to_major(value, code)), 4)

            lines.append([
                labels.get(row.key, row.label), code, round(figures.customers, 6),
                *(major(figures.ltv(code, n)) for n in HORIZONS), major(money.net_total),
                major(money.spend), major(figures.cpa(code)),
                None if (r := figures.ltv_cac(code, RATIO_HORIZON)) is None else round(r, 4),
                figures.payback_days(code), figures.payback(code),
            ])  # fmt: skip
    return csv_text(header, lines)


def cohort_figure(report: CohortReport, currency: str, locale: str) -> go.Figure:
    """Rows: first-order months; columns: months since (30 days each); colour: cumulative net revenue per customer
    in ``currency`` (major units); text: that amount and, for subscribers, the share still active."""
    y = [plotly_text(row.label) for row in report.rows]
    x = [f"Month {m}" for m in report.months]
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for row in report.rows:
        values: list[float | None] = []
        texts: list[str] = []
        for cell in row.cells:
            value = cell.net_per_customer(currency) if cell else None
            values.append(None if value is None else float(to_major(value, currency)))
            if cell is None or value is None:
                texts.append("")
                continue
            share = cell.active_share
            active = "" if share is None else f" · {format_percent(share, locale, digits=0)} active"
            texts.append(plotly_text(format_money(value, currency, locale) + active))
        z.append(values)
        text.append(texts)
    figure = go.Figure(
        go.Heatmap(
            x=x,
            y=y,
            z=z,
            text=text,
            texttemplate="%{text}",
            hovertemplate="%{y}, %{x}: %{text}<extra></extra>",
            colorscale="Blues",
            colorbar={"title": {"text": f"Net / customer ({currency})"}},
        )
    )
    figure.update_layout(
        height=max(240, 40 + 32 * len(y)),
        margin={"l": 80, "r": 16, "t": 16, "b": 40},
        yaxis={"autorange": "reversed", "type": "category"},
        xaxis={"type": "category", "side": "top"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return figure


def cohort_csv(report: CohortReport) -> str:
    """One line per cohort and month since: customers counted, net per customer in each currency, share active."""
    header = ["first_order_month", "months_since", "customers",
              *(f"net_per_customer_{code}" for code in report.currencies), "subscriptions_active_share"]  # fmt: skip
    lines: list[list[object]] = []
    for row in report.rows:
        for cell in row.cells:
            if cell is None:
                continue
            lines.append([
                row.month.isoformat(), cell.months, round(cell.customers_micro / 1_000_000, 6),
                *(None if (v := cell.net_per_customer(code)) is None else round(float(to_major(v, code)), 4)
                  for code in report.currencies),
                None if cell.active_share is None else round(cell.active_share, 4),
            ])  # fmt: skip
    return csv_text(header, lines)
