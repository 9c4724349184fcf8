"""Dashboard pieces shared by the overview and the metrics explorer: the range picker (it changes the URL), KPI cards
with their comparison, plotly chart cards and loading skeletons."""

from __future__ import annotations

from typing import Any

import reflex as rx

from app.components.forms import select_input
from app.state.metrics import COMPARE_LABELS, MODEL_LABELS, PRESET_LABELS, KpiItem, RangeState

TONES = {"green": "green", "red": "red", "gray": "gray"}


def range_picker(*, show_model: bool = True) -> rx.Component:
    """Preset, custom dates, comparison and attribution model; every change is a new URL (shareable)."""
    r = RangeState
    return rx.vstack(
        rx.hstack(
            select_input(list(PRESET_LABELS.items()), value=r.preset, on_change=r.choose_preset, id="range-preset"),
            rx.cond(
                r.is_custom,
                rx.form(
                    rx.hstack(
                        # A new value from the URL (back button, shared link) remounts the input with it.
                        rx.input(type="date", name="start", id="range-start", default_value=r.start, key=r.start),
                        rx.text("to", size="2"),
                        rx.input(type="date", name="end", id="range-end", default_value=r.end, key=r.end),
                        rx.button("Apply", type="submit", variant="soft", id="apply-range"),
                        align="center",
                        spacing="2",
                    ),
                    on_submit=r.apply_custom,
                ),
            ),
            rx.text("compared with", size="2", color_scheme="gray"),
            select_input(list(COMPARE_LABELS.items()), value=r.compare, on_change=r.choose_compare, id="range-compare"),
            *(
                [
                    rx.hstack(
                        rx.text("Model", size="2", color_scheme="gray"),
                        select_input(
                            list(MODEL_LABELS.items()), value=r.model, on_change=r.choose_model, id="range-model"
                        ),
                        align="center",
                        spacing="2",
                    )
                ]
                if show_model
                else []
            ),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        rx.hstack(
            rx.text(r.period_label, size="2", weight="medium", id="range-period"),
            rx.cond(
                r.comparison_label != "",
                rx.text("vs ", r.comparison_label, size="2", color_scheme="gray", id="range-comparison"),
            ),
            spacing="2",
            wrap="wrap",
        ),
        spacing="2",
        width="100%",
        id="range-picker",
    )


def delta_badge(item: KpiItem) -> rx.Component:
    tone = rx.match(item["tone"], *TONES.items(), "gray")
    icon = rx.match(
        item["icon"],
        ("arrow-up", rx.icon("arrow-up", size=12)),
        ("arrow-down", rx.icon("arrow-down", size=12)),
        rx.icon("minus", size=12),
    )
    return rx.badge(icon, item["percent"], color_scheme=tone, variant="soft", class_name="kpi-percent")


def kpi_card(item: KpiItem) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(item["label"], size="2", color_scheme="gray", class_name="kpi-label"),
            rx.heading(item["value"], size="6", class_name="kpi-value"),
            rx.cond(
                item["previous"] != "",
                rx.hstack(
                    delta_badge(item),
                    rx.text(item["change"], size="1", color_scheme="gray", class_name="kpi-change"),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
            ),
            rx.cond(
                item["previous"] != "",
                rx.text("was ", item["previous"], size="1", color_scheme="gray", class_name="kpi-previous"),
            ),
            spacing="1",
            align="start",
        ),
        id=item["id"],
        class_name="kpi-card",
    )


def kpi_grid(items: Any, id: str) -> rx.Component:
    return rx.grid(
        rx.foreach(items, kpi_card),
        columns=rx.breakpoints(initial="2", sm="3", md="4"),
        spacing="3",
        width="100%",
        id=id,
    )


def chart_card(
    title: Any, figure: Any, *controls: rx.Component, id: str, drawn: rx.Var[bool] | None = None
) -> rx.Component:
    """A plotly chart (the small "basic" bundle: lines and bars) in a card. Reflex fetches plotly's script (1 MB)
    when a chart first mounts; with ``drawn``, the chart mounts only once that is true (a blank area of its size
    until then), so a page can draw its charts after its figures."""
    chart = rx.plotly.basic(data=figure, use_resize_handler=True, width="100%", height="280px")
    if drawn is not None:
        chart = rx.cond(drawn, chart, rx.box(height="280px", width="100%", class_name="chart-pending"))
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading(title, size="3"), rx.spacer(), *controls, align="center", width="100%"),
            chart,
            spacing="2",
            width="100%",
        ),
        width="100%",
        id=id,
        class_name="chart-card",
    )


def skeleton_block(height: str, **props: Any) -> rx.Component:
    return rx.skeleton(rx.box(height=height, width="100%"), loading=True, width="100%", **props)


def dashboard_skeleton(id: str) -> rx.Component:
    return rx.vstack(
        rx.grid(*[skeleton_block("92px") for _ in range(8)], columns="4", spacing="3", width="100%"),
        rx.hstack(skeleton_block("300px"), skeleton_block("300px"), spacing="3", width="100%"),
        skeleton_block("200px"),
        spacing="3",
        width="100%",
        id=id,
    )
