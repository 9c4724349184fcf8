"""The metrics explorer's table as people read it and as a spreadsheet gets it: its columns, one row per dimension
value (numbers kept for sorting, the chart and the CSV; text for the page), row labels and links, and the CSV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from app import routes
from app.lib.csv_export import csv_text
from app.lib.formatting import format_money
from app.presenters.charts import chart_number
from app.presenters.metrics import (
    MEASURES,
    column_key,
    column_label,
    comparison_text,
    format_value,
    measure_value,
    split_column,
)
from app.services.currency import format_major
from app.services.metrics import DIRECT, Dimension, Figures, MetricsReport, delta
from app.services.stripe_connection import PriceRow

# Traffic and spend have no product: rows by product or price leave them out (see services/metrics).
PRODUCT_MEASURES = ("orders", "new_customers", "renewals", "net", "gross", "renewal_revenue", "refunds", "aov")
EXPLORER_MEASURES = ("sessions", "visitors", "orders", "conversion_rate", "new_customers", "net", "gross", "refunds",
                     "spend", "aov", "roas", "cpa")  # fmt: skip
LABEL = "label"  # the sort key of the rows' own column


class OptionItem(TypedDict):
    value: str
    label: str


class ColumnItem(TypedDict):
    key: str
    label: str
    sort: str  # "asc" | "desc" | "" (not the sort column)


class TableRow(TypedDict):
    """A row as numbers: each column's value in the period and in the comparison (None: n/a or no comparison)."""

    key: str
    label: str
    values: dict[str, float | None]
    previous: dict[str, float | None]


def explorer_columns(dimension: str, currencies: list[str]) -> list[str]:
    """The column keys for rows by ``dimension``: money measures once per currency."""
    shown = PRODUCT_MEASURES if dimension in {Dimension.PRODUCT.value, Dimension.PRICE.value} else EXPLORER_MEASURES
    names = [n for n in EXPLORER_MEASURES if n in shown]
    return [column_key(n, c) for n in names for c in (currencies if MEASURES[n].per_currency else [""])]


def default_measure(columns: list[str]) -> str:
    """The chart's measure when the URL names none (or one not shown): net revenue in the first currency, else
    orders."""
    return next((c for c in columns if c.startswith("net:")), "orders")


def column_items(columns: list[str], sort_key: str, descending: bool) -> list[ColumnItem]:
    direction = "desc" if descending else "asc"
    return [ColumnItem(key=c, label=column_label(c), sort=direction if c == sort_key else "") for c in columns]


def table_row(key: str, label: str, figures: Figures, previous: Figures | None, columns: list[str]) -> TableRow:
    return TableRow(
        key=key,
        label=label,
        values={c: measure_value(c, figures) for c in columns},
        previous={c: measure_value(c, previous) if previous is not None else None for c in columns},
    )


def table_rows(
    report: MetricsReport, columns: list[str], keys: dict[str, str], labels: dict[str, str]
) -> tuple[list[TableRow], TableRow]:
    """The report's rows (keyed by the public ``keys`` where given, with readable ``labels`` where the report shows
    an id) and its total."""
    rows = [
        table_row(keys.get(r.key, r.key), labels.get(r.key, r.label), r.figures, r.previous, columns)
        for r in report.rows
    ]
    return rows, table_row("total", "Total", report.total.figures, report.total.previous, columns)


def sorted_rows(rows: Sequence[TableRow], sort_key: str, descending: bool, *, over_time: bool) -> list[TableRow]:
    """Rows by ``sort_key``: "" keeps the service's order (net revenue, highest first); ``label`` sorts by name, or
    by date over time; a column sorts by its value, rows without one ("n/a") last either way."""
    if not sort_key:
        return list(rows)
    if sort_key == LABEL:
        return sorted(rows, key=lambda r: r["key"] if over_time else r["label"].lower(), reverse=descending)
    present = [r for r in rows if r["values"].get(sort_key) is not None]
    missing = [r for r in rows if r["values"].get(sort_key) is None]
    present.sort(key=lambda r: r["values"][sort_key] or 0.0, reverse=descending)
    return present + missing


