"""The install page: the script tag for the shop's pages (the tracking issue fills in the live check)."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.layout import template
from app.state.install import InstallState


@template(routes.INSTALL, "Install the pixel", on_load=InstallState.load_install)
def install() -> rx.Component:
    return rx.vstack(
        rx.text(
            "1. Create a publishable key for your shop's address on the ",
            rx.link("API keys", href=routes.SETTINGS_KEYS),
            " page.",
        ),
        rx.text("2. Paste this tag into every page of your shop, before </head>:"),
        rx.code_block(InstallState.snippet, language="markup", width="100%", id="install-snippet"),
        rx.button("Copy", size="1", variant="soft", on_click=rx.set_clipboard(InstallState.snippet)),
        rx.callout(
            "The pixel script and the live install check arrive with the tracking release.",
            icon="info",
            size="1",
        ),
        spacing="3",
        width="100%",
        align="start",
    )
