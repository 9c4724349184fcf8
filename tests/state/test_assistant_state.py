"""The /assistant page's state against the real assistant service and a local OpenAI-compatible server (litellm
``openai/<name>`` with ``api_base``): asking streams the answer and its tool calls into the page, the conversation is
listed and reopens with its "How I got this" figures, Cancel stops a slow answer, a reached budget is refused in the
chat, and without a configured model the page says how to configure one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import wrapt
from reflex.state import State
from sqlmodel import Session, select

from app import routes
from app.models import ConversationMessage, User
from app.models.base import utcnow
from app.services import accounts, assistant, rollups, usage
from app.settings import get_settings
from app.state.assistant import INPUT_ID, AssistantState, tool_item
from tests.utils.llm_server import LlmServer, text, tool_calls
from tests.utils.states import run_coroutine, sign_in, substate, user_of, visit
from tests.utils.world import World

QUESTION = "Which campaign has the best ROAS this month?"
ANSWER = "**Spring sale** has the best ROAS this month: 4.00× on 120.00 EUR net."


class _BackgroundProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """Stands in for Reflex's StateProxy (also a wrapt proxy): ``async with self`` around every state access."""

    async def __aenter__(self) -> _BackgroundProxy:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[LlmServer]:
    """The local model server, configured as the assistant's provider for this test."""
    with LlmServer() as server:
        monkeypatch.setenv("LLM_MODEL", server.model)
        monkeypatch.setenv("LLM_API_BASE", server.url)
        monkeypatch.setenv("LLM_API_KEY", "sk-local-test")  # the OpenAI client refuses to start without one
        monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "20")
        get_settings.cache_clear()
        yield server
        monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def not_configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LLM_MODEL", "")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def world(db: Session) -> World:
    """Campaign A ("Spring sale") had a session and a paid order of 120.00 EUR a moment ago, and 30.00 EUR spend."""
    w = World(db)
    now = utcnow() - timedelta(seconds=30)
    w.visit(now, w.a2, "visitor-1")
    w.order(now, {"last_touch": [(w.a2, "1")]}, amount=12_000)
    w.spend(now.date(), w.a, 3_000)
    db.commit()
    rollups.rebuild(db, w.account_id)
    db.commit()
    return w


def _open(root: State, db: Session, user: User) -> AssistantState:
    sign_in(root, db, user)
    state = substate(root, AssistantState)
    visit(root, routes.ASSISTANT)
    state.load_assistant()
    return state


def _events(returned: Any) -> list[Any]:
    return [e for e in (returned if isinstance(returned, list) else [returned]) if e is not None]


def _stream(state: AssistantState, db: Session) -> None:
    """Run the background event's body for the question just asked (the ids as the service stored them)."""
    view = assistant.get_conversation(session=db, actor=_actor(state, db), conversation_public_id=state.conversation_id)
    asked, answer = view.messages[-2], view.messages[-1]
    assert (asked.role, answer.role, answer.status) == ("user", "assistant", "streaming")
    question = assistant.Question(state.conversation_id, asked.public_id, answer.public_id)
    run_coroutine(AssistantState._stream(_BackgroundProxy(state), question))


def _actor(state: AssistantState, db: Session) -> Any:
    context = accounts.resolve_session(session=db, token=state.auth_token)
    assert context is not None and context.actor is not None
    return context.actor