def display_row(row: TableRow, columns: list[str], url: str, locale: str, *, comparing: bool) -> dict[str, str]:
    """A row as the table shows it: per column its value (``key``) and, with a comparison, "vs … (…%)" (``key~``)."""
    shown = {"key": row["key"], "label": row["label"], "url": url}
    for key in columns:
        now = row["values"].get(key)
        shown[key] = format_value(key, now, locale)
        shown[f"{key}~"] = comparison_text(key, now, row["previous"].get(key), locale) if comparing else ""
    return shown


@dataclass(frozen=True)
class ChartPoints:
    """The explorer chart's points for one measure: a bar (or a point in time) per row."""

    labels: list[str]
    keys: list[str]
    values: list[float | None]
    previous: list[float | None]


def chart_points(rows: Sequence[TableRow], measure: str, *, over_time: bool) -> ChartPoints:
    """Rows in the table's order (in time order over time), their ``measure`` as the chart plots it."""
    ordered = sorted(rows, key=lambda r: r["key"]) if over_time else list(rows)
    return ChartPoints(
        labels=[r["label"] for r in ordered],
        keys=[r["key"] for r in ordered],
        values=[chart_number(measure, r["values"].get(measure)) if measure else None for r in ordered],
        previous=[chart_number(measure, r["previous"].get(measure)) if measure else None for r in ordered],
    )


# --- labels, links and filter choices -------------------------------------------------------------------------------


def product_options(prices: list[PriceRow]) -> list[OptionItem]:
    """Every product of the catalogue once, by name: the product filter's choices."""
    products = {p.product_stripe_id: p.product_name for p in prices}
    return [OptionItem(value=pid, label=name) for pid, name in sorted(products.items(), key=lambda i: i[1])]


def campaign_options(campaigns: list[tuple[str, str]]) -> list[OptionItem]:
    return [OptionItem(value=pid, label=name) for pid, name in campaigns]


def row_labels(dimension: str, prices: list[PriceRow], locale: str) -> dict[str, str]:
    """Readable labels where the metrics show an id: a product's name, a price's product and nickname (or amount)."""
    if dimension == Dimension.PRODUCT.value:
        products = {p.product_stripe_id: p.product_name for p in prices}
        return {key: name for key, name in products.items() if name and name != key}
    if dimension == Dimension.PRICE.value:
        return {
            p.stripe_id: f"{p.product_name} · {p.nickname or format_money(p.unit_amount or 0, p.currency, locale)}"
            for p in prices
        }
    return {}


def row_urls(dimension: str, keys: dict[str, str]) -> dict[str, str]:
    """Rows by campaign link to the campaign's page (by their public key; no link for direct)."""
    if dimension != Dimension.CAMPAIGN.value:
        return {}
    return {pid: routes.campaign_url(pid) for pid in keys.values() if pid != DIRECT}


# --- CSV ------------------------------------------------------------------------------------------------------------


def csv_number(key: str, value: float | None) -> str:
    """Plain numbers for spreadsheets: money in major units of its currency, rates as fractions."""
    if value is None:
        return ""
    measure, currency = split_column(key)
    if measure.kind == "money":
        return format_major(round(value), currency)
    if measure.kind in {"rate", "ratio"}:
        return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.2f}"


def explorer_csv(columns: list[str], rows: Sequence[TableRow], *, comparing: bool) -> str:
    """The table as CSV: per column the value and, with a comparison, the comparison's value, the change and the
    change in percent (empty when there is no base)."""
    header = ["key", "label"]
    for key in columns:
        label = column_label(key)
        header.append(label)
        if comparing:
            header += [f"{label} comparison", f"{label} change", f"{label} change %"]
    lines = []
    for row in rows:
        line = [row["key"], row["label"]]
        for key in columns:
            now, before = row["values"].get(key), row["previous"].get(key) if comparing else None
            line.append(csv_number(key, now))
            if comparing:
                change = delta(now, before)
                percent = "" if change.percent is None else f"{change.percent:.2f}"
                line += [csv_number(key, before), csv_number(key, change.absolute), percent]
        lines.append(line)
    return csv_text(header, lines)
