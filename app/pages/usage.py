"""Usage and cost (owners and admins): the plan's limits as progress bars, totals and charts per day, the daily table,
and tables per key, endpoint, user and question. The range pieces are shared with /admin/usage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from app import routes
from app.components.charts import chart_card
from app.components.forms import date_range_form
from app.components.layout import loading, template
from app.state.usage import ADMINS_ONLY, ApiItem, DayItem, LimitItem, QuestionItem, TotalItem, UsageState, UserItem

TONES = {"green": "green", "amber": "amber", "red": "red"}
DAY_COLUMNS = (
    "Day",
    "Requests",
    "Errors",
    "API events",
    "Assistant calls",
    "Tokens in",
    "Tokens out",
    "Cost",
    "Conversions sent",
    "E-mails",
)


def small(*children: Any, **props: Any) -> rx.Component:
    return rx.text(*children, size="1", color_scheme="gray", **props)


def cell(value: Any, **props: Any) -> rx.Component:
    return rx.table.cell(rx.text(value, size="2", white_space="nowrap"), **props)


def table(columns: tuple[str, ...], items: Any, row: Callable[[Any], rx.Component], *, id: str) -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(c) for c in columns])),
            rx.table.body(rx.foreach(items, row)),
            width="100%",
            size="1",
        ),
        overflow_x="auto",
        width="100%",
        id=id,
    )


def section(title: str, *children: Any, id: str) -> rx.Component:
    return rx.vstack(rx.heading(title, size="4"), *children, spacing="2", width="100%", id=id)


def empty_or(items: Any, empty: str, content: rx.Component, *, id: str) -> rx.Component:
    return rx.cond(items.length() == 0, small(empty, id=id), content)


# --- shared with /admin/usage --------------------------------------------------------------------------------------


def range_bar(state: Any, *extra: rx.Component) -> rx.Component:
    """From/To (UTC days, in the URL), "This month" when a range is chosen, Refresh, and the period shown."""
    return rx.vstack(
        rx.hstack(
            date_range_form(since=state.since, until=state.until, on_submit=state.filter_dates, prefix="usage"),
            rx.cond(
                state.custom_range,
                rx.button("This month", variant="ghost", on_click=state.this_month, id="usage-this-month"),
            ),
            rx.spacer(),
            *extra,
            rx.button(rx.icon("refresh-cw", size=14), "Refresh", variant="soft", on_click=state.refresh, id="refresh"),
            spacing="3",
            align="center",
            wrap="wrap",
            width="100%",
        ),
        rx.text(state.period, size="2", weight="medium", id="usage-period"),
        spacing="2",
        width="100%",
    )


def total_card(item: TotalItem) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(item["label"], size="2", color_scheme="gray"),
            rx.heading(item["value"], size="5", class_name="total-value"),
            spacing="1",
        ),
        id=item["id"],
        class_name="total-card",
    )


def totals_grid(state: Any) -> rx.Component:
    return rx.grid(
        rx.foreach(state.totals, total_card),
        columns=rx.breakpoints(initial="2", sm="4"),
        spacing="3",
        width="100%",
        id="usage-totals",
    )


def day_row(item: DayItem) -> rx.Component:
    return rx.table.row(
        cell(item["day"]),
        cell(item["requests"], class_name="day-requests"),
        cell(item["errors"], class_name="day-errors"),
        cell(item["events"], class_name="day-events"),
        cell(item["llm_calls"], class_name="day-llm-calls"),
        cell(item["prompt_tokens"]),
        cell(item["completion_tokens"]),
        cell(item["cost"], class_name="day-cost"),
        cell(item["conversions"], class_name="day-conversions"),
        cell(item["emails"], class_name="day-emails"),
        class_name="day-row",
        custom_attrs={"data-day": item["day"]},
    )


def days_section(state: Any) -> rx.Component:
    return rx.vstack(
        rx.grid(
            chart_card("API requests per day", state.api_chart, id="usage-api-chart"),
            chart_card("Assistant cost per day", state.cost_chart, id="usage-cost-chart"),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="3",
            width="100%",
        ),
        section("Per day", table(DAY_COLUMNS, state.days, day_row, id="usage-days"), id="usage-days-section"),
        spacing="4",
        width="100%",
    )


def nothing_yet(text: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon("gauge", size=28, color=rx.color("gray", 9)),
            rx.text(text, color_scheme="gray", align="center"),
            align="center",
            spacing="2",
            padding="24px",
        ),
        width="100%",
        id="usage-empty",
    )


def error_callout(state: Any) -> rx.Component:
    return rx.cond(
        state.error != "",
        rx.callout(state.error, icon="triangle-alert", color_scheme="red", size="1", id="usage-error", width="100%"),
    )


# --- /usage ----------------------------------------------------------------------------------------------------------


def limit_card(item: LimitItem) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(item["label"], size="2", color_scheme="gray"),
            rx.hstack(
                rx.heading(item["used"], size="5", class_name="limit-used"),
                rx.text("of ", item["limit"], size="2", color_scheme="gray", class_name="limit-max"),
                align="baseline",
                spacing="2",
            ),
            rx.progress(value=item["percent"], max=100, color_scheme=rx.match(item["tone"], *TONES.items(), "gray")),
            small(item["note"], class_name="limit-note"),
            spacing="2",
            width="100%",
        ),
        id=f"limit-{item['key']}",
        class_name="limit-card",
    )


def limits_section() -> rx.Component:
    return section(
        "Plan limits",
        small(
            UsageState.plan_label,
            " plan. Events and cost count from the 1st of the month, requests from midnight (UTC), whatever the "
            "range below. Events stored are every tracking event kept, whatever brought it (the pixel, the server "
            "API, an import); test events never count. The figures below count the API's traffic only.",
        ),
        rx.grid(
            rx.foreach(UsageState.limits, limit_card),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="3",
            width="100%",
        ),
        id="usage-limits",
    )


def api_row(item: ApiItem) -> rx.Component:
    return rx.table.row(
        cell(item["key"], class_name="api-key"),
        cell(item["endpoint"], class_name="api-endpoint"),
        cell(item["requests"], class_name="api-requests"),
        cell(item["errors"], class_name="api-errors"),
        cell(item["events"], class_name="api-events"),
        class_name="api-row",
    )


def key_row(item: ApiItem) -> rx.Component:
    return rx.table.row(
        cell(item["key"], class_name="api-key"),
        cell(item["requests"], class_name="api-requests"),
        cell(item["errors"], class_name="api-errors"),
        cell(item["events"], class_name="api-events"),
        class_name="key-row",
    )


def endpoint_row(item: ApiItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(item["endpoint"], size="1"), class_name="api-endpoint"),
        cell(item["requests"], class_name="api-requests"),
        cell(item["errors"], class_name="api-errors"),
        cell(item["events"], class_name="api-events"),
        class_name="endpoint-row",
    )


def api_section() -> rx.Component:
    return rx.grid(
        section(
            "Per key",
            empty_or(
                UsageState.by_key,
                "No API request in this range.",
                table(("Key", "Requests", "Errors", "Events accepted"), UsageState.by_key, key_row, id="usage-keys"),
                id="usage-keys-empty",
            ),
            id="usage-keys-section",
        ),
        section(
            "Per endpoint",
            empty_or(
                UsageState.by_endpoint,
                "No API request in this range.",
                table(
                    ("Endpoint", "Requests", "Errors", "Events accepted"),
                    UsageState.by_endpoint,
                    endpoint_row,
                    id="usage-endpoints",
                ),
                id="usage-endpoints-empty",
            ),
            id="usage-endpoints-section",
        ),
        columns=rx.breakpoints(initial="1", md="2"),
        spacing="4",
        width="100%",
    )


def user_row(item: UserItem) -> rx.Component:
    return rx.table.row(
        cell(item["email"], class_name="user-email"),
        cell(item["questions"]),
        cell(item["calls"]),
        cell(item["prompt_tokens"]),
        cell(item["completion_tokens"]),
        cell(item["cost"], class_name="user-cost"),
        class_name="user-row",
    )


def question_row(item: QuestionItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(item["question"], size="2", truncate=True, max_width="380px", title=item["question"]),
            class_name="question-text",
        ),
        cell(item["email"]),
        cell(item["asked_at"]),
        cell(item["calls"]),
        cell(item["tokens"]),
        cell(item["cost"], class_name="question-cost"),
        class_name="question-row",
    )


def assistant_section() -> rx.Component:
    return rx.vstack(
        section(
            "Assistant per user",
            empty_or(
                UsageState.by_user,
                "Nobody asked the assistant anything in this range.",
                table(
                    ("User", "Questions", "Calls", "Tokens in", "Tokens out", "Cost"),
                    UsageState.by_user,
                    user_row,
                    id="usage-users",
                ),
                id="usage-users-empty",
            ),
            id="usage-users-section",
        ),
        section(
            "Most expensive questions",
            empty_or(
                UsageState.questions,
                "No question in this range.",
                table(
                    ("Question", "Asked by", "Asked (UTC)", "Calls", "Tokens in / out", "Cost"),
                    UsageState.questions,
                    question_row,
                    id="usage-questions",
                ),
                id="usage-questions-empty",
            ),
            id="usage-questions-section",
        ),
        spacing="4",
        width="100%",
    )


def admins_only() -> rx.Component:
    return rx.callout(ADMINS_ONLY, icon="lock", color_scheme="amber", id="usage-admins-only", width="100%")


def usage_content() -> rx.Component:
    return rx.vstack(
        range_bar(UsageState),
        error_callout(UsageState),
        rx.cond(
            UsageState.range_start != "",
            rx.vstack(
                limits_section(),
                totals_grid(UsageState),
                rx.cond(
                    UsageState.has_activity,
                    rx.vstack(days_section(UsageState), api_section(), assistant_section(), spacing="5", width="100%"),
                    nothing_yet(
                        "Nothing used in this range yet. API requests show here shortly after they are made; "
                        "questions to the assistant, conversions and e-mails as soon as they are sent."
                    ),
                ),
                spacing="5",
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )


@template(routes.USAGE, "Usage and cost", on_load=UsageState.load_usage)
def usage_page() -> rx.Component:
    return rx.cond(UsageState.loaded, rx.cond(UsageState.forbidden, admins_only(), usage_content()), loading())
