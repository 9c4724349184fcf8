"""Alerts: the rules (with an editor that can test a rule before saving it) and the history of what fired, resolved
or was held back, with the e-mails sent."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.alert_editor import editor_dialog
from app.components.alerts import (
    history_empty,
    history_filters,
    history_table,
    new_rule_button,
    rules_empty,
    rules_table,
)
from app.components.forms import readonly_note
from app.components.layout import loading, template
from app.state.alerts import AlertsState


def rules_section() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Rules", size="4"),
            rx.spacer(),
            rx.cond(AlertsState.can_edit_marketing & (AlertsState.rules.length() > 0), new_rule_button(id="new-rule")),
            align="center",
            width="100%",
        ),
        rx.cond(
            ~AlertsState.can_edit_marketing,
            readonly_note(
                "Your role can look at alerts and their history; a marketer, an admin or the owner edits them.",
                "alerts-readonly-note",
            ),
        ),
        rx.cond(
            AlertsState.error != "",
            rx.callout(
                AlertsState.error, icon="triangle-alert", color_scheme="red", size="1", id="alerts-error", width="100%"
            ),
        ),
        rx.cond(
            AlertsState.loaded,
            rx.cond(AlertsState.rules.length() == 0, rules_empty(), rules_table()),
            loading(),
        ),
        spacing="3",
        width="100%",
    )


def history_section() -> rx.Component:
    return rx.vstack(
        rx.heading("History", size="4"),
        history_filters(),
        rx.cond(
            AlertsState.events_error != "",
            rx.callout(
                AlertsState.events_error,
                icon="triangle-alert",
                color_scheme="red",
                size="1",
                id="history-error",
                width="100%",
            ),
        ),
        rx.cond(
            AlertsState.events_loaded,
            rx.cond(AlertsState.events.length() == 0, history_empty(), history_table()),
            loading(),
        ),
        spacing="3",
        width="100%",
        id="alert-history",
    )


@template(routes.ALERTS, "Alerts", on_load=AlertsState.load_alerts)
def alerts_page() -> rx.Component:
    return rx.vstack(
        rules_section(),
        history_section(),
        editor_dialog(),
        spacing="5",
        width="100%",
    )
