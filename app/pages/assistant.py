"""The assistant: questions about the account's data in plain language, answered through read-only tools whose calls
and figures are shown under every answer."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.assistant import chat, conversation_list
from app.components.layout import loading, template
from app.state.assistant import AssistantState


@template(routes.ASSISTANT, "Assistant", on_load=AssistantState.load_assistant)
def assistant_page() -> rx.Component:
    return rx.cond(
        AssistantState.loaded,
        rx.hstack(conversation_list(), chat(), spacing="5", align="start", width="100%"),
        loading(),
    )
