"""Conversion delivery views shared by the conversions page and the order page: status badges, the "why wasn't this
counted?" checklist, the attempts with their requests and answers, and the conversion's JSON."""

from __future__ import annotations

from typing import Any

import reflex as rx

from app.state.conversions import AttemptEntry, CheckEntry

DELIVERY_STATUS_COLORS = {"sent": "green", "retrying": "amber", "dead": "red", "skipped": "gray", "pending": "blue"}
CHECK_ICONS = {"ok": "circle-check", "warn": "triangle-alert", "fail": "circle-x", "info": "info"}
CHECK_COLORS = {"ok": "green", "warn": "amber", "fail": "red", "info": "blue"}
OUTCOME_COLORS = {"sent": "green", "retry": "amber", "dead": "red", "interrupted": "orange", "in_flight": "blue"}


def small(*children: Any, **props: Any) -> rx.Component:
    return rx.text(*children, size="1", color_scheme="gray", **props)


def delivery_status_badge(status: Any, **props: Any) -> rx.Component:
    return rx.badge(
        status, color_scheme=rx.match(status, *DELIVERY_STATUS_COLORS.items(), "gray"), variant="soft", **props
    )


def test_mode_badge(**props: Any) -> rx.Component:
    return rx.tooltip(
        rx.badge("test", color_scheme="orange", variant="outline", **props),
        content="Sent in the provider's test mode: validated, not counted.",
    )


def json_block(text: Any, **props: Any) -> rx.Component:
    """Pretty-printed JSON; long payloads scroll inside the block."""
    return rx.code_block(
        text,
        language="json",
        wrap_long_lines=True,
        width="100%",
        custom_style={"maxHeight": "360px", "overflow": "auto", "fontSize": "12px", "margin": "0"},
        **props,
    )


def disclosure(summary: Any, *children: rx.Component, class_name: str, open: bool = False) -> rx.Component:
    """A native <details>: collapsible without a round trip to the server."""
    return rx.el.details(
        rx.el.summary(rx.text(summary, size="2", weight="medium", as_="span"), cursor="pointer"),
        rx.box(*children, padding_top="8px", width="100%"),
        open=open,
        width="100%",
        class_name=class_name,
    )


def check_row(check: CheckEntry) -> rx.Component:
    state = check["state"]
    return rx.hstack(
        rx.box(
            rx.match(
                state,
                *[(s, rx.icon(icon, size=16, color=rx.color(CHECK_COLORS[s], 10))) for s, icon in CHECK_ICONS.items()],
                rx.icon("info", size=16, color=rx.color("gray", 10)),
            ),
            padding_top="2px",
        ),
        rx.vstack(
            rx.text(check["label"], size="2", weight="medium", class_name="check-label"),
            small(check["detail"], class_name="check-detail"),
            spacing="0",
            align="start",
        ),
        spacing="2",
        align="start",
        width="100%",
        class_name="check-item",
        custom_attrs={"data-state": state},
    )


def checklist(view: Any) -> rx.Component:
    return rx.vstack(
        rx.foreach(view["checklist"], check_row),
        spacing="2",
        width="100%",
        class_name="delivery-checklist",
    )


def attempt_entry(attempt: AttemptEntry) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Attempt ", attempt["number"], size="2", weight="bold"),
                rx.badge(
                    attempt["outcome"],
                    color_scheme=rx.match(attempt["outcome"], *OUTCOME_COLORS.items(), "gray"),
                    variant="soft",
                    class_name="attempt-outcome",
                ),
                rx.badge("HTTP ", attempt["http_status"], variant="outline", class_name="attempt-http"),
                small(attempt["started_at"], " · ", attempt["duration"]),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            rx.cond(attempt["message"] != "", rx.text(attempt["message"], size="2", class_name="attempt-message")),
            rx.cond(
                attempt["response_body"] != "",
                disclosure(
                    "Response body",
                    rx.el.pre(
                        attempt["response_body"],
                        white_space="pre-wrap",
                        word_break="break-all",
                        font_size="12px",
                        max_height="240px",
                        overflow="auto",
                        margin="0",
                    ),
                    class_name="attempt-response",
                ),
            ),
            rx.cond(
                attempt["request"] != "",
                disclosure("Request", json_block(attempt["request"]), class_name="attempt-request"),
            ),
            spacing="2",
            width="100%",
            align="start",
        ),
        width="100%",
        size="1",
        class_name="attempt-entry",
    )


def attempts_list(view: Any) -> rx.Component:
    return rx.cond(
        view["attempts"].length() == 0,
        small("No attempt yet: it is waiting for the sender.", class_name="attempts-empty"),
        rx.vstack(rx.foreach(view["attempts"], attempt_entry), spacing="2", width="100%", class_name="attempts"),
    )


def send_again_button(view: Any, *, can_replay: Any, on_replay: Any, loading: Any) -> rx.Component:
    return rx.cond(
        view["row"]["replayable"] & can_replay,
        rx.button(
            rx.icon("rotate-cw", size=14),
            "Send again",
            size="1",
            on_click=on_replay(view["row"]["delivery_id"]),
            loading=loading,
            class_name="send-again",
        ),
    )


def delivery_summary(view: Any) -> rx.Component:
    row = view["row"]
    return rx.hstack(
        rx.text(row["provider_name"], weight="bold", size="2", class_name="delivery-provider"),
        small(row["pixel_name"], class_name="delivery-pixel"),
        rx.badge(row["kind"], variant="outline", class_name="delivery-kind"),
        delivery_status_badge(row["status"], class_name="delivery-status"),
        rx.cond(row["test"], test_mode_badge(class_name="delivery-test")),
        rx.text(row["value"], size="2", class_name="delivery-value"),
        small(row["attempts"], " attempt(s)"),
        spacing="2",
        align="center",
        wrap="wrap",
    )


def delivery_body(view: Any, *, open_payload: bool = False) -> rx.Component:
    """The checklist, the reason, the JSON and the attempts of one delivery."""
    row = view["row"]
    return rx.vstack(
        rx.cond(
            row["reason"] != "",
            rx.callout(
                row["reason"],
                icon=rx.match(row["status"], ("sent", "circle-check"), ("dead", "circle-x"), "info"),
                color_scheme=rx.match(row["status"], *DELIVERY_STATUS_COLORS.items(), "gray"),
                size="1",
                width="100%",
                class_name="delivery-reason",
            ),
        ),
        rx.cond(
            row["next_attempt_at"] != "",
            small("Next try at ", row["next_attempt_at"], class_name="delivery-next"),
        ),
        rx.text("Checklist", size="2", weight="bold"),
        checklist(view),
        disclosure(
            "Last request sent",
            rx.cond(
                view["last_request"] != "",
                json_block(view["last_request"], class_name="delivery-request-json"),
                small("Nothing was sent yet."),
            ),
            class_name="delivery-request",
            open=open_payload,
        ),
        disclosure(
            "Conversion (what PaidSignal owes the provider)",
            json_block(view["conversion"], class_name="delivery-conversion-json"),
            class_name="delivery-conversion",
            open=open_payload,
        ),
        disclosure(
            rx.fragment("Attempts (", row["attempts"], ")"), attempts_list(view), class_name="delivery-attempts"
        ),
        spacing="3",
        width="100%",
        align="start",
    )
