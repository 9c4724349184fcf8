"""The alerts page's views: the rules table, the rule editor (a dialog) with its "Test this rule now" results, and
the history table."""

from __future__ import annotations

from typing import Any

import reflex as rx

from app.components.conversions import disclosure, small
from app.components.forms import clear_filters_button, labelled, load_more_footer, option_select, select_input
from app.components.layout import confirm_button, form_error, no_match_card
from app.state.alerts import (
    ALL,
    DEFAULT_MIN_SESSIONS,
    EVENT_LABELS,
    AlertsState,
    EventItem,
    EventKind,
    PreviewItem,
    RuleItem,
)

EMAIL_COLORS = {"sent": "green", "pending": "amber", "sending": "blue", "failed": "red"}
RULE_COLUMNS = ("Name", "Campaign", "Condition", "Window", "Volume", "Cooldown", "Recipients", "Status", "On", "")
EVENT_COLUMNS = ("When", "Rule", "Campaign", "Event", "Value vs threshold", "Summary", "E-mail", "")


def campaign_cell(name: Any, url: Any, class_name: str) -> rx.Component:
    return rx.cond(
        url != "",
        rx.link(name, href=url, size="2", class_name=class_name),
        rx.text(name, size="2", color_scheme="gray", class_name=class_name),
    )


# --- rules ----------------------------------------------------------------------------------------------------------


def rule_status(rule: RuleItem) -> rx.Component:
    return rx.vstack(
        rx.match(
            rule["status"],
            ("firing", rx.badge("Firing: ", rule["firing"], color_scheme="red", variant="solid")),
            ("ok", rx.badge("OK", color_scheme="green", variant="soft")),
            ("unchecked", rx.badge("Not checked yet", color_scheme="gray", variant="outline")),
            rx.badge("Disabled", color_scheme="gray", variant="soft"),
        ),
        rx.cond(rule["last_event_at"] != "", small("last event ", rule["last_event_at"], white_space="nowrap")),
        spacing="1",
        class_name="rule-status",
    )


def rule_row(rule: RuleItem) -> rx.Component:
    editable = AlertsState.can_edit_marketing
    return rx.table.row(
        rx.table.cell(rx.text(rule["name"], size="2", weight="medium", class_name="rule-name")),
        rx.table.cell(campaign_cell(rule["campaign"], rule["campaign_url"], "rule-campaign")),
        rx.table.cell(rx.text(rule["condition"], size="2", class_name="rule-condition")),
        rx.table.cell(rx.text(rule["window"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(rule["volume"], size="2")),
        rx.table.cell(rx.text(rule["cooldown"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(rule["recipients"], size="2", word_break="break-word", class_name="rule-recipients")),
        rx.table.cell(rule_status(rule)),
        rx.table.cell(
            rx.switch(
                checked=rule["enabled"],
                on_change=lambda enabled: AlertsState.set_rule_enabled(rule["public_id"], enabled),
                disabled=~editable,
                class_name="rule-enabled",
            )
        ),
        rx.table.cell(
            rx.cond(
                editable,
                rx.hstack(
                    rx.button(
                        "Edit",
                        size="1",
                        variant="soft",
                        on_click=AlertsState.edit_rule(rule["public_id"]),
                        class_name="edit-rule",
                    ),
                    confirm_button(
                        "Delete",
                        title="Delete this alert rule?",
                        description="The rule stops being checked, and its whole history (what fired, resolved or "
                        "was held back, and the e-mails sent) is deleted with it.",
                        confirm_label="Delete rule and history",
                        on_confirm=AlertsState.delete_rule(rule["public_id"]),
                        class_name="delete-rule",
                    ),
                    spacing="2",
                ),
            )
        ),
        class_name="rule-row",
        custom_attrs={"data-rule": rule["public_id"]},
    )


def rules_table() -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in RULE_COLUMNS])),
            rx.table.body(rx.foreach(AlertsState.rules, rule_row)),
            width="100%",
            size="1",
            id="rules-table",
        ),
        overflow_x="auto",
        width="100%",
    )


def new_rule_button(**props: Any) -> rx.Component:
    return rx.button(rx.icon("plus", size=14), "New rule", on_click=AlertsState.new_rule, **props)


def rules_empty() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon("bell", size=32, color=rx.color("gray", 9)),
            rx.heading("No alert rules yet", size="4"),
            rx.text(
                "An alert watches a campaign's ROAS, CPA, conversion rate, net revenue, refund rate or orders, or "
                "notices when paid orders stop while visitors keep coming. Every few minutes PaidSignal checks each "
                "rule over its window; when a campaign crosses the line with enough traffic, the recipients get one "
                "e-mail with the figures and what changed, and another when it recovers.",
                color_scheme="gray",
                text_align="center",
                max_width="600px",
            ),
            rx.cond(AlertsState.can_edit_marketing, new_rule_button(id="new-rule-empty")),
            align="center",
            spacing="3",
            padding="24px",
        ),
        id="rules-empty",
        width="100%",
    )


# --- the editor -----------------------------------------------------------------------------------------------------


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
                    hint=f"in the window; new rules: {DEFAULT_MIN_SESSIONS}, 0: no minimum",
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
                    checked=AlertsState.form_roles.contains(o["value"]),  # type: ignore[attr-defined]
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
                item["drivers"].length() > 0,  # type: ignore[attr-defined]
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
            AlertsState.previews.length() > 0,  # type: ignore[attr-defined]
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


