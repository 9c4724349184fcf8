"""Pixels page: where conversions are sent. Settings are shown; secrets are write-only (a hint like ••••abcd)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

from app import routes
from app.components.forms import labelled, readonly_note, select_input
from app.components.layout import confirm_button, form_error, loading, template
from app.state.pixels import (
    EDIT,
    EVENT_LABELS,
    NEW,
    PIXEL_EVENTS,
    PROVIDER_LABELS,
    PROVIDERS,
    PixelItem,
    PixelsState,
    provider_fields,
)

_WORDS = {"id": "ID", "api": "API", "oauth": "OAuth", "url": "URL"}


def label_for(name: str) -> str:
    words = [_WORDS.get(w, w) for w in name.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def text_field(label: str, name: str, *, hint: str = "", **props: Any) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", size="2", weight="medium", html_for=name),
        rx.input(name=name, id=name, width="100%", **props),
        *([rx.text(hint, size="1", color_scheme="gray")] if hint else []),
        spacing="1",
        width="100%",
    )


def provider_inputs(provider: str, prefix: str, defaults: ObjectVar[dict[str, str]], *, editing: bool) -> rx.Component:
    """A provider's setting inputs, then its secret inputs (password fields, never pre-filled)."""
    fields = provider_fields(provider)
    settings = [
        text_field(
            label_for(f.name) + ("" if f.required else " (optional)"),
            f"{prefix}setting_{f.name}",
            hint=f.hint,
            default_value=defaults[f.name].to(str),
            required=f.required,
        )
        for f in fields
        if not f.secret
    ]
    secrets = [
        text_field(
            label_for(f.name),
            f"{prefix}secret_{f.name}",
            type="password",
            # Browsers would otherwise offer to fill in the user's own login password.
            auto_complete="new-password",
            placeholder="unchanged" if editing else f.hint,
            required=not editing,
        )
        for f in fields
        if f.secret
    ]
    return rx.vstack(
        rx.grid(*settings, columns="2", spacing="3", width="100%"),
        rx.grid(*secrets, columns="2", spacing="3", width="100%"),
        spacing="3",
        width="100%",
    )


def provider_switch(provider: rx.Var[str], prefix: str, defaults: ObjectVar[dict[str, str]], *, editing: bool) -> Any:
    return rx.match(
        provider,
        *[(p, provider_inputs(p, prefix, defaults, editing=editing)) for p in PROVIDERS],
        rx.fragment(),
    )


def events_and_default(
    prefix: str, events: ArrayVar[Sequence[str]], is_default: rx.Var[bool], test_mode: rx.Var[bool]
) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.vstack(
                rx.text("Events sent", size="2", weight="medium"),
                rx.hstack(
                    *[
                        rx.checkbox(
                            EVENT_LABELS.get(event, event),
                            name=f"{prefix}event_{event}",
                            default_checked=events.contains(event),
                            class_name=f"{prefix}event-{event}",
                        )
                        for event in PIXEL_EVENTS
                    ],
                    spacing="4",
                    wrap="wrap",
                ),
                spacing="1",
            ),
            rx.spacer(),
            rx.text(
                rx.switch(name=f"{prefix}is_default", default_checked=is_default, class_name=f"{prefix}is-default"),
                " Account default (receives every campaign's conversions)",
                as_="label",
                size="2",
            ),
            align="end",
            width="100%",
            wrap="wrap",
        ),
        rx.vstack(
            rx.checkbox(
                "Test mode",
                name=f"{prefix}test_mode",
                default_checked=test_mode,
                class_name=f"{prefix}test-mode",
            ),
            rx.text(
                "Conversions go to the provider's test or validation endpoint: GA4 and Google Ads only validate "
                "them; Meta shows them under Test events (needs the test event code) and still records them in the "
                "pixel's data. Outside test mode the test event code is never sent.",
                size="1",
                color_scheme="gray",
            ),
            spacing="1",
        ),
        spacing="3",
        width="100%",
    )


def create_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Add a pixel", size="3"),
                form_error(PixelsState.error),
                rx.grid(
                    labelled(
                        "Provider",
                        select_input(
                            [(p, PROVIDER_LABELS[p]) for p in PROVIDERS],
                            value=PixelsState.new_provider,
                            on_change=PixelsState.set_new_provider,
                            id="new-provider",
                            width="100%",
                        ),
                    ),
                    text_field(
                        "Name",
                        f"{NEW}name",
                        placeholder="e.g. Meta main pixel",
                        default_value=PixelsState.new_defaults["name"],
                    ),
                    columns="2",
                    spacing="3",
                    width="100%",
                ),
                provider_switch(PixelsState.new_provider, NEW, PixelsState.new_defaults, editing=False),
                events_and_default(NEW, PixelsState.new_events, PixelsState.new_is_default, PixelsState.new_test_mode),
                rx.text(
                    "Credentials are encrypted and never shown again; the list shows their last 4 characters.",
                    size="1",
                    color_scheme="gray",
                ),
                rx.button("Add pixel", type="submit", id="create-pixel"),
                spacing="3",
                width="100%",
                align="start",
            ),
            on_submit=PixelsState.create_pixel,
            reset_on_submit=True,
            key=PixelsState.new_key,
            id="pixel-form",
        ),
        width="100%",
    )


