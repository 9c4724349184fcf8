"""The alert rule editor (a dialog): the rule's fields, each with its refusal next to it, and the results of
"Test this rule now"."""

from __future__ import annotations

from typing import Any

import reflex as rx

from app.components.alerts import campaign_cell
from app.components.conversions import disclosure, small
from app.components.forms import labelled, option_select
from app.components.layout import form_error
from app.presenters.alerts import MIN_SESSIONS_HINT, PreviewItem
from app.state.alerts import AlertsState


def field_error(name: str) -> rx.Component:
    return rx.cond(
        AlertsState.error_field == name,
        rx.text(
            AlertsState.field_error,
            size="1",
            color_scheme="red",
            role="alert",
            class_name="field-error",
            id=f"error-{name}",
        ),
    )


def text_input(label: Any, name: str, *, hint: Any = "", **props: Any) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", size="2", weight="medium", html_for=f"rule-{name}"),
        rx.input(
            value=getattr(AlertsState, f"form_{name}"),
            on_change=lambda value: AlertsState.set_form_value(name, value),
            id=f"rule-{name}",
            width="100%",
            color_scheme=rx.cond(AlertsState.error_field == name, "red", "gray"),
            **props,
        ),
        *([rx.cond(hint != "", small(hint))] if isinstance(hint, rx.Var) else [small(hint)] if hint else []),
        field_error(name),
        spacing="1",
        width="100%",
    )


def menu(label: str, name: str, options: Any) -> rx.Component:
    return rx.vstack(
        labelled(
            label,
            option_select(
                options,
                value=getattr(AlertsState, f"form_{name}"),
                on_change=lambda value: AlertsState.set_form_value(name, value),
                id=f"rule-{name}",
            ),
            width="100%",
        ),
        field_error(name),
        spacing="1",
        width="100%",
    )


