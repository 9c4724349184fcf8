"""Recommendations that show their evidence, driven by the scripted OpenAI-compatible server: a recommendation that
cites a version comparison (the tool called, its verdict quoted), and an answer that calls an insufficient sample a
winner flagged with what ``compare_versions`` found (``assistant_claims``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from app.services import assistant, assistant_claims
from tests.services.test_assistant import (  # the assistant tests' fixtures: one local server, one event loop
    _llm_server,  # noqa: F401
    ask_and_answer,
    configure,  # noqa: F401
    loop,  # noqa: F401
    run,  # noqa: F401
    saved,
    server,  # noqa: F401
    texts,
)
from tests.utils.llm_server import LlmServer, text, tool_calls
from tests.utils.shop_history import shop

pytestmark = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211")

NOTE = "**PaidSignal check:**"


def test_what_should_i_change_is_suggested_and_the_prompt_sets_the_rules() -> None:
    assert "What should I change?" in assistant.SUGGESTED_QUESTIONS
    prompt = assistant.SYSTEM_PROMPT
    for rule in ("recommend only from figures you fetched", "evidence beside it", "never a finding", "change nothing"):
        assert rule in prompt
    for tool in ("compare_versions", "platform_vs_verified", "customer_value", "get_metrics"):
        assert tool in prompt.split("What should I change?")[1]


def test_a_recommendation_cites_the_version_comparison(db: Session, server: LlmServer, run: Any) -> None:  # noqa: F811
    world = shop(db)
    answer = (
        "Keep v2 running and do not switch back yet. Evidence: compare_versions for Spring sale says not enough data "
        "to call a winner (v1's conversion rate is higher with 75% probability, below the 95% required), so the "
        "difference is a hint to keep watching."
    )
    server.script(tool_calls(("compare_versions", {"campaign": world.a.public_id})), text(answer))
    question, events = ask_and_answer(run, db, world.actor, "What should I change?")
    (row,) = [e.tool for e in events if e.tool]
    assert row.name == "compare_versions" and row.result["pairs"][0]["verdict"] == "not_enough_data"
    assert server.requests[0]["messages"][0]["content"].count("What should I change?") == 1
    # A hedged recommendation that quotes the verdict passes the check untouched.
    assert texts(events) == answer and NOTE not in saved(db, question.answer_public_id).content
    assert events[-1].kind == "done"


def test_an_insufficient_sample_called_a_winner_is_flagged(db: Session, server: LlmServer, run: Any) -> None:  # noqa: F811
    world = shop(db)
    server.script(
        tool_calls(("compare_versions", {"campaign": world.a.public_id})),
        text("Switch back: v1 is the clear winner over v2.\n\n- Pause v2 and restore v1's copy."),
    )
    question, events = ask_and_answer(run, db, world.actor, "What should I change?")
    shown = texts(events)
    assert NOTE in shown and "v1 vs v2: Not enough data to call a winner" in shown
    stored = saved(db, question.answer_public_id)
    assert stored.status == "done" and NOTE in stored.content and stored.content.startswith("Switch back")


def test_the_check_follows_the_verdicts() -> None:
    def pair(a: int, b: int, verdict: str, winner: int | None = None) -> dict[str, Any]:
        return {
            "a": f"cv_{a}x",
            "b": f"cv_{b}x",
            "a_number": a,
            "b_number": b,
            "verdict": verdict,
            "winner": f"cv_{winner}x" if winner else None,
            "summary": f"{verdict} {a}/{b}",
        }

    trace = [
        {"name": "compare_versions", "result": {"pairs": [pair(1, 2, "winner", 2), pair(2, 3, "not_enough_data")]}}
    ]
    check = assistant_claims.unbacked_claims
    assert check("v2 is the winner over v1 (97%).", trace) == []  # backed by its verdict
    assert check("v3 beat v2.", trace)[0].pair.verdict == "not_enough_data"
    assert check("cv_3x outperformed the version before it.", trace)[0].pair.b == 3  # named by its id
    assert check("v3 is not better than v2 yet: not enough data.", trace) == []  # hedged
    assert check("v3 looks better, with 80% probability, below the 95% required.", trace) == []
    assert check("v3 is better.", []) == []  # nothing compared: nothing to check against
    conflicting = [{"name": "compare_versions", "result": {"pairs": [], "chosen": pair(4, 5, "conflicting")}}]
    flagged = check("Version v5 won.", conflicting)
    assert "v4 vs v5: conflicting 4/5" in assistant_claims.note(flagged)
    assert assistant_claims.note([]) == ""