def edit_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit pixel"),
            rx.form(
                rx.vstack(
                    rx.cond(
                        PixelsState.edit_error != "",
                        rx.callout(
                            PixelsState.edit_error, icon="triangle-alert", color_scheme="red", size="1", id="edit-error"
                        ),
                    ),
                    rx.text("Provider: ", rx.text.strong(PixelsState.edit_provider), size="2"),
                    text_field("Name", f"{EDIT}name", default_value=PixelsState.edit_defaults["name"]),
                    provider_switch(PixelsState.edit_provider, EDIT, PixelsState.edit_defaults, editing=True),
                    rx.callout(
                        rx.text(
                            "Leave the credential fields empty to keep the stored ones (",
                            rx.code(PixelsState.edit_credentials_hint),
                            "). To replace them, enter all of them.",
                        ),
                        icon="lock",
                        size="1",
                        color_scheme="gray",
                        id="keep-secrets-note",
                    ),
                    events_and_default(
                        EDIT, PixelsState.edit_events, PixelsState.edit_is_default, PixelsState.edit_test_mode
                    ),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
                        rx.button("Save pixel", type="submit", id="save-pixel"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=PixelsState.save_edit,
                reset_on_submit=True,
                key=PixelsState.edit_key,
            ),
            max_width="640px",
        ),
        open=PixelsState.editing,
        on_open_change=PixelsState.set_edit_open,
    )


def pixel_card(pixel: PixelItem) -> rx.Component:
    editable = PixelsState.can_edit_marketing
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(pixel["name"], size="3", weight="bold", class_name="pixel-name"),
                rx.badge(pixel["provider_label"], variant="outline"),
                rx.cond(
                    pixel["is_default"], rx.badge("account default", color_scheme="blue", class_name="pixel-default")
                ),
                rx.cond(
                    pixel["test_mode"],
                    rx.tooltip(
                        rx.badge("test", color_scheme="orange", variant="outline", class_name="pixel-test-mode"),
                        content="Test mode: conversions are validated by the provider, not counted.",
                    ),
                ),
                rx.spacer(),
                rx.text(
                    rx.switch(
                        checked=pixel["enabled"],
                        on_change=lambda enabled: PixelsState.set_enabled(pixel["public_id"], enabled),
                        disabled=~editable,
                        class_name="pixel-enabled",
                    ),
                    rx.cond(pixel["enabled"], " Enabled", " Disabled"),
                    as_="label",
                    size="2",
                ),
                align="center",
                width="100%",
                spacing="2",
            ),
            rx.grid(
                rx.text("Settings", size="1", color_scheme="gray"),
                rx.code(pixel["settings"], size="1", class_name="pixel-settings", word_break="break-all"),
                rx.text("Credentials", size="1", color_scheme="gray"),
                rx.code(pixel["credentials_hint"], size="1", class_name="pixel-hint"),
                rx.text("Events", size="1", color_scheme="gray"),
                rx.hstack(
                    rx.foreach(pixel["events"], lambda e: rx.badge(e, variant="soft", size="1")),
                    spacing="1",
                    class_name="pixel-events",
                ),
                columns="110px 1fr",
                spacing="2",
                align="center",
                width="100%",
            ),
            rx.cond(
                PixelsState.checked_id == pixel["public_id"],
                rx.callout(
                    PixelsState.check_message,
                    icon=rx.cond(PixelsState.check_ok, "circle-check", "triangle-alert"),
                    color_scheme=rx.cond(PixelsState.check_ok, "green", "red"),
                    size="1",
                    width="100%",
                    id="pixel-check-result",
                ),
            ),
            rx.cond(
                editable,
                rx.hstack(
                    rx.button(
                        "Edit",
                        size="1",
                        variant="soft",
                        on_click=PixelsState.start_edit(pixel["public_id"]),
                        class_name="edit-pixel",
                    ),
                    rx.button(
                        rx.icon("send", size=12),
                        # Meta keeps test events in the pixel's data: the button says so before it is pressed.
                        rx.cond(
                            pixel["provider"] == "meta",
                            "Send test Purchase (Meta records it: 1.00 EUR, named PaidSignal test)",
                            "Send test event",
                        ),
                        size="1",
                        variant="soft",
                        color_scheme="gray",
                        loading=PixelsState.testing_id == pixel["public_id"],
                        on_click=PixelsState.send_test_event(pixel["public_id"]),
                        class_name="send-test-event",
                    ),
                    rx.spacer(),
                    confirm_button(
                        "Delete",
                        title="Delete this pixel?",
                        description="Campaigns stop sending conversions to it, and its credentials are deleted.",
                        confirm_label="Delete pixel",
                        on_confirm=PixelsState.delete_pixel(pixel["public_id"]),
                        class_name="delete-pixel",
                    ),
                    width="100%",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        class_name="pixel-card",
    )


def empty_state() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon("radio-tower", size=32, color=rx.color("gray", 9)),
            rx.heading("No pixels yet", size="4"),
            rx.text(
                "A pixel is where paid conversions are sent: Meta, Google Analytics 4, Google Ads or your own webhook.",
                color_scheme="gray",
                text_align="center",
            ),
            align="center",
            spacing="3",
            padding="32px",
        ),
        id="pixels-empty",
    )


@template(routes.PIXELS, "Pixels", on_load=PixelsState.load_pixels)
def pixels_page() -> rx.Component:
    return rx.vstack(
        rx.cond(
            PixelsState.can_edit_marketing,
            create_form(),
            readonly_note(
                "Your role can look at pixels; adding, editing and testing them needs a marketer, an admin or the "
                "owner.",
                "pixels-readonly-note",
            ),
        ),
        rx.cond(
            PixelsState.loaded,
            rx.cond(
                PixelsState.pixels.length() == 0,
                empty_state(),
                rx.vstack(rx.foreach(PixelsState.pixels, pixel_card), spacing="3", width="100%", id="pixels-list"),
            ),
            loading(),
        ),
        edit_dialog(),
        spacing="4",
        width="100%",
    )
