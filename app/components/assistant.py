"""Views of the assistant page: the conversation list, messages with their "How I got this" panel, the composer."""

from __future__ import annotations

from typing import Any

import reflex as rx

from app.state.assistant import INPUT_ID, AssistantState, ConversationItem, MessageItem, ParamItem, ToolItem

STATUS_COLORS = {"cancelled": "gray", "streaming": "blue", "error": "red", "refused": "amber"}
MONO = "var(--code-font-family, ui-monospace, monospace)"


# --- the conversation list -----------------------------------------------------------------------------------------


def delete_button(item: ConversationItem) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.icon_button(
                rx.icon("trash-2", size=14),
                size="1",
                variant="ghost",
                color_scheme="gray",
                disabled=AssistantState.streaming,
                aria_label="Delete conversation",
                class_name="conversation-delete",
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete this conversation?"),
            rx.alert_dialog.description(
                rx.text("“", item["title"], "” and every answer in it are deleted. This cannot be undone.")
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        "Delete",
                        color_scheme="red",
                        on_click=AssistantState.delete_conversation(item["public_id"]),
                        class_name="confirm",
                    )
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
    )


def conversation_row(item: ConversationItem) -> rx.Component:
    active = item["public_id"] == AssistantState.conversation_id
    return rx.hstack(
        rx.box(
            rx.text(item["title"], size="2", weight=rx.cond(active, "bold", "regular"), trim="both", truncate=True),
            rx.text(item["updated_at"], size="1", color_scheme="gray"),
            on_click=AssistantState.open_conversation(item["public_id"]),
            cursor=rx.cond(AssistantState.streaming, "not-allowed", "pointer"),
            flex="1",
            min_width="0",
            class_name="conversation-open",
            role="button",
            aria_current=rx.cond(active, "true", "false"),
        ),
        delete_button(item),
        align="center",
        spacing="1",
        width="100%",
        padding="6px 8px",
        border_radius="6px",
        background=rx.cond(active, rx.color("accent", 3), "transparent"),
        _hover={"background": rx.color("gray", 3)},
        class_name="conversation-item",
        data_conversation=item["public_id"],
    )


def conversation_list() -> rx.Component:
    return rx.vstack(
        rx.button(
            rx.icon("plus", size=14),
            "New conversation",
            size="2",
            variant="soft",
            width="100%",
            on_click=AssistantState.new_conversation,
            disabled=AssistantState.streaming,
            id="new-conversation",
        ),
        rx.cond(
            AssistantState.conversations.length() > 0,
            rx.vstack(rx.foreach(AssistantState.conversations, conversation_row), spacing="1", width="100%"),
            rx.text("Your conversations will be listed here.", size="1", color_scheme="gray"),
        ),
        spacing="3",
        width="240px",
        min_width="240px",
        id="conversation-list",
    )


# --- "How I got this" ----------------------------------------------------------------------------------------------


def param_chip(param: ParamItem) -> rx.Component:
    return rx.badge(
        rx.text(param["name"], weight="medium"),
        rx.text(param["value"], font_family=MONO),
        variant="surface",
        color_scheme="gray",
        class_name="tool-param",
        white_space="normal",
    )


def figures_table(tool: ToolItem) -> rx.Component:
    return rx.vstack(
        rx.cond(
            tool["facts"].length() > 0,  # type: ignore[attr-defined]  # a list inside a TypedDict Var is an ArrayVar at run time; mypy sees Var
            rx.flex(rx.foreach(tool["facts"], param_chip), wrap="wrap", gap="4px"),
        ),
        rx.box(
            rx.table.root(
                rx.table.header(rx.table.row(rx.foreach(tool["columns"], lambda c: rx.table.column_header_cell(c)))),
                rx.table.body(
                    rx.foreach(
                        tool["rows"],
                        lambda row: rx.table.row(
                            rx.foreach(row, lambda cell: rx.table.cell(cell, white_space="nowrap")),
                            class_name="figure-row",
                        ),
                    )
                ),
                size="1",
                variant="surface",
            ),
            overflow_x="auto",
            width="100%",
            # The row's label stays in view while the figures scroll sideways.
            style={
                "& tr > :first-child": {
                    "position": "sticky",
                    "left": "0",
                    "z_index": "1",
                    "background": rx.color("gray", 2),
                }
            },
        ),
        rx.cond(
            tool["more_rows"] > 0,
            rx.text("… and ", tool["more_rows"], " more rows in the JSON below.", size="1", color_scheme="gray"),
        ),
        rx.el.details(
            rx.el.summary(rx.text("All figures (JSON)", as_="span", size="1")),
            json_block(tool["json"]),
        ),
        spacing="2",
        width="100%",
        class_name="tool-figures",
    )


