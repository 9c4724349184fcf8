"""The metrics explorer's table without Reflex: columns per dimension and currency, sorting with n/a last, the text
of a row with its comparison, chart points, labels and links, and the CSV (plain numbers, names that cannot run)."""

from __future__ import annotations

import csv
import io

from app.presenters.explorer import (
    TableRow,
    chart_points,
    csv_number,
    display_row,
    explorer_columns,
    explorer_csv,
    row_labels,
    row_urls,
    sorted_rows,
)
from app.services.stripe_connection import PriceRow


def _row(key: str, label: str, **values: float | None) -> TableRow:
    return TableRow(key=key, label=label, values=dict(values), previous=dict.fromkeys(values))


def test_explorer_csv_neutralises_names_a_spreadsheet_would_run() -> None:
    row = TableRow(key="cmp_1", label='=HYPERLINK("http://x","y")', values={"sessions": 3.0}, previous={})
    rows = list(csv.reader(io.StringIO(explorer_csv(["sessions"], [row], comparing=False))))
    assert rows[1] == ["cmp_1", '\'=HYPERLINK("http://x","y")', "3"]


def test_csv_numbers_are_plain_money_in_major_units_rates_as_fractions() -> None:
    assert csv_number("net:EUR", 12_500) == "125.00" and csv_number("net:JPY", 1_500) == "1500"
    assert csv_number("aov:EUR", 433_333.333) == "4333.33" and csv_number("refunds:KWD", -5) == "-0.005"
    assert csv_number("conversion_rate", 0.6) == "0.6" and csv_number("roas:EUR", 1.7857142857) == "1.785714"
    assert csv_number("orders", 3.0) == "3" and csv_number("orders", 1 / 3) == "0.33"
    assert csv_number("cpa:USD", None) == ""


def test_columns_follow_the_dimension_and_the_currencies() -> None:
    columns = explorer_columns("campaign", ["EUR", "USD"])
    assert columns[:4] == ["sessions", "visitors", "orders", "conversion_rate"]
    assert columns.index("net:EUR") + 1 == columns.index("net:USD")  # one column per currency, never summed
    products = explorer_columns("product", ["EUR"])
    assert "sessions" not in products and "spend:EUR" not in products and "aov:EUR" in products


def test_sorting_keeps_rows_without_a_value_last() -> None:
    rows = [_row("a", "beta", roas=2.0), _row("b", "Alpha", roas=None), _row("c", "gamma", roas=3.0)]
    assert [r["key"] for r in sorted_rows(rows, "roas", True, over_time=False)] == ["c", "a", "b"]
    assert [r["key"] for r in sorted_rows(rows, "roas", False, over_time=False)] == ["a", "c", "b"]
    assert [r["key"] for r in sorted_rows(rows, "label", False, over_time=False)] == ["b", "a", "c"]  # any case
    assert [r["key"] for r in sorted_rows(rows, "", False, over_time=False)] == ["a", "b", "c"]  # the service's
    days = [_row("2026-03-02", "Mar 2"), _row("2026-03-01", "Mar 1")]
    assert [r["key"] for r in sorted_rows(days, "label", False, over_time=True)] == ["2026-03-01", "2026-03-02"]


def test_a_row_as_the_table_shows_it_and_the_charts_points() -> None:
    row = TableRow(key="cmp_1", label="Search", values={"net:EUR": 8_000.0, "conversion_rate": 0.5},
                   previous={"net:EUR": 4_000.0, "conversion_rate": None})  # fmt: skip
    shown = display_row(row, ["net:EUR", "conversion_rate"], "/campaigns/cmp_1", "en_US", comparing=True)
    assert shown == {"key": "cmp_1", "label": "Search", "url": "/campaigns/cmp_1", "net:EUR": "€80.00",
                     "net:EUR~": "vs €40.00 (+100.0%)", "conversion_rate": "50.0%",
                     "conversion_rate~": "vs n/a (n/a)"}  # fmt: skip
    assert display_row(row, ["net:EUR"], "", "en_US", comparing=False)["net:EUR~"] == ""
    points = chart_points([row], "net:EUR", over_time=False)
    assert (points.labels, points.keys, points.values, points.previous) == (["Search"], ["cmp_1"], [80.0], [40.0])
    assert chart_points([row], "conversion_rate", over_time=False).values == [50.0]


def test_labels_for_ids_and_links_to_campaigns() -> None:
    prices = [
        PriceRow("price_1", "prod_shoe", "Shoe", "", "EUR", 4_000, None, None, True),
        PriceRow("price_2", "prod_sock", "prod_sock", "Pair", "EUR", 1_000, None, None, False),
    ]
    assert row_labels("product", prices, "en_US") == {"prod_shoe": "Shoe"}  # a product without a name keeps its id
    assert row_labels("price", prices, "de_DE") == {"price_1": "Shoe · 40,00\xa0€", "price_2": "prod_sock · Pair"}
    assert row_labels("campaign", prices, "en_US") == {}
    urls = row_urls("campaign", {"0": "direct", "7": "cmp_search"})
    assert list(urls) == ["cmp_search"] and urls["cmp_search"].endswith("/campaigns/cmp_search")
    assert row_urls("version", {"3": "cv_1"}) == {}