def test_a_question_streams_its_answer_and_tool_calls_then_reopens_from_the_list(
    root: State, db: Session, world: World, llm: LlmServer
) -> None:
    llm.script(
        tool_calls(("get_metrics", {"dimension": "campaign", "preset": "month_to_date"})),
        text(ANSWER),
    )
    state = _open(root, db, user_of(db, world))
    assert state.loaded and state.configured and state.setup_hint == ""
    assert state.conversations == [] and state.is_empty and not state.input_disabled
    assert state.suggestions == assistant.SUGGESTED_QUESTIONS

    returned = _events(state.send_question({"question": f"  {QUESTION} "}))
    assert state.streaming and state.input_disabled and not state.is_empty
    assert [(m["role"], m["content"]) for m in state.messages] == [("user", QUESTION)]
    assert [c["title"] for c in state.conversations] == [QUESTION]  # listed at once
    assert any(f"ref_{INPUT_ID.replace('-', '_')}" in str(e) for e in returned)  # the box is emptied
    assert any("stream_answer" in str(e) for e in returned)

    _stream(state, db)
    assert not state.streaming and state.streaming_text == "" and state.streaming_tools == []
    user, answer = state.messages
    assert user["role"] == "user" and answer["role"] == "assistant"
    assert (answer["status"], answer["content"], answer["status_label"]) == ("done", ANSWER, ""), answer["content"]
    assert answer["tool_count"] == 1
    [tool] = answer["tools"]
    assert tool["name"] == "get_metrics" and tool["summary"].startswith("metrics by campaign")
    assert {"name": "dimension", "value": "campaign"} in tool["params"]
    assert {"name": "preset", "value": "month_to_date"} in tool["params"]
    assert tool["kind"] == "table" and tool["columns"][0] == "label"
    by_label = {row[0]: dict(zip(tool["columns"], row, strict=True)) for row in tool["rows"]}
    assert by_label["Spring sale"]["EUR net"] == "€120.00"
    assert by_label["Spring sale"]["EUR roas"] == "4.00×"
    assert by_label["Total"]["orders"].startswith("1")
    assert '"net": 12000' in tool["json"]  # every figure, unformatted

    # What the model was sent back is what the panel shows.
    tool_message = next(m for m in llm.requests[1]["messages"] if m["role"] == "tool")
    assert "€120.00" in tool_message["content"]

    # Reload: a fresh page state lists the conversation; a new conversation, then reopening the old one.
    root = State(_reflex_internal_init=True)
    state = _open(root, db, user_of(db, world))
    assert [c["title"] for c in state.conversations] == [QUESTION]
    state.new_conversation()
    assert state.conversation_id == "" and state.messages == [] and state.is_empty
    state.open_conversation(state.conversations[0]["public_id"])
    assert [m["role"] for m in state.messages] == ["user", "assistant"]
    assert state.messages[1]["content"] == ANSWER and state.messages[1]["tools"][0]["name"] == "get_metrics"

    # A follow-up goes into the same conversation.
    llm.script(text("Yes: **Spring sale** is the only campaign with sales."))
    state.send_question({"question": "Is it the only one?"})
    _stream(state, db)
    assert len(state.conversations) == 1 and [m["status"] for m in state.messages] == ["done"] * 4
    assert len(llm.requests) == 3 and llm.requests[2]["messages"][-1]["content"] == "Is it the only one?"


def test_cancel_stops_a_slow_answer_and_keeps_what_was_written(
    root: State, db: Session, world: World, llm: LlmServer
) -> None:
    llm.script(text("Spring sale leads, because its spend is low and its orders are high.", hold_after=2))
    state = _open(root, db, user_of(db, world))
    state.send_question({"question": QUESTION})

    # Cancel once the stream is held mid-answer (no event arrives meanwhile: the flag alone must stop it).
    def cancel_when_held() -> None:
        assert llm.held.wait(30)
        state.cancel_answer()

    canceller = threading.Thread(target=cancel_when_held)
    canceller.start()
    _stream(state, db)
    canceller.join(5)
    llm.release()
    assert not state.streaming and not state.cancelling
    answer = state.messages[-1]
    assert answer["status"] == "cancelled" and answer["status_label"] == "Cancelled"
    # What had arrived when the flag was seen is kept: the first chunk, or both when the second was read before the
    # cancel (the server holds after two chunks; the client may not have read the second yet).
    assert answer["content"] in ("Spri", "Spring s")
    stored = db.exec(select(ConversationMessage).where(ConversationMessage.role == "assistant")).one()
    db.refresh(stored)
    assert stored.status == "cancelled"


