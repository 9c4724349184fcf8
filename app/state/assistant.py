"""The /assistant page's state: the user's conversations, the open one, and the answer streaming in.

The answer is read from ``services/assistant.answer`` in a background event. The generator runs in a task of its
own that only feeds a queue, so the page can notice Cancel even while the model or a tool is slow (no event
arrives then): cancelling that task is how the service learns the answer was cancelled. The state is mutated only
inside ``async with self``; the database is read in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Final, TypedDict

import reflex as rx
from sqlmodel import Session

from app.db import session_scope
from app.lib.formatting import format_count, format_number, format_percent, format_ratio
from app.models.base import utcnow
from app.services import accounts as account_service
from app.services import assistant
from app.services.errors import NotFound, RateLimited, ServiceError, ServiceUnavailable, ValidationFailed
from app.services.permissions import Actor
from app.state.base import AppState
from app.state.format import format_time
from app.state.toasts import toast

logger = logging.getLogger(__name__)

INPUT_ID = "assistant-input"
# How often the stream loop looks at the Cancel flag while no event arrives (a slow model, a slow tool).
CANCEL_POLL_SECONDS = 0.2
# The "How I got this" table shows this many rows; the JSON below it has every figure.
MAX_TABLE_ROWS = 50
MAX_JSON_CHARS = 20_000
STATUS_LABELS = {
    "cancelled": "Cancelled",
    "streaming": "Still being written",
    "error": "Failed",
    "refused": "Refused",
}
FALLBACK_TEXT = {
    "error": "The answer failed. Try again in a moment.",
    "refused": "The assistant refused this question.",
}
_END: Final = object()


# --- read models ---------------------------------------------------------------------------------------------------


class ParamItem(TypedDict):
    name: str
    value: str


class ToolItem(TypedDict):
    name: str
    summary: str
    params: list[ParamItem]
    # What the tool returned: "table" (rows, plus the scalars beside them as facts), "json" or "empty".
    kind: str
    facts: list[ParamItem]
    columns: list[str]
    rows: list[list[str]]
    more_rows: int
    json: str


class MessageItem(TypedDict):
    public_id: str
    role: str  # user | assistant
    content: str
    status: str  # done | streaming | cancelled | error | refused
    status_label: str
    tools: list[ToolItem]
    tool_count: int
    created_at: str


class ConversationItem(TypedDict):
    public_id: str
    title: str
    updated_at: str


# Path segments that only group figures: left out of column and fact names.
GROUPING_KEYS = frozenset({"figures", "money", "query"})
MONEY_KEY = "money"
# Row keys not shown as columns: the comparison goes into each cell, an id beside a label is noise.
SKIPPED_ROW_KEYS = frozenset({"change"})
FORMATTED = "_formatted"


def _cell(value: Any, key: str, locale: str) -> str:
    """A figure as the dashboard writes it in the account's locale: rates (fractions) as percentages, ROAS as
    "2.50×", counts grouped."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if key.endswith("_rate"):
            return format_percent(value, locale)
        if key == "roas":
            return format_ratio(value, locale)
        return format_number(value, locale)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(_scalar(v) for v in value):
        return ", ".join(_cell(v, "", locale) for v in value)
    if isinstance(value, list):
        return format_count(len(value), "item", locale)
    return json.dumps(value, default=str, ensure_ascii=False)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _row_dicts(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return value
    return None


def _label(path: tuple[str, ...]) -> str:
    words = [p for p in path if p not in GROUPING_KEYS] or list(path[-1:])
    return " ".join(words).replace("_", " ")


def _leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, value) of every figure in nested dicts; lists are one value (a cell or a fact of their own)."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, str(k)))]
    return [(path, value)]


def _percent(change: Any, path: tuple[str, ...]) -> float | None:
    """The comparison's percent change of the figure at ``path`` (``change`` mirrors ``figures``)."""
    found = change
    for part in [p for p in path if p != "figures"]:
        found = found.get(part) if isinstance(found, dict) else None
    percent = found.get("percent") if isinstance(found, dict) else None
    return percent if isinstance(percent, int | float) else None


