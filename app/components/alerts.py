"""The alerts page's tables: the rules (with their status and actions) and the history (filters, e-mail details,
"Load more"). The rule editor is in ``alert_editor``."""

from __future__ import annotations

from typing import Any

import reflex as rx

from app.components.conversions import small
from app.components.forms import clear_filters_button, load_more_footer, select_input
from app.components.layout import confirm_button, no_match_card
from app.presenters.alerts import ALL, EMAIL_COLORS, KIND_OPTIONS, EventItem, RuleItem
from app.state.alerts import AlertsState

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
            KIND_OPTIONS,
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
                    item["attempts"].length() > 0,  # type: ignore[attr-defined]  # a list inside a TypedDict Var is an ArrayVar at run time; mypy sees Var
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
