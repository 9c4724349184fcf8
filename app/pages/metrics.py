"""The metrics explorer: a table by any dimension (sortable, with the comparison), a chart of one measure, the
attribution model and lookback, filters, and a CSV export. Every choice is in the URL."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventSpec

from app import routes
from app.components.charts import chart_card, dashboard_skeleton, range_picker
from app.components.claims import claims_card
from app.components.forms import clear_filters_button, select_input
from app.components.layout import template
from app.state.metrics import (
    ALL,
    DIMENSION_LABELS,
    GROUP_OPTIONS,
    LOOKBACKS,
    PLATFORM_OPTIONS,
    ColumnItem,
    ExplorerState,
    RangeState,
)
from app.state.metrics.claims import PlatformClaimsState


def labelled(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="1", color_scheme="gray"), control, spacing="1")


def option_select(options: Any, *, all_label: str, value: Any, on_change: Any, id: str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(id=id, placeholder=all_label),
        rx.select.content(
            rx.select.item(all_label, value=ALL),
            rx.foreach(options, lambda o: rx.select.item(o["label"], value=o["value"])),
        ),
        value=value,
        on_change=on_change,
    )


def controls() -> rx.Component:
    channels = [(ALL, "All platforms"), *PLATFORM_OPTIONS]
    groups = [(ALL, "All channel groups"), *GROUP_OPTIONS]
    return rx.hstack(
        labelled(
            "Rows by",
            select_input(
                list(DIMENSION_LABELS.items()),
                value=ExplorerState.dimension,
                on_change=ExplorerState.choose_dimension,
                id="explorer-dimension",
            ),
        ),
        labelled(
            "Lookback",
            rx.hstack(
                select_input(
                    [(d, f"{d} days") for d in LOOKBACKS],
                    value=ExplorerState.lookback,
                    on_change=ExplorerState.choose_lookback,
                    id="explorer-lookback",
                ),
                rx.cond(
                    ExplorerState.computed_live,
                    rx.tooltip(
                        rx.badge("computed live", color_scheme="amber", id="computed-live"),
                        content="Rollups keep the 28-day lookback; other lookbacks are computed from the raw data.",
                    ),
                ),
                align="center",
                spacing="2",
            ),
        ),
        labelled(
            "Campaign",
            option_select(
                ExplorerState.campaign_options,
                all_label="All campaigns",
                value=ExplorerState.campaign_filter,
                on_change=ExplorerState.choose_campaign,
                id="explorer-campaign",
            ),
        ),
        labelled(
            "Channel group",
            select_input(
                groups,
                value=ExplorerState.group_filter,
                on_change=ExplorerState.choose_channel_group,
                id="explorer-channel-group",
            ),
        ),
        labelled(
            "Platform",
            select_input(
                channels,
                value=ExplorerState.channel_filter,
                on_change=ExplorerState.choose_channel,
                id="explorer-channel",
            ),
        ),
        labelled(
            "Product",
            option_select(
                ExplorerState.product_options,
                all_label="All products",
                value=ExplorerState.product_filter,
                on_change=ExplorerState.choose_product,
                id="explorer-product",
            ),
        ),
        clear_filters_button(ExplorerState.filtered, ExplorerState.clear_filters),
        align="end",
        spacing="3",
        wrap="wrap",
    )


def sort_mark(column: ColumnItem) -> rx.Component:
    return rx.match(
        column["sort"],
        ("asc", rx.icon("arrow-up", size=12)),
        ("desc", rx.icon("arrow-down", size=12)),
        rx.fragment(),
    )


def header_cell(column: ColumnItem) -> rx.Component:
    return rx.table.column_header_cell(
        rx.hstack(rx.text(column["label"]), sort_mark(column), spacing="1", align="center"),
        on_click=ExplorerState.sort_by(column["key"]),
        cursor="pointer",
        white_space="nowrap",
        class_name="sortable",
        custom_attrs={"data-column": column["key"], "aria-sort": column["sort"]},
    )


def value_cell(row: Any, column: ColumnItem) -> rx.Component:
    return rx.table.cell(
        rx.vstack(
            rx.text(row[column["key"]], size="2"),
            rx.cond(ExplorerState.comparing, rx.text(row[column["key"] + "~"], size="1", color_scheme="gray")),
            spacing="0",
        ),
        white_space="nowrap",
        custom_attrs={"data-column": column["key"]},
    )


def label_cell(row: Any) -> rx.Component:
    return rx.table.cell(
        rx.cond(row["url"] != "", rx.link(row["label"], href=row["url"]), rx.text(row["label"])),
        class_name="row-label",
    )


def table() -> rx.Component:
    label_sort = rx.cond(
        ExplorerState.sort_key == "label",
        rx.cond(ExplorerState.sort_desc, rx.icon("arrow-down", size=12), rx.icon("arrow-up", size=12)),
        rx.fragment(),
    )
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell(
                        rx.hstack(
                            rx.text(rx.match(ExplorerState.dimension, *DIMENSION_LABELS.items(), "Row")),
                            label_sort,
                            spacing="1",
                            align="center",
                        ),
                        on_click=ExplorerState.sort_by("label"),
                        cursor="pointer",
                        class_name="sortable",
                        custom_attrs={"data-column": "label"},
                    ),
                    rx.foreach(ExplorerState.columns, header_cell),
                )
            ),
            rx.table.body(
                rx.foreach(
                    ExplorerState.rows,
                    lambda row: rx.table.row(
                        label_cell(row),
                        rx.foreach(ExplorerState.columns, lambda column: value_cell(row, column)),
                        class_name="explorer-row",
                    ),
                ),
                rx.table.row(
                    rx.table.cell(rx.text("Total", weight="bold")),
                    rx.foreach(ExplorerState.columns, lambda column: value_cell(ExplorerState.total, column)),
                    class_name="explorer-total",
                ),
            ),
            # As wide as its columns: Radix's own scroll area would clip a wide table and show its scrollbar only
            # on hover (the last columns looked cut off); this box scrolls instead, with a visible scrollbar.
            width="max-content",
            min_width="100%",
            size="1",
            id="explorer-table",
        ),
        overflow_x="auto",
        width="100%",
        id="explorer-table-scroll",
    )


def replace_url_parameter(name: str, value: rx.Var[str]) -> EventSpec:
    """Write ``name=value`` into the address bar without a navigation (the page's data is not loaded again). A
    function compiled into the page: a script sent by the server would need eval(), which the policy refuses."""
    return rx.run_script(
        rx.Var(
            f"((url) => {{ url.searchParams.set({name!r}, {value}); "
            "window.history.replaceState(window.history.state, '', url); })(new URL(window.location.href))"
        )
    )


def results() -> rx.Component:
    measure = rx.select.root(
        rx.select.trigger(id="explorer-measure"),
        rx.select.content(
            rx.foreach(ExplorerState.measure_options, lambda o: rx.select.item(o["label"], value=o["value"]))
        ),
        value=ExplorerState.measure,
        on_change=lambda value: [ExplorerState.choose_measure(value), replace_url_parameter("measure", value)],
        size="1",
    )
    return rx.vstack(
        chart_card(ExplorerState.measure_label, ExplorerState.chart, measure, id="explorer-chart"),
        rx.hstack(
            rx.text(ExplorerState.row_count_text, size="2", color_scheme="gray", id="explorer-count"),
            rx.spacer(),
            rx.button(
                rx.icon("download", size=14),
                "Export CSV",
                variant="soft",
                on_click=ExplorerState.export_csv,
                id="export-csv",
            ),
            width="100%",
            align="center",
        ),
        rx.cond(
            ExplorerState.rows.length() == 0,
            rx.callout("No data for these choices.", icon="info", color_scheme="gray", id="explorer-empty"),
        ),
        table(),
        spacing="3",
        width="100%",
    )


@template(
    routes.METRICS,
    "Metrics",
    on_load=[RangeState.read_range, ExplorerState.load_explorer, PlatformClaimsState.load_platform_claims],
)
def metrics_page() -> rx.Component:
    return rx.vstack(
        range_picker(),
        controls(),
        rx.cond(
            ExplorerState.error != "",
            rx.callout(
                ExplorerState.error, icon="triangle-alert", color_scheme="red", id="explorer-error", width="100%"
            ),
        ),
        rx.cond(
            ExplorerState.loading | ~ExplorerState.loaded,
            dashboard_skeleton("explorer-loading"),
            rx.cond(ExplorerState.error == "", results()),
        ),
        rx.cond(PlatformClaimsState.claims.length() > 0, claims_card(id="platform-vs-verified")),
        spacing="4",
        width="100%",
    )
