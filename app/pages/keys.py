"""API keys page: publishable keys for shops' browsers, secret keys for servers."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.forms import readonly_note
from app.components.layout import confirm_button, field, form_error, template
from app.state.keys import CREATED_KEY_INPUT, KeyItem, KeysState


def created_key_callout() -> rx.Component:
    """The key just created. Always mounted, shown while a key is open: the server fills its input with an event
    (KeysState.create_key), so the input must exist when that event arrives."""
    copy = rx.Var(f"document.getElementById({CREATED_KEY_INPUT!r}).value").to(str)
    return rx.callout.root(
        rx.callout.icon(rx.icon("key-round")),
        rx.callout.text(
            rx.cond(
                KeysState.created_kind == "secret",
                "Copy this secret key now: it is shown only once and cannot be recovered.",
                "Your publishable key (safe to embed in your shop's pages):",
            )
        ),
        rx.hstack(
            rx.input(id=CREATED_KEY_INPUT, read_only=True, size="3", width="100%", font_family="monospace"),
            rx.button("Copy", size="1", variant="soft", on_click=rx.set_clipboard(copy)),
            rx.button("Done", size="1", variant="ghost", on_click=KeysState.dismiss_created),
            align="center",
            width="100%",
        ),
        color_scheme="green",
        width="100%",
        id="created-key-callout",
        display=rx.cond(KeysState.created_kind != "", "flex", "none"),
    )


def create_form() -> rx.Component:
    """Admins and the owner create keys; other roles see a note instead of a form the server would refuse."""
    return rx.cond(
        KeysState.can_manage_keys,
        key_form(),
        readonly_note(
            "Your role can see keys; creating and revoking them needs an admin or the owner.", "keys-readonly-note"
        ),
    )


def key_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Create a key", size="3"),
                form_error(KeysState.error),
                rx.radio_group.root(
                    rx.hstack(
                        rx.radio_group.item(value="publishable", id="kind-publishable"),
                        rx.text("Publishable (ps_pk_…) for the shop's pages", size="2"),
                        rx.radio_group.item(value="secret", id="kind-secret"),
                        rx.text("Secret (ps_sk_…) for servers", size="2"),
                        align="center",
                        spacing="2",
                    ),
                    value=KeysState.new_kind,
                    on_change=KeysState.set_new_kind,
                ),
                field("Label", "label", placeholder="e.g. Production shop"),
                rx.cond(
                    KeysState.new_kind == "publishable",
                    rx.vstack(
                        rx.text(
                            "Allowed origins, one per line", as_="label", size="2", weight="medium", html_for="origins"
                        ),
                        rx.text_area(
                            name="origins", id="origins", placeholder="https://shop.example.com", width="100%"
                        ),
                        width="100%",
                        spacing="1",
                    ),
                ),
                rx.button("Create key", type="submit", id="create-key"),
                spacing="3",
                width="100%",
                align="start",
            ),
            on_submit=KeysState.create_key,
            reset_on_submit=True,
        ),
        width="100%",
    )


def key_row(key: KeyItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(key["kind"], color_scheme=rx.cond(key["kind"] == "secret", "orange", "blue"))),
        rx.table.cell(key["label"]),
        rx.table.cell(rx.code(key["display"])),
        rx.table.cell(rx.text(key["origins"], size="1")),
        rx.table.cell(rx.text(key["created_at"], size="1")),
        rx.table.cell(rx.text(key["last_used_at"], size="1")),
        rx.table.cell(
            rx.cond(
                KeysState.can_manage_keys,
                confirm_button(
                    "Revoke",
                    title="Revoke this key?",
                    description="Requests using it will be refused at once. This cannot be undone.",
                    confirm_label="Revoke key",
                    on_confirm=KeysState.revoke_key(key["public_id"]),
                ),
            )
        ),
        class_name="key-row",
    )


@template(routes.SETTINGS_KEYS, "API keys", on_load=KeysState.load_keys)
def keys_page() -> rx.Component:
    return rx.vstack(
        created_key_callout(),
        create_form(),
        rx.cond(
            KeysState.keys.length() == 0,
            rx.text(
                "No keys yet. Create a publishable key to install the pixel.", color_scheme="gray", id="keys-empty"
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Kind", "Label", "Key", "Origins", "Created", "Last used", "")
                        ]
                    )
                ),
                rx.table.body(rx.foreach(KeysState.keys, key_row)),
                width="100%",
                id="keys-table",
            ),
        ),
        spacing="4",
        width="100%",
        # Leaving the page closes a just-created key's callout (the key lives only in the page's input).
        on_unmount=KeysState.dismiss_created,
    )
