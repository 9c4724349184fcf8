"""The assistant as support, driven by the scripted OpenAI-compatible server: answers from the docs (``search_docs``,
links into ``DOCS_URL``) and from the account's setup (install, keys, Stripe, pixels, alerts, an order's
deliveries), each tool scoped to the actor's account and never returning a secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session

from app.services import assistant, assistant_tools
from tests.services.test_assistant import (  # the assistant tests' fixtures: one local server, one event loop
    _llm_server,  # noqa: F401
    ask_and_answer,
    configure,  # noqa: F401
    loop,  # noqa: F401
    run,  # noqa: F401
    server,  # noqa: F401
    texts,
)
from tests.utils.factories import make_owner
from tests.utils.llm_server import LlmServer, text, tool_calls

pytestmark = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211")

DOCS = "https://docs.example.test"


@pytest.fixture
def docs_url(configure: Callable[..., None]) -> str:  # noqa: F811
    configure(docs_url=DOCS + "/")
    return DOCS


def test_a_support_question_is_answered_from_a_docs_section(
    db: Session,
    server: LlmServer,  # noqa: F811
    run: Any,  # noqa: F811
    docs_url: str,
) -> None:
    _, _, actor = make_owner(db)
    server.script(
        tool_calls(("search_docs", {"query": "install pixel checkout page"})),
        text(f"Paste the snippet from the Install page on every page ([Install]({DOCS}/guide/install/))."),
    )
    _, events = ask_and_answer(run, db, actor, "How do I install the pixel on my checkout page?")
    (row,) = [e.tool for e in events if e.tool]
    assert row.name == "search_docs" and row.summary.startswith("docs search 'install pixel checkout page': ")
    first = row.result["sections"][0]
    assert first["title"] == "Install" and first["link"] == f"{DOCS}/guide/install/"
    assert "snippet" in first["text"] and row.result["found"] is True
    assert f"{DOCS}/guide/install/" in texts(events)
    # The tool's result is what the model read; the system prompt tells it to answer from it and cite the links.
    system = server.requests[0]["messages"][0]["content"]
    assert "search_docs" in system and "cite them" in system and "docs do not cover it" in system
    assert "decline anything else" in system
    tool_message = server.requests[1]["messages"][-1]
    assert json.loads(tool_message["content"]) == row.result


def test_a_question_the_docs_do_not_cover_says_so(db: Session) -> None:
    _, _, actor = make_owner(db)
    result = assistant_tools.run_tool(db, actor, "search_docs", {"query": "banana bread recipe"})
    assert result["found"] is False and result["sections"] == []
    assert "do not cover" in result["note"]
    assert assistant_tools.run_tool(db, actor, "search_docs", {"query": "x"})["field"] == "query"
    assert "search_docs" in assistant_tools.TOOL_NAMES
    assert assistant.SYSTEM_PROMPT.count("{") == assistant.SYSTEM_PROMPT.count("}") == 2