def _shown(leaves: dict[tuple[str, ...], Any], locale: str) -> list[tuple[tuple[str, ...], str]]:
    """Each figure as text, money as its ``*_formatted`` twin (in place of the minor units, under their name)."""
    out = []
    for path, value in leaves.items():
        name = path[-1]
        if name.endswith(FORMATTED) and (*path[:-1], name.removesuffix(FORMATTED)) in leaves:
            continue
        out.append((path, _cell(leaves.get((*path[:-1], f"{name}{FORMATTED}"), value), name, locale)))
    return out


def _flat_row(row: dict[str, Any], locale: str) -> dict[str, str]:
    """One table row: nested figures as columns, money as its formatted text, each figure with its change."""
    leaves = dict(_leaves({k: v for k, v in row.items() if k not in SKIPPED_ROW_KEYS}))
    if "label" in row:
        leaves.pop(("key",), None)
    shown = _shown(leaves, locale)
    # What the row is (label, name…) first, then money (revenue, spend, ROAS: what most questions are about).
    shown.sort(key=lambda item: 0 if len(item[0]) == 1 else (1 if MONEY_KEY in item[0] else 2))
    cells: dict[str, str] = {}
    for path, text in shown:
        percent = _percent(row.get("change"), path)
        if percent is not None:
            text += f" ({'+' if percent > 0 else ''}{format_percent(percent / 100, locale)})"
        cells[_label(path)] = text
    return cells


def _figures(result: Any, locale: str) -> tuple[list[dict[str, Any]] | None, list[ParamItem]]:
    """The rows of a tool's result (a list of dicts, or one inside a dict after its ``total``) and the scalars
    beside them (the resolved date range, model, filters…) as facts."""
    rows = _row_dicts(result)
    if rows is not None or not isinstance(result, dict):
        return rows, []
    key = "rows" if _row_dicts(result.get("rows")) else next((k for k, v in result.items() if _row_dicts(v)), None)
    total = result.get("total")
    if isinstance(total, dict) and ("figures" in total or key is not None):
        rows = [total, *(result[key] if key else [])]
    elif key is not None:
        rows = list(result[key])
    if rows is None:
        return None, []
    beside = {
        path: value
        for path, value in _leaves({k: v for k, v in result.items() if k not in {key, "total"}})
        if value not in (None, "", []) and (_scalar(value) or all(_scalar(v) for v in value))
    }
    return rows, [ParamItem(name=_label(path), value=text) for path, text in _shown(beside, locale)]


