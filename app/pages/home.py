"""The overview page. Until the pixel sends data it points the marketer to the install page."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.layout import template
from app.state.base import AppState


@template(routes.HOME, "Overview")
def home() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon("chart-no-axes-combined", size=36, color=rx.color("gray", 9)),
            rx.heading("No paid conversions yet", size="4"),
            rx.text(
                "Install the PaidSignal pixel on ",
                AppState.account_name,
                "'s shop and connect Stripe: paid orders and their campaigns will show here.",
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
