"""Usage across accounts (staff only): totals and charts per day, the top accounts by assistant cost, every account's
totals, and "Download CSV" (one row per account per day)."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.layout import loading, template
from app.pages.usage import (
    cell,
    days_section,
    empty_or,
    error_callout,
    nothing_yet,
    range_bar,
    section,
    small,
    table,
    totals_grid,
)
from app.state.admin_usage import STAFF_ONLY, AccountItem, AdminUsageState

ACCOUNT_COLUMNS = (
    "Account",
    "Plan",
    "Requests",
    "Errors",
    "API events",
    "Assistant calls",
    "Tokens in / out",
    "Cost",
    "Conversions sent",
    "E-mails",
)


def account_row(item: AccountItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(rx.text(item["name"], size="2", weight="medium"), small(item["public_id"]), spacing="0"),
            class_name="account-name",
        ),
        cell(item["plan"]),
        cell(item["requests"], class_name="account-requests"),
        cell(item["errors"]),
        cell(item["events"], class_name="account-events"),
        cell(item["llm_calls"]),
        cell(item["tokens"]),
        cell(item["cost"], class_name="account-cost"),
        cell(item["conversions"]),
        cell(item["emails"]),
        class_name="account-row",
        custom_attrs={"data-account": item["public_id"]},
    )


def top_row(item: AccountItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(item["name"], size="2", weight="medium"), class_name="account-name"),
        cell(item["plan"]),
        cell(item["llm_calls"]),
        cell(item["tokens"]),
        cell(item["cost"], class_name="account-cost"),
        class_name="top-row",
    )


def download_button() -> rx.Component:
    return rx.button(
        rx.icon("download", size=14),
        "Download CSV",
        variant="soft",
        on_click=AdminUsageState.download_csv,
        id="download-usage-csv",
    )


def staff_only() -> rx.Component:
    return rx.callout(STAFF_ONLY, icon="shield-alert", color_scheme="amber", id="staff-only", width="100%")


def admin_usage_content() -> rx.Component:
    return rx.vstack(
        range_bar(AdminUsageState, download_button()),
        small(
            "The CSV has one row per account per day with any usage: day, account, account_name, plan, requests, "
            "errors, events (accepted through the API), llm_calls, prompt_tokens, completion_tokens, cost_usd, "
            "conversions_sent, emails_sent."
        ),
        error_callout(AdminUsageState),
        rx.cond(
            AdminUsageState.range_start != "",
            rx.vstack(
                totals_grid(AdminUsageState),
                rx.cond(
                    AdminUsageState.has_activity,
                    rx.vstack(
                        section(
                            "Top accounts by assistant cost",
                            empty_or(
                                AdminUsageState.top_by_cost,
                                "No assistant cost in this range.",
                                table(
                                    ("Account", "Plan", "Assistant calls", "Tokens in / out", "Cost"),
                                    AdminUsageState.top_by_cost,
                                    top_row,
                                    id="usage-top-accounts",
                                ),
                                id="usage-top-empty",
                            ),
                            id="usage-top-section",
                        ),
                        section(
                            "Accounts",
                            table(ACCOUNT_COLUMNS, AdminUsageState.account_rows, account_row, id="usage-accounts"),
                            id="usage-accounts-section",
                        ),
                        days_section(AdminUsageState),
                        spacing="5",
                        width="100%",
                    ),
                    nothing_yet("No account used anything in this range yet."),
                ),
                spacing="5",
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )


@template(routes.ADMIN_USAGE, "Usage across accounts", on_load=AdminUsageState.load_admin_usage)
def admin_usage_page() -> rx.Component:
    return rx.cond(
        AdminUsageState.loaded, rx.cond(AdminUsageState.forbidden, staff_only(), admin_usage_content()), loading()
    )