def json_block(text: Any) -> rx.Component:
    return rx.el.pre(
        text,
        font_family=MONO,
        font_size="12px",
        background=rx.color("gray", 2),
        padding="8px",
        border_radius="6px",
        overflow_x="auto",
        max_height="320px",
        margin="0",
        class_name="tool-json",
    )


def tool_call(tool: ToolItem) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.icon("wrench", size=14),
            rx.text(tool["summary"], size="2", weight="medium", class_name="tool-summary"),
            rx.code(tool["name"], size="1", variant="ghost", class_name="tool-name"),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        rx.cond(
            tool["params"].length() > 0,  # type: ignore[attr-defined]  # a list inside a TypedDict Var is an ArrayVar at run time; mypy sees Var
            rx.flex(rx.foreach(tool["params"], param_chip), wrap="wrap", gap="4px", class_name="tool-params"),
        ),
        rx.match(
            tool["kind"],
            ("table", figures_table(tool)),
            ("json", rx.box(json_block(tool["json"]), width="100%", class_name="tool-figures")),
            rx.text("No figures returned.", size="1", color_scheme="gray", class_name="tool-figures"),
        ),
        spacing="2",
        width="100%",
        padding="8px 0",
        border_top=f"1px solid {rx.color('gray', 4)}",
        class_name="tool-call",
    )


def how_i_got_this(tools: Any, count: Any, *, open: Any = False) -> rx.Component:
    """The tool calls behind an answer, so a marketer can check each figure against the dashboard."""
    return rx.el.details(
        rx.el.summary(
            rx.text(
                "How I got this (", count, rx.cond(count == 1, " tool call)", " tool calls)"), as_="span", size="2"
            ),
            cursor="pointer",
            color=rx.color("gray", 11),
            class_name="how-i-got-this-toggle",
        ),
        rx.vstack(rx.foreach(tools, tool_call), spacing="0", width="100%", margin_top="6px"),
        open=open,
        width="100%",
        class_name="how-i-got-this",
    )


# --- messages ------------------------------------------------------------------------------------------------------


def user_message(message: MessageItem) -> rx.Component:
    return rx.flex(
        rx.box(
            rx.text(message["content"], size="2", white_space="pre-wrap", class_name="message-content"),
            background=rx.color("accent", 3),
            padding="8px 12px",
            border_radius="10px",
            max_width="80%",
        ),
        justify="end",
        width="100%",
        class_name="message message-user",
    )


def status_badge(status: Any, label: Any) -> rx.Component:
    return rx.badge(
        label,
        color_scheme=rx.match(status, *STATUS_COLORS.items(), "gray"),
        variant="soft",
        class_name="message-status",
    )


def _no_image(*_children: Any, **_props: Any) -> rx.Component:
    return rx.el.span("[image not shown]", class_name="image-not-shown")


def answer_markdown(content: Any) -> rx.Component:
    """The model's text as markdown, without what text from shop data could abuse: no raw HTML, and no images (an
    image URL loads by itself and could carry figures away). No math either: "$5 … $50" is money, not LaTeX."""
    return rx.markdown(
        content,
        use_raw=False,
        use_math=False,
        use_katex=False,
        component_map={"img": _no_image},
    )


def answer_body(content: Any, status: Any) -> rx.Component:
    """Refusals and failures as a callout that says what happened; everything else as markdown."""
    return rx.match(
        status,
        (
            "refused",
            rx.callout(content, icon="ban", color_scheme="amber", size="1", width="100%", class_name="message-content"),
        ),
        (
            "error",
            rx.callout(
                content, icon="triangle-alert", color_scheme="red", size="1", width="100%", class_name="message-content"
            ),
        ),
        rx.box(answer_markdown(content), width="100%", class_name="message-content"),
    )


def assistant_message(message: MessageItem) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.icon("sparkles", size=14),
            rx.text("Assistant", size="1", weight="medium"),
            rx.text(message["created_at"], size="1", color_scheme="gray"),
            rx.cond(message["status_label"] != "", status_badge(message["status"], message["status_label"])),
            align="center",
            spacing="2",
        ),
        answer_body(message["content"], message["status"]),
        rx.cond(message["tool_count"] > 0, how_i_got_this(message["tools"], message["tool_count"])),
        spacing="2",
        width="100%",
        class_name="message message-assistant",
        data_status=message["status"],
    )


def message_view(message: MessageItem) -> rx.Component:
    return rx.cond(message["role"] == "user", user_message(message), assistant_message(message))