def condition_fields() -> rx.Component:
    return rx.cond(
        AlertsState.is_stopped,
        rx.grid(
            text_input(
                "No paid order for (hours)",
                "stopped_hours",
                hint="Fires when a campaign had sessions but no paid order for this long.",
                type="number",
                min=1,
                max=168,
            ),
            text_input("Minimum sessions", "min_sessions", hint="in that time; at least 1", type="number", min=0),
            columns="2",
            spacing="3",
            width="100%",
        ),
        rx.vstack(
            rx.grid(
                menu("Is", "comparator", AlertsState.comparator_options),
                menu("Compare", "mode", AlertsState.mode_options),
                text_input(
                    AlertsState.threshold_label, "threshold", hint=AlertsState.threshold_hint, input_mode="decimal"
                ),
                rx.cond(
                    AlertsState.shows_currency,
                    text_input("Currency", "currency", hint=AlertsState.currency_hint, max_length=3, placeholder="EUR"),
                ),
                columns="2",
                spacing="3",
                width="100%",
            ),
            rx.grid(
                menu("Window", "window", AlertsState.window_options),
                text_input(
                    "Minimum sessions",
                    "min_sessions",
                    hint=MIN_SESSIONS_HINT,
                    type="number",
                    min=0,
                ),
                text_input("Minimum orders", "min_orders", hint="0: no minimum", type="number", min=0),
                columns="3",
                spacing="3",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
    )


def recipients_fields() -> rx.Component:
    return rx.vstack(
        rx.text("E-mail to", size="2", weight="medium"),
        rx.hstack(
            rx.foreach(
                AlertsState.role_options,
                lambda o: rx.checkbox(
                    o["label"],
                    checked=AlertsState.form_roles.contains(o["value"]),
                    on_change=lambda checked: AlertsState.toggle_role(o["value"], checked),
                    class_name="rule-role",
                    custom_attrs={"data-role": o["value"]},
                ),
            ),
            spacing="4",
            wrap="wrap",
        ),
        rx.input(
            value=AlertsState.form_recipient_emails,
            on_change=lambda value: AlertsState.set_form_value("recipient_emails", value),
            placeholder="and/or addresses: ops@shop.com, ceo@shop.com",
            id="rule-recipient_emails",
            width="100%",
        ),
        small("Every member with a ticked role gets the e-mail, and every address (comma or space separated)."),
        field_error("recipients"),
        spacing="1",
        width="100%",
    )


def preview_card(item: PreviewItem) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.badge(item["verdict"], color_scheme=item["color"], variant="solid", class_name="preview-verdict"),
                campaign_cell(item["campaign"], item["campaign_url"], "preview-campaign"),
                align="center",
                spacing="2",
            ),
            rx.text(item["summary"], size="2", class_name="preview-summary"),
            rx.cond(
                item["drivers"].length() > 0,  # type: ignore[attr-defined]  # a list inside a TypedDict Var is an ArrayVar at run time; mypy sees Var
                rx.vstack(
                    small("What changed since the previous window:"),
                    rx.el.ul(
                        rx.foreach(item["drivers"], lambda line: rx.el.li(rx.text(line, size="1"))),
                        padding_left="18px",
                        margin="0",
                    ),
                    spacing="1",
                    class_name="preview-drivers",
                ),
            ),
            rx.cond(
                item["subject"] != "",
                disclosure(
                    "The e-mail it would send",
                    rx.vstack(
                        rx.text(rx.text.strong("Subject: "), item["subject"], size="2", class_name="preview-subject"),
                        rx.el.pre(
                            item["text"],
                            white_space="pre-wrap",
                            font_size="12px",
                            max_height="320px",
                            overflow="auto",
                            margin="0",
                            padding="8px 10px",
                            width="100%",
                            border_radius="6px",
                            background=rx.color("gray", 3),
                            class_name="preview-text",
                        ),
                        spacing="2",
                        width="100%",
                    ),
                    class_name="preview-email",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        class_name="preview-result",
    )


def preview_results() -> rx.Component:
    return rx.vstack(
        rx.cond(
            AlertsState.preview_error != "",
            rx.callout(
                AlertsState.preview_error, icon="info", color_scheme="amber", size="1", id="preview-error", width="100%"
            ),
        ),
        rx.cond(
            AlertsState.previews.length() > 0,
            rx.vstack(
                rx.hstack(
                    rx.heading("If this rule ran now", size="3"),
                    rx.cond(AlertsState.preview_stale, small("(edited since: test again)", id="preview-stale")),
                    align="baseline",
                    spacing="2",
                ),
                small("Nothing is recorded or sent by a test."),
                rx.foreach(AlertsState.previews, preview_card),
                spacing="2",
                width="100%",
                id="preview-results",
            ),
        ),
        spacing="2",
        width="100%",
    )


def editor_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(AlertsState.editor_title),
            rx.dialog.description(
                "Checked every few minutes for each campaign it covers: one e-mail when it fires, one when it "
                "recovers.",
                size="2",
                color_scheme="gray",
            ),
            rx.vstack(
                form_error(AlertsState.form_error),
                rx.grid(
                    text_input("Name", "name", placeholder="e.g. Spring sale ROAS too low"),
                    menu("Campaign", "campaign", AlertsState.campaign_options),
                    columns="2",
                    spacing="3",
                    width="100%",
                ),
                menu("Metric", "metric", AlertsState.metric_options),
                condition_fields(),
                rx.grid(
                    text_input(
                        "Cooldown (minutes)",
                        "cooldown_minutes",
                        hint="After an alert, no new one for the same campaign within this time (0: none).",
                        type="number",
                        min=0,
                    ),
                    rx.text(
                        rx.switch(
                            checked=AlertsState.form_enabled, on_change=AlertsState.set_form_enabled, id="rule-enabled"
                        ),
                        " Enabled",
                        as_="label",
                        size="2",
                        align_self="center",
                    ),
                    columns="2",
                    spacing="3",
                    width="100%",
                ),
                recipients_fields(),
                rx.hstack(
                    rx.button(
                        rx.icon("flask-conical", size=14),
                        "Test this rule now",
                        variant="soft",
                        color_scheme="gray",
                        loading=AlertsState.previewing,
                        on_click=AlertsState.test_rule,
                        id="test-rule",
                    ),
                    rx.spacer(),
                    rx.button(
                        "Cancel",
                        variant="soft",
                        color_scheme="gray",
                        on_click=AlertsState.close_editor,
                        id="cancel-rule",
                    ),
                    rx.button("Save", loading=AlertsState.saving, on_click=AlertsState.save_rule, id="save-rule"),
                    spacing="3",
                    width="100%",
                ),
                preview_results(),
                spacing="3",
                width="100%",
                margin_top="12px",
            ),
            max_width="760px",
            id="rule-editor",
        ),
        open=AlertsState.editor_open,
        on_open_change=AlertsState.set_editor_open,
    )