# --- history --------------------------------------------------------------------------------------------------------


def history_filters() -> rx.Component:
    return rx.hstack(
        rx.select.root(
            rx.select.trigger(id="filter-rule", placeholder="All rules"),
            rx.select.content(
                rx.select.item("All rules", value=ALL),
                rx.foreach(AlertsState.rules, lambda r: rx.select.item(r["name"], value=r["public_id"])),
            ),
            value=AlertsState.rule_filter,
            on_change=AlertsState.filter_rule,
        ),
        select_input(
            [(ALL, "All events"), *[(k.value, EVENT_LABELS[k]) for k in EventKind]],
            value=AlertsState.kind_filter,
            on_change=AlertsState.filter_kind,
            id="filter-kind",
        ),
        clear_filters_button(AlertsState.filtered, AlertsState.clear_filters),
        spacing="3",
        align="center",
        wrap="wrap",
        width="100%",
    )


def email_cell(item: EventItem) -> rx.Component:
    badge = rx.badge(
        item["email_label"],
        color_scheme=rx.match(item["email_status"], *EMAIL_COLORS.items(), "gray"),
        variant="soft",
        class_name="event-email",
    )
    return rx.cond(
        item["email_error"] != "",
        rx.tooltip(badge, content=item["email_error"]),
        rx.cond(item["email_status"] == "none", small("—", class_name="event-email"), badge),
    )


def event_details(item: EventItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(rx.text.strong("Metric: "), item["metric"], size="2"),
                rx.cond(
                    item["recipients"] != "",
                    rx.text(rx.text.strong("Recipients: "), item["recipients"], size="2", class_name="event-to"),
                ),
                rx.cond(
                    item["email_error"] != "",
                    rx.callout(
                        item["email_error"],
                        icon="triangle-alert",
                        color_scheme="red",
                        size="1",
                        class_name="event-error",
                    ),
                ),
                rx.cond(
                    item["attempts"].length() > 0,  # type: ignore[attr-defined]
                    rx.vstack(
                        rx.text("Delivery attempts", size="2", weight="medium"),
                        rx.foreach(
                            item["attempts"],
                            lambda a: small(
                                a["at"], " · ", a["outcome"], rx.cond(a["error"] != "", " · " + a["error"], "")
                            ),
                        ),
                        spacing="1",
                    ),
                ),
                spacing="2",
                align="start",
            ),
            col_span=len(EVENT_COLUMNS),
            background=rx.color("gray", 2),
        ),
        class_name="event-details",
    )


def event_row(item: EventItem) -> rx.Component:
    expanded = AlertsState.expanded_id == item["public_id"]
    return rx.fragment(
        rx.table.row(
            rx.table.cell(rx.text(item["created_at"], size="2", white_space="nowrap", class_name="event-time")),
            rx.table.cell(rx.text(item["rule_name"], size="2", class_name="event-rule")),
            rx.table.cell(campaign_cell(item["campaign"], item["campaign_url"], "event-campaign")),
            rx.table.cell(
                rx.badge(item["kind_label"], color_scheme=item["color"], variant="soft", class_name="event-kind")
            ),
            rx.table.cell(
                rx.text(
                    item["value"],
                    rx.cond(
                        item["threshold"] != "", rx.text(" vs ", item["threshold"], as_="span", color_scheme="gray")
                    ),
                    size="2",
                    white_space="nowrap",
                    class_name="event-value",
                )
            ),
            rx.table.cell(rx.text(item["summary"], size="2", class_name="event-summary")),
            rx.table.cell(email_cell(item)),
            rx.table.cell(
                rx.icon_button(
                    rx.icon(rx.cond(expanded, "chevron-up", "chevron-down"), size=14),
                    size="1",
                    variant="ghost",
                    on_click=AlertsState.toggle_event(item["public_id"]),
                    aria_label="Details",
                    class_name="event-toggle",
                )
            ),
            class_name="event-row",
            custom_attrs={"data-kind": item["kind"]},
        ),
        rx.cond(expanded, event_details(item)),
    )


def history_table() -> rx.Component:
    return rx.vstack(
        rx.box(
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in EVENT_COLUMNS])),
                rx.table.body(rx.foreach(AlertsState.events, event_row)),
                width="100%",
                size="1",
                id="history-table",
            ),
            overflow_x="auto",
            width="100%",
        ),
        load_more_footer(
            shown=AlertsState.events_shown,
            total=AlertsState.events_total,
            noun="entries, newest first",
            singular="entry, newest first",
            has_more=AlertsState.has_more,
            loading=AlertsState.loading_more,
            on_click=AlertsState.load_more,
            id="history-count",
        ),
        spacing="3",
        width="100%",
    )


def history_empty() -> rx.Component:
    return rx.cond(
        AlertsState.filtered,
        no_match_card("alerts", AlertsState.clear_filters),
        rx.card(
            rx.vstack(
                rx.icon("bell-off", size=28, color=rx.color("gray", 9)),
                rx.text("Nothing has fired yet.", weight="medium"),
                small(
                    "Each time a rule fires, resolves or is held back (too little volume, or within its cooldown), it "
                    "is listed here with its values and the e-mail it sent."
                ),
                align="center",
                spacing="2",
                padding="20px",
            ),
            id="history-empty",
            width="100%",
        ),
    )