def test_a_reached_budget_is_refused_in_the_chat(root: State, db: Session, world: World, llm: LlmServer) -> None:
    usage.record_llm_call(
        session=db, account_id=world.account_id, user_id=world.actor.user_id, conversation_id=None, question_id=None,
        model=llm.model, prompt_tokens=1_000, completion_tokens=1_000, cost_usd=99.0, duration_ms=10,
    )  # fmt: skip
    state = _open(root, db, user_of(db, world))
    returned = _events(state.send_question({"question": QUESTION}))
    assert not state.streaming and not any("stream_answer" in str(e) for e in returned)
    question, refusal = state.messages
    assert question["content"] == QUESTION
    assert refusal["status"] == "refused" and refusal["status_label"] == "Refused"
    assert "budget for the month is used up" in refusal["content"]
    assert llm.requests == []  # the provider was never called
    assert state.conversations == []  # nothing stored


def test_an_empty_question_is_refused_next_to_the_box(root: State, db: Session, world: World, llm: LlmServer) -> None:
    state = _open(root, db, user_of(db, world))
    state.send_question({"question": "   "})
    assert state.question_error == "Type a question first." and state.messages == [] and not state.streaming


def test_without_a_model_the_page_says_how_to_configure_one(
    root: State, db: Session, world: World, not_configured: None
) -> None:
    state = _open(root, db, user_of(db, world))
    assert state.loaded and not state.configured and state.input_disabled
    assert state.setup_hint == assistant.setup_hint() and "LLM_MODEL" in state.setup_hint
    state.ask_suggestion(assistant.SUGGESTED_QUESTIONS[0])  # a chip clicked anyway: nothing breaks
    assert state.messages == [] and not state.streaming and not state.configured


def test_a_conversation_is_deleted_and_others_are_not_listed(
    root: State, db: Session, world: World, llm: LlmServer
) -> None:
    owner = world.actor
    mine = assistant.ask(session=db, actor=owner, question="How many orders today?")
    other_account = World(db).actor  # another shop's owner
    assistant.ask(session=db, actor=other_account, question="Not yours")
    state = _open(root, db, user_of(db, world))
    assert [c["title"] for c in state.conversations] == ["How many orders today?"]
    state.open_conversation(mine.conversation_public_id)
    assert state.conversation_id == mine.conversation_public_id
    assert state.messages[-1]["status"] == "streaming" and state.messages[-1]["status_label"] == "Still being written"

    events = _events(state.delete_conversation(mine.conversation_public_id))
    assert "Conversation deleted." in str(events[0])
    assert state.conversations == [] and state.conversation_id == "" and state.messages == []
    events = _events(state.open_conversation(mine.conversation_public_id))
    assert "No conversation" in str(events[0]) and state.messages == []


def test_the_panel_shows_each_kind_of_result() -> None:
    rows = tool_item(
        assistant.ToolCallRow(
            "list_campaigns",
            {"limit": 2, "status": "active"},
            {"campaigns": [{"name": "A", "versions": [{"number": 1}]}], "campaigns_total": 7, "timezone": "UTC"},
            "1 of 7 campaigns with versions",
        ),
        "en_US",
    )
    assert rows["kind"] == "table" and rows["columns"] == ["name", "versions"] and rows["rows"] == [["A", "1 item"]]
    assert rows["facts"] == [{"name": "campaigns total", "value": "7"}, {"name": "timezone", "value": "UTC"}]
    error = tool_item(assistant.ToolCallRow("get_metrics", {}, {"error": "bad preset"}, "get metrics: error"), "en_US")
    assert error["kind"] == "json" and '"error": "bad preset"' in error["json"] and error["rows"] == []
    empty = tool_item(assistant.ToolCallRow("alert_history", {}, None, "alert history"), "en_US")
    assert empty["kind"] == "empty" and empty["json"] == ""
