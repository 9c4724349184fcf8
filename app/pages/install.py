"""The install page: the snippet with the account's key, a test event and a live 'first event received' check."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.events import events_table
from app.components.layout import template
from app.state.live import InstallState


def live_indicator() -> rx.Component:
    return rx.cond(
        InstallState.received,
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-check")),
            rx.callout.text(
                rx.text.strong("Received"),
                ": ",
                InstallState.first_event["type"],
                " from ",
                InstallState.first_event["url"],
                " at ",
                InstallState.first_event["time"],
            ),
            color_scheme="green",
            id="install-status",
            data_status="received",
        ),
        rx.callout.root(
            rx.callout.icon(rx.spinner(size="1")),
            rx.callout.text("Waiting for your first event… open a page of your shop with the tag installed."),
            color_scheme="gray",
            id="install-status",
            data_status="waiting",
        ),
    )


@template(routes.INSTALL, "Install the pixel", on_load=InstallState.load_install)
def install() -> rx.Component:
    return rx.vstack(
        live_indicator(),
        rx.cond(
            InstallState.publishable_key == "",
            rx.callout(
                rx.text(
                    "First create a publishable key with your shop's address on the ",
                    rx.link("API keys", href=routes.SETTINGS_KEYS),
                    " page; the snippet below then carries it.",
                ),
                icon="triangle-alert",
                color_scheme="amber",
                id="install-no-key",
            ),
            rx.text(
                "Allowed origins for this key: ",
                rx.code(InstallState.origins.join(", ")),
                size="2",
            ),
        ),
        rx.text("Paste this into every page of your shop, before </head>:"),
        rx.code_block(
            InstallState.snippet, language="markup", width="100%", id="install-snippet", wrap_long_lines=True
        ),
        rx.hstack(
            rx.button("Copy snippet", size="1", variant="soft", on_click=rx.set_clipboard(InstallState.snippet)),
            rx.button(
                "Copy key",
                size="1",
                variant="soft",
                on_click=rx.set_clipboard(InstallState.publishable_key),
                disabled=InstallState.publishable_key == "",
            ),
            # Viewers only look (the server refuses their test event too).
            rx.cond(
                InstallState.can_edit_marketing,
                rx.button("Send a test event", size="1", on_click=InstallState.send_test_event, id="send-test-event"),
            ),
        ),
        rx.text(
            "Track more from your pages: ",
            rx.code("paidsignal('track', 'add_to_cart', {value: 1999, currency: 'EUR'})"),
            " (amounts in minor units). Identify buyers (hashed in the browser): ",
            rx.code("paidsignal('identify', {email})"),
            ". Consent: ",
            rx.code("paidsignal('consent', {ad_user_data, ad_personalization, analytics})"),
            ".",
            size="2",
            color_scheme="gray",
        ),
        rx.heading("Latest events", size="3"),
        events_table(InstallState.recent, empty="No events yet.", id="install-events"),
        spacing="3",
        width="100%",
        align="start",
    )
