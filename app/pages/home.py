"""The overview page: today's traffic and the latest events, live. Empty until the pixel sends data."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.events import events_table
from app.components.layout import template
from app.state.base import AppState
from app.state.live import OverviewState


def empty_state() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon("chart-no-axes-combined", size=36, color=rx.color("gray", 9)),
            rx.heading("No events yet", size="4"),
            rx.text(
                "Install the PaidSignal pixel on ",
                AppState.account_name,
                "'s shop and connect Stripe: visits, paid orders and their campaigns will show here.",
                color_scheme="gray",
                text_align="center",
            ),
            rx.link(rx.button("Install the pixel", id="go-install"), href=routes.INSTALL),
            align="center",
            spacing="3",
            padding="32px",
        ),
        id="empty-overview",
    )


def kpi(label: str, value: rx.Var[int], id: str) -> rx.Component:
    return rx.card(
        rx.vstack(rx.text(label, size="2", color_scheme="gray"), rx.heading(value, size="7", id=id), spacing="1"),
        min_width="160px",
    )


@template(routes.HOME, "Overview", on_load=OverviewState.load_overview)
def home() -> rx.Component:
    return rx.cond(
        OverviewState.has_events,
        rx.vstack(
            rx.text("Today (", AppState.account_timezone, ")", size="2", color_scheme="gray"),
            rx.hstack(
                kpi("Events", OverviewState.events_today, "kpi-events"),
                kpi("Visitors", OverviewState.visitors_today, "kpi-visitors"),
                kpi("Sessions", OverviewState.sessions_today, "kpi-sessions"),
                spacing="3",
                wrap="wrap",
            ),
            rx.heading("Latest events", size="3"),
            events_table(OverviewState.recent, empty="No events yet.", id="overview-events"),
            spacing="4",
            width="100%",
        ),
        empty_state(),
    )
