"""Lifetime value: what the customers each campaign, version, platform, product or month brought are worth over
time (LTV at 30 … 365 days, new-customer CPA, LTV:CAC, payback), and the cohort heatmap. Every choice is in the URL."""

from __future__ import annotations

from typing import Any

import reflex as rx

from app import routes
from app.components.charts import dashboard_skeleton
from app.components.forms import clear_filters_button, select_input
from app.components.layout import template
from app.pages.metrics import labelled, option_select
from app.presenters.lifetime import LTV_DIMENSION_LABELS, PERIOD_LABELS, RATIO_HORIZON
from app.presenters.metrics import MODEL_LABELS, platform_label
from app.state.metrics import ALL, LOOKBACKS
from app.state.metrics.lifetime import LTV_CHANNELS, LifetimeState

COLUMNS = [
    ("customers", "Customers"),
    ("ltv_30", "LTV 30 d"),
    ("ltv_60", "LTV 60 d"),
    ("ltv_90", "LTV 90 d"),
    ("ltv_180", "LTV 180 d"),
    ("ltv_365", "LTV 365 d"),
    ("cpa", "New-customer CPA"),
    ("ltv_cac", f"LTV:CAC ({RATIO_HORIZON} d)"),
    ("payback", "Payback"),
]


def _channel_label(channel: str) -> str:
    return "Imported from Stripe" if channel == "imported" else platform_label(channel)


def controls() -> rx.Component:
    return rx.hstack(
        labelled("Rows by", select_input(list(LTV_DIMENSION_LABELS.items()), value=LifetimeState.dimension,
                                         on_change=LifetimeState.choose_dimension, id="ltv-dimension")),
        labelled("Customers", select_input(list(PERIOD_LABELS.items()), value=LifetimeState.days,
                                           on_change=LifetimeState.choose_days, id="ltv-days")),
        labelled("Attribution", select_input(list(MODEL_LABELS.items()), value=LifetimeState.model,
                                             on_change=LifetimeState.choose_model, id="ltv-model")),
        labelled(
            "Lookback",
            rx.hstack(
                select_input([(d, f"{d} days") for d in LOOKBACKS], value=LifetimeState.lookback,
                             on_change=LifetimeState.choose_lookback, id="ltv-lookback"),
                rx.cond(
                    LifetimeState.computed_live,
                    rx.tooltip(
                        rx.badge("computed live", color_scheme="amber", id="ltv-computed-live"),
                        content="Customer rollups keep last touch with a 28-day lookback; other choices are "
                        "computed from the raw data.",
                    ),
                ),
                align="center",
                spacing="2",
            ),
        ),
        labelled("Campaign", option_select(LifetimeState.campaign_options, all_label="All campaigns",
                                           value=LifetimeState.campaign_filter,
                                           on_change=LifetimeState.choose_campaign, id="ltv-campaign")),
        labelled("Platform", select_input([(ALL, "All platforms"), *((c, _channel_label(c)) for c in LTV_CHANNELS)],
                                          value=LifetimeState.channel_filter,
                                          on_change=LifetimeState.choose_channel, id="ltv-channel")),
        labelled(
            "Currency",
            rx.select.root(
                rx.select.trigger(id="ltv-currency"),
                rx.select.content(rx.foreach(LifetimeState.currencies, lambda c: rx.select.item(c, value=c))),
                value=LifetimeState.currency,
                on_change=LifetimeState.choose_currency,
            ),
        ),
        clear_filters_button(
            (LifetimeState.campaign_filter != ALL) | (LifetimeState.channel_filter != ALL), LifetimeState.clear_filters
        ),
        align="end",
        spacing="3",
        wrap="wrap",
    )  # fmt: skip


def ltv_row(line: Any, class_name: str) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.cond(line["url"] != "", rx.link(line["label"], href=line["url"]), rx.text(line["label"]))),
        *[rx.table.cell(line[key], white_space="nowrap", custom_attrs={"data-column": key}) for key, _ in COLUMNS],
        class_name=class_name,
    )


def ltv_table() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Lifetime value by acquisition", size="3"),
                rx.spacer(),
                rx.button(rx.icon("download", size=14), "Export CSV", variant="soft", on_click=LifetimeState.export_ltv,
                          id="export-ltv"),
                width="100%",
                align="center",
            ),
            rx.text(
                "Cumulative net revenue per customer N days after their first order (only customers acquired at "
                "least N days ago count for N); payback: the first day LTV reaches the new-customer CPA. As of ",
                LifetimeState.as_of,
                ".",
                size="1",
                color_scheme="gray",
            ),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell(rx.match(LifetimeState.dimension,
                                                                 *LTV_DIMENSION_LABELS.items(), "Row")),
                            *[rx.table.column_header_cell(label, white_space="nowrap") for _key, label in COLUMNS],
                        )
                    ),
                    rx.table.body(
                        rx.foreach(LifetimeState.lines, lambda line: ltv_row(line, "ltv-row")),
                        rx.cond(LifetimeState.total, ltv_row(LifetimeState.total, "ltv-total")),
                    ),
                    width="max-content",
                    min_width="100%",
                    size="1",
                    id="ltv-table",
                ),
                overflow_x="auto",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )  # fmt: skip


def cohort_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Cohorts: net revenue per customer by months since the first order", size="3"),
                rx.spacer(),
                rx.button(rx.icon("download", size=14), "Export CSV", variant="soft",
                          on_click=LifetimeState.export_cohorts, id="export-cohorts"),
                width="100%",
                align="center",
            ),
            rx.text("Month m: the first 30·m days. For subscriptions, the share still active. Filter by campaign "
                    "and platform above.", size="1", color_scheme="gray"),
            rx.cond(
                LifetimeState.cohort_rows > 0,
                rx.plotly.cartesian(data=LifetimeState.cohort_chart, use_resize_handler=True, width="100%"),
                rx.text("No customers in these choices.", size="2", color_scheme="gray", id="cohorts-empty"),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        id="cohorts",
    )  # fmt: skip


@template(routes.LTV, "Lifetime value", on_load=LifetimeState.load_lifetime)
def ltv_page() -> rx.Component:
    return rx.vstack(
        controls(),
        rx.cond(
            LifetimeState.error != "",
            rx.callout(LifetimeState.error, icon="triangle-alert", color_scheme="red", id="ltv-error", width="100%"),
        ),
        rx.cond(
            LifetimeState.loading | ~LifetimeState.loaded,
            dashboard_skeleton("ltv-loading"),
            rx.cond(
                LifetimeState.error == "",
                rx.vstack(
                    rx.cond(
                        LifetimeState.lines.length() == 0,
                        rx.callout("No customers acquired in these choices.", icon="info", color_scheme="gray",
                                   id="ltv-empty"),
                    ),
                    ltv_table(),
                    cohort_card(),
                    spacing="4",
                    width="100%",
                ),
            ),
        ),
        spacing="4",
        width="100%",
    )  # fmt: skip