def _pretty_json(value: Any) -> str:
    text = json.dumps(value, indent=2, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_JSON_CHARS else f"{text[:MAX_JSON_CHARS]}\n… (cut here: too long to show)"


def tool_item(row: assistant.ToolCallRow, locale: str) -> ToolItem:
    """A tool call for the "How I got this" panel: its parameters, the facts of its query, and its figures as a
    compact table when they are rows (every figure, unformatted, in the JSON below it)."""
    params = [ParamItem(name=_label((str(k),)), value=_cell(v, str(k), locale)) for k, v in row.arguments.items()]
    rows, facts = _figures(row.result, locale)
    facts = [f for f in facts if f not in params]  # the parameters as given are already shown
    flat = [_flat_row(r, locale) for r in (rows or [])[:MAX_TABLE_ROWS]]
    columns: list[str] = []
    for cells in flat:
        columns.extend(c for c in cells if c not in columns)
    kind = "table" if rows else ("empty" if row.result in (None, [], {}, "") else "json")
    return ToolItem(
        name=row.name,
        summary=row.summary,
        params=params,
        kind=kind,
        facts=facts if kind == "table" else [],
        columns=columns,
        rows=[[cells.get(c, "") for c in columns] for cells in flat],
        more_rows=max(0, len(rows or []) - len(flat)),
        json=_pretty_json(row.result) if kind != "empty" else "",
    )


def message_item(row: assistant.MessageRow, timezone: str, locale: str) -> MessageItem:
    tools = [tool_item(t, locale) for t in row.tool_calls]
    return MessageItem(
        public_id=row.public_id,
        role=row.role,
        content=row.content or FALLBACK_TEXT.get(row.status, ""),
        status=row.status,
        status_label=STATUS_LABELS.get(row.status, ""),
        tools=tools,
        tool_count=len(tools),
        created_at=format_time(row.created_at, timezone),
    )


def local_message(
    role: str, content: str, status: str, timezone: str, tools: list[ToolItem] | None = None
) -> MessageItem:
    """A message shown but not (or not yet) read back from the database: the question just asked, a refusal."""
    return MessageItem(
        public_id="",
        role=role,
        content=content or FALLBACK_TEXT.get(status, ""),
        status=status,
        status_label=STATUS_LABELS.get(status, ""),
        tools=tools or [],
        tool_count=len(tools or []),
        created_at=format_time(utcnow(), timezone),
    )


def conversation_item(row: assistant.ConversationRow, timezone: str) -> ConversationItem:
    return ConversationItem(
        public_id=row.public_id, title=row.title or "Untitled", updated_at=format_time(row.updated_at, timezone)
    )


# --- what the stream reads in worker threads (no state, only the session's key) -------------------------------------


def actor_for(token_hash: str) -> Actor | None:
    """The session's actor, re-resolved from the database (roles and sessions may change any time); None when ended."""
    with session_scope() as session:
        context = account_service.resolve_session(session=session, token_hash=token_hash)
        return context.actor if context is not None else None


def read_back(
    token_hash: str, conversation_public_id: str
) -> tuple[list[assistant.ConversationRow], assistant.ConversationView | None]:
    """After an answer: the conversation list and the conversation as the database has them now."""
    with session_scope() as session:
        context = account_service.resolve_session(session=session, token_hash=token_hash)
        if context is None or context.actor is None:
            return [], None
        actor = context.actor
        rows = assistant.list_conversations(session=session, actor=actor)
        try:
            view = assistant.get_conversation(
                session=session, actor=actor, conversation_public_id=conversation_public_id
            )
        except NotFound:
            view = None
        return rows, view


async def _feed(answer: AsyncIterator[assistant.AnswerEvent], queue: asyncio.Queue[Any]) -> None:
    """Iterate the answer in one task (the generator's timeouts and connections stay in the task that opened them)."""
    try:
        async for event in answer:
            queue.put_nowait(event)
    finally:
        queue.put_nowait(_END)


class AssistantState(AppState):
    """Conversations are the user's own in the active account; the service checks both on every call."""

    loaded: bool = False
    configured: bool = False
    setup_hint: str = ""
    suggestions: list[str] = []
    conversations: list[ConversationItem] = []
    conversation_id: str = ""
    messages: list[MessageItem] = []
    question_error: str = ""
    # The answer being written: kept apart from ``messages`` so each delta sends only itself, not the conversation.
    streaming: bool = False
    streaming_text: str = ""
    streaming_tools: list[ToolItem] = []
    streaming_error: str = ""
    cancelling: bool = False
    _cancel_requested: bool = False

    def _show_conversations(self, rows: list[assistant.ConversationRow]) -> None:
        self.conversations = [conversation_item(r, self.account_timezone) for r in rows]

    def _show_conversation(self, view: assistant.ConversationView) -> None:
        self.conversation_id = view.public_id
        self.messages = [message_item(m, self.account_timezone, self.account_locale) for m in view.messages]

    def _clear_conversation(self) -> None:
        self.conversation_id = ""
        self.messages = []
        self.question_error = ""

    def _refresh_conversations(self) -> None:
        rows, _error = self._run(lambda s: assistant.list_conversations(session=s, actor=self._actor(s)))
        if rows is not None:
            self._show_conversations(rows)

    @rx.event
    def load_assistant(self) -> Any:
        """on_load: whether a provider is configured, the conversation list, and the open conversation re-read
        (the page keeps it across a reload; it may have been deleted in another tab)."""
        self.configured = assistant.configured()
        self.setup_hint = "" if self.configured else assistant.setup_hint()
        self.suggestions = list(assistant.SUGGESTED_QUESTIONS)
        open_id = self.conversation_id

        def load(session: Session) -> tuple[list[assistant.ConversationRow], assistant.ConversationView | None]:
            actor = self._actor(session)
            rows = assistant.list_conversations(session=session, actor=actor)
            if not open_id or self.streaming:
                return rows, None
            try:
                return rows, assistant.get_conversation(session=session, actor=actor, conversation_public_id=open_id)
            except NotFound:
                return rows, None

        found, error = self._run(load)
        if error or found is None:
            return None  # signed out: check_login, queued before this, sends the visitor to the login page
        rows, view = found
        self._show_conversations(rows)
        if view is not None:
            self._show_conversation(view)
        elif not self.streaming:
            self._clear_conversation()
        self.loaded = True
        return None

    @rx.event
    def new_conversation(self) -> None:
        if not self.streaming:
            self._clear_conversation()

    @rx.event
    def open_conversation(self, conversation_public_id: str) -> Any:
        """Show one of the user's conversations, with every answer's tool calls."""
        if self.streaming:
            return None
        view, error = self._run(
            lambda s: assistant.get_conversation(
                session=s, actor=self._actor(s), conversation_public_id=conversation_public_id
            )
        )
        if error or view is None:
            self._refresh_conversations()
            return toast.error(error or "This conversation could not be opened.")
        self.question_error = ""
        self._show_conversation(view)
        return None

    @rx.event
    def delete_conversation(self, conversation_public_id: str) -> Any:
        """Delete a conversation (after the confirmation dialog) with its messages."""
        if self.streaming and conversation_public_id == self.conversation_id:
            return toast.error("Wait for the answer to finish, or cancel it, before deleting this conversation.")
        _, error = self._run(
            lambda s: assistant.delete_conversation(
                session=s, actor=self._actor(s), conversation_public_id=conversation_public_id
            )
        )
        if conversation_public_id == self.conversation_id:
            self._clear_conversation()
        self._refresh_conversations()
        if error:
            return toast.error(error)
        return toast.success("Conversation deleted.")

    @rx.event
    def send_question(self, form_data: dict[str, Any]) -> Any:
        """The question box (Enter or Send)."""
        return self._ask(str(form_data.get("question", "")))

    @rx.event
    def ask_suggestion(self, question: str) -> Any:
        return self._ask(question)

    def _ask(self, question: str) -> Any:
        """Record the question, then start streaming its answer. Refusals (budget, rate limit) show in the chat."""
        if self.streaming:
            return None
        question = question.strip()
        conversation = self.conversation_id or None
        self.question_error = ""
        try:
            with session_scope() as session:
                asked = assistant.ask(
                    session=session, actor=self._actor(session), question=question, conversation_public_id=conversation
                )
        except ValidationFailed as error:
            self.question_error = error.message
            return None
        except ServiceUnavailable as error:
            self.configured = False
            self.setup_hint = error.message
            return None
        except RateLimited as error:
            self.messages.append(local_message("user", question, "done", self.account_timezone))
            self.messages.append(local_message("assistant", error.message, "refused", self.account_timezone))
            return rx.set_value(INPUT_ID, "")
        except NotFound as error:
            self._clear_conversation()
            self._refresh_conversations()
            return toast.error(error.message)
        except ServiceError as error:
            return toast.error(error.message)
        self.conversation_id = asked.conversation_public_id
        user_message = local_message("user", question, "done", self.account_timezone)
        user_message["public_id"] = asked.question_public_id
        self.messages.append(user_message)
        self.streaming = True
        self.cancelling = False
        self.streaming_text = ""
        self.streaming_tools = []
        self.streaming_error = ""
        self._cancel_requested = False
        self._refresh_conversations()  # a new conversation is listed at once, titled by its question
        return [
            rx.set_value(INPUT_ID, ""),
            AssistantState.stream_answer(
                asked.conversation_public_id, asked.question_public_id, asked.answer_public_id
            ),
        ]

    @rx.event
    def cancel_answer(self) -> None:
        """Cancel: the stream loop sees the flag within CANCEL_POLL_SECONDS and stops the answer."""
        if self.streaming:
            self._cancel_requested = True
            self.cancelling = True

    @rx.event(background=True)
    async def stream_answer(self, conversation_public_id: str, question_public_id: str, answer_public_id: str) -> None:
        """Stream the answer into the page as the service produces it (text deltas, finished tool calls)."""
        question = assistant.Question(
            conversation_public_id=conversation_public_id,
            question_public_id=question_public_id,
            answer_public_id=answer_public_id,
        )
        try:
            await self._stream(question)
        except Exception:
            # Never leave the page stuck "writing" with the box off.
            logger.exception("showing the answer to %s failed", question_public_id)
            async with self:
                self.streaming = self.cancelling = self._cancel_requested = False
                self.streaming_text = ""
                self.streaming_tools = []
                self.streaming_error = ""
            raise

    def _show_event(self, event: assistant.AnswerEvent) -> None:
        if event.kind == "text":
            self.streaming_text += event.text
        elif event.kind == "tool" and event.tool is not None:
            self.streaming_tools.append(tool_item(event.tool, self.account_locale))
        elif event.kind == "error":
            self.streaming_error = event.text or FALLBACK_TEXT["error"]

    async def _stream(self, question: assistant.Question) -> None:
        """The background event's body (a plain method, so tests can run it on a stand-in for Reflex's proxy)."""
        async with self:
            token_hash = self._session_token_hash()
        try:
            actor = await asyncio.to_thread(actor_for, token_hash)
        except ServiceError:
            actor = None
        cancelled = failed = False
        if actor is None:
            async with self:
                self.streaming_error = "Your session has ended; log in again to see the answer."
        else:
            answer = assistant.answer(actor=actor, question=question)
            queue: asyncio.Queue[Any] = asyncio.Queue()
            feeder = asyncio.create_task(_feed(answer, queue))
            getter: asyncio.Task[Any] | None = None
            try:
                finished = False
                while not finished:
                    if getter is None:
                        getter = asyncio.create_task(queue.get())
                    done, _ = await asyncio.wait({getter}, timeout=CANCEL_POLL_SECONDS)
                    batch: list[Any] = []
                    if done:
                        batch.append(getter.result())
                        getter = None
                        while not queue.empty():  # deltas that arrived meanwhile go out as one update
                            batch.append(queue.get_nowait())
                    async with self:
                        if self._cancel_requested:
                            cancelled = True
                            break
                        for event in batch:
                            if event is _END:
                                finished = True
                            else:
                                self._show_event(event)
            finally:
                if getter is not None:
                    getter.cancel()
                if not feeder.done():
                    feeder.cancel()  # the service records the answer as cancelled
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(feeder, return_exceptions=True)
                if isinstance(answer, AsyncGenerator):
                    await answer.aclose()
            problem = None if cancelled or feeder.cancelled() else feeder.exception()
            if isinstance(problem, ServiceError):  # the question is gone or was answered elsewhere
                failed = True
                async with self:
                    self.streaming_error = problem.message
            elif problem is not None:
                logger.error("the assistant's answer failed", exc_info=problem)
                failed = True
        await self._finish(question, token_hash, cancelled=cancelled, failed=failed)

    async def _finish(self, question: assistant.Question, token_hash: str, *, cancelled: bool, failed: bool) -> None:
        """Replace the streamed answer by the conversation as stored (its final text, status and tool calls); if it
        cannot be read back, keep what was streamed with the status it ended in."""
        try:
            rows, view = await asyncio.to_thread(read_back, token_hash, question.conversation_public_id)
        except ServiceError:
            rows, view = [], None
        async with self:
            if view is not None and self.conversation_id == question.conversation_public_id:
                self._show_conversation(view)
                if failed:  # the service could not record how it ended: do not leave it "still being written"
                    for message in self.messages:
                        if message["public_id"] == question.answer_public_id and message["status"] == "streaming":
                            message["status"], message["status_label"] = "error", STATUS_LABELS["error"]
                            message["content"] = message["content"] or FALLBACK_TEXT["error"]
            elif self.conversation_id == question.conversation_public_id:
                status = "cancelled" if cancelled else ("error" if failed or self.streaming_error else "done")
                text = self.streaming_error if status == "error" else self.streaming_text
                self.messages.append(
                    local_message("assistant", text, status, self.account_timezone, list(self.streaming_tools))
                )
            if rows:
                self._show_conversations(rows)
            self.streaming = False
            self.cancelling = False
            self._cancel_requested = False
            self.streaming_text = ""
            self.streaming_tools = []
            self.streaming_error = ""

    @rx.var
    def is_empty(self) -> bool:
        return not self.messages and not self.streaming

    @rx.var
    def input_disabled(self) -> bool:
        return self.streaming or not self.configured