def streaming_message() -> rx.Component:
    """The answer being written: text as it arrives, each tool call as soon as it finishes."""
    return rx.vstack(
        rx.hstack(
            rx.icon("sparkles", size=14),
            rx.text("Assistant", size="1", weight="medium"),
            rx.spinner(size="1"),
            rx.text(rx.cond(AssistantState.cancelling, "Cancelling…", "Writing…"), size="1", color_scheme="gray"),
            align="center",
            spacing="2",
        ),
        rx.cond(
            AssistantState.streaming_error != "",
            answer_body(AssistantState.streaming_error, "error"),
            rx.cond(
                AssistantState.streaming_text != "",
                rx.box(answer_markdown(AssistantState.streaming_text), width="100%", class_name="message-content"),
            ),
        ),
        rx.cond(
            AssistantState.streaming_tools.length() > 0,
            how_i_got_this(AssistantState.streaming_tools, AssistantState.streaming_tools.length(), open=True),
        ),
        spacing="2",
        width="100%",
        class_name="message message-assistant",
        data_status="streaming",
        id="streaming-answer",
    )


def suggested_questions() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Ask about your campaigns, revenue, orders or conversions. For example:", size="2", color_scheme="gray"
        ),
        rx.flex(
            rx.foreach(
                AssistantState.suggestions,
                lambda q: rx.button(
                    q,
                    variant="surface",
                    radius="full",
                    size="2",
                    on_click=AssistantState.ask_suggestion(q),
                    disabled=AssistantState.input_disabled,
                    class_name="suggestion",
                    height="auto",
                    padding="6px 12px",
                    white_space="normal",
                ),
            ),
            wrap="wrap",
            gap="8px",
        ),
        spacing="3",
        padding="16px 0",
        id="suggested-questions",
    )


def not_configured() -> rx.Component:
    return rx.callout.root(
        rx.callout.icon(rx.icon("plug-zap")),
        rx.vstack(
            rx.callout.text("The assistant is not configured: no AI provider is set up for PaidSignal.", weight="bold"),
            rx.text(AssistantState.setup_hint, size="2", white_space="pre-wrap", id="setup-hint"),
            spacing="1",
        ),
        color_scheme="amber",
        width="100%",
        id="assistant-not-configured",
    )


def composer() -> rx.Component:
    """Enter sends (a form); the box is off while an answer streams or when no provider is configured."""
    return rx.vstack(
        rx.form(
            rx.hstack(
                rx.input(
                    name="question",
                    id=INPUT_ID,
                    placeholder=rx.cond(
                        AssistantState.configured, "Ask a question about your data…", "The assistant is not configured"
                    ),
                    disabled=AssistantState.input_disabled,
                    auto_complete="off",
                    max_length=2000,
                    size="3",
                    flex="1",
                ),
                rx.cond(
                    AssistantState.streaming,
                    rx.button(
                        rx.icon("square", size=14),
                        "Cancel",
                        type="button",
                        size="3",
                        variant="soft",
                        color_scheme="red",
                        on_click=AssistantState.cancel_answer,
                        disabled=AssistantState.cancelling,
                        id="assistant-cancel",
                    ),
                    rx.button(
                        rx.icon("send", size=14),
                        "Send",
                        type="submit",
                        size="3",
                        disabled=AssistantState.input_disabled,
                        id="assistant-send",
                    ),
                ),
                width="100%",
                spacing="2",
            ),
            # Scrolled by the page itself (the answer is written just above the box): a scroll sent by the server
            # would need eval(), which the Content-Security-Policy refuses.
            on_submit=[AssistantState.send_question, rx.scroll_to(INPUT_ID)],
            reset_on_submit=False,
            width="100%",
            id="assistant-form",
        ),
        rx.cond(
            AssistantState.question_error != "",
            rx.text(AssistantState.question_error, size="1", color_scheme="red", role="alert", id="question-error"),
        ),
        spacing="1",
        width="100%",
    )


def chat() -> rx.Component:
    return rx.vstack(
        rx.cond(~AssistantState.configured, not_configured()),
        rx.vstack(
            rx.foreach(AssistantState.messages, message_view),
            rx.cond(AssistantState.streaming, streaming_message()),
            spacing="4",
            width="100%",
            id="assistant-messages",
        ),
        rx.cond(AssistantState.is_empty & AssistantState.configured, suggested_questions()),
        composer(),
        rx.text(
            "Answers come from your account's data through the tools listed under each answer; check a figure "
            "against the dashboard when it matters.",
            size="1",
            color_scheme="gray",
        ),
        spacing="4",
        flex="1",
        min_width="0",
    )
