"""The campaign page's pixels section: the pixels its conversions go to, detach, and attach another of the account's."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.campaign_editor import EDITABLE, hint, section
from app.state.campaign_editor import CampaignEditorState, PixelItem

# --- pixels --------------------------------------------------------------------------------------------------------


def pixel_row(pixel: PixelItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(pixel["name"], weight="medium")),
        rx.table.cell(rx.badge(pixel["provider"], variant="outline")),
        rx.table.cell(
            rx.hstack(
                rx.cond(pixel["enabled"], rx.badge("enabled", color_scheme="green"), rx.badge("disabled")),
                rx.cond(pixel["is_default"], rx.badge("account default", color_scheme="blue")),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.cond(
                EDITABLE,
                rx.button(
                    "Detach",
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    on_click=CampaignEditorState.detach_pixel(pixel["public_id"]),
                    class_name="detach-pixel",
                ),
            )
        ),
        class_name="campaign-pixel-row",
    )


def attach_controls() -> rx.Component:
    return rx.cond(
        CampaignEditorState.pixel_options.length() == 0,
        rx.text(
            "Every pixel of the account is attached. Add pixels on the ",
            rx.link("Pixels", href=routes.PIXELS),
            " page.",
            size="2",
            color_scheme="gray",
            id="no-pixel-options",
        ),
        rx.hstack(
            rx.select.root(
                rx.select.trigger(id="attach-pixel-select", placeholder="Choose a pixel", min_width="240px"),
                rx.select.content(
                    rx.foreach(
                        CampaignEditorState.pixel_options,
                        lambda option: rx.select.item(option["label"], value=option["public_id"]),
                    )
                ),
                value=CampaignEditorState.attach_choice,
                on_change=CampaignEditorState.set_attach_choice,
            ),
            rx.button("Attach", variant="soft", on_click=CampaignEditorState.attach_pixel, id="attach-pixel"),
            spacing="2",
            align="center",
        ),
    )


def pixels_section() -> rx.Component:
    return section(
        "Pixels",
        hint("This campaign's conversions go to these pixels, and to the account's default pixels."),
        rx.cond(
            CampaignEditorState.pixels.length() == 0,
            rx.text("No pixel attached.", size="2", color_scheme="gray", id="campaign-pixels-empty"),
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in ("Pixel", "Provider", "", "")])),
                rx.table.body(rx.foreach(CampaignEditorState.pixels, pixel_row)),
                width="100%",
                id="campaign-pixels",
            ),
        ),
        rx.cond(EDITABLE, attach_controls()),
        id="pixels-section",
    )
