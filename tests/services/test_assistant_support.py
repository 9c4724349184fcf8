"""The assistant as support, driven by the scripted OpenAI-compatible server: answers from the docs (``search_docs``,
links into ``DOCS_URL``) and from the account's setup (install, keys, Stripe, pixels, alerts, an order's
deliveries), each tool scoped to the actor's account and never returning a secret."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session

from app import runtime
from app.db import session_scope
from app.services import alerts, assistant, assistant_tools, docs_search, keys
from app.services.errors import PermissionDenied
from app.services.usage.drops import flush_ingest_drops
from app.settings import get_settings
from app.state.assistant import tool_item
from tests.services.test_assistant import (  # the assistant tests' fixtures: one local server, one event loop
    _llm_server,  # noqa: F401
    ask_and_answer,
    configure,  # noqa: F401
    loop,  # noqa: F401
    run,  # noqa: F401
    server,  # noqa: F401
    texts,
)
from tests.utils.ad_platforms import AdPlatforms
from tests.utils.conversions import GA_SECRET, META_TOKEN, WEBHOOK_SECRET, drain, make_pixels, pay
from tests.utils.factories import make_owner
from tests.utils.llm_server import LlmServer, text, tool_calls
from tests.utils.payments import ORIGIN, STRIPE_KEY, Shop, make_shop
from tests.utils.payments import WEBHOOK_SECRET as STRIPE_WHSEC
from tests.utils.stripe_fakes import StripeRecorder

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


# --- support grounded in the account's setup ------------------------------------------------------------------------

SETUP_TOOLS = ("install_status", "api_keys", "stripe_status", "pixel_status", "order_conversions", "alert_rules")


@pytest.fixture
def paid(db: Session, stripe_api: StripeRecorder, ad_platforms: AdPlatforms) -> tuple[Shop, str]:
    """A shop with Stripe, keys and four default pixels whose Meta token Meta refuses; an order paid and drained: its
    Meta delivery is dead."""
    shop = make_shop(db, stripe_api)
    make_pixels(db, shop, ad_platforms)
    ad_platforms.bad_tokens.add(META_TOKEN)
    order_id = pay(shop, db)
    drain()
    return shop, order_id


def _secrets(shop: Shop) -> list[str]:
    return [
        shop.publishable_key,
        shop.secret_key,
        STRIPE_KEY,
        STRIPE_WHSEC,
        META_TOKEN,
        GA_SECRET,
        WEBHOOK_SECRET,
        "client-secret-0123",
        "1//refresh-token-0123",
        shop.secret_key[-6:],
    ]


def test_an_install_problem_is_diagnosed_from_events_dropped_for_a_wrong_origin(
    db: Session,
    server: LlmServer,  # noqa: F811
    run: Any,  # noqa: F811
    stripe_api: StripeRecorder,
) -> None:
    shop = make_shop(db, stripe_api)
    runtime.current().ingest_drops.discard()
    wrong = "https://www.shop.example.com"
    for _ in range(3):  # the pixel on www. while the key allows only the bare domain: the API refuses each request
        with pytest.raises(PermissionDenied, match="not allowed"):
            keys.authenticate_publishable_key(session=db, raw=shop.publishable_key, origin=wrong)
    with session_scope() as session:  # flushed like the job does; later counts stay in memory and are read too
        assert flush_ingest_drops(session) == 1
    with pytest.raises(PermissionDenied):
        keys.authenticate_publishable_key(session=db, raw=shop.publishable_key, origin=wrong)
    server.script(
        tool_calls(("install_status", {})),
        text(f"Your pixel runs on {wrong}, which the key does not allow: add it on the API keys page."),
    )
    _, events = ask_and_answer(run, db, shop.actor, "Why is my install page still waiting?")
    (row,) = [e.tool for e in events if e.tool]
    result = row.result
    assert result["status"] == "waiting for the first event" and result["events_received"]["total"] == 0
    assert result["allowed_origins"] == [ORIGIN]
    assert result["dropped"] == {"wrong_origin": {wrong: 4}}
    (problem,) = result["problems"]
    assert wrong in problem["problem"] and f"Add {wrong}" in problem["fix"]
    assert problem["fix_at"] == f"{get_settings().public_url}/settings/keys"
    assert problem["docs"].endswith("/api/authentication/#browsers-a-publishable-key-from-an-allowed-origin")
    assert row.summary == "install status, last 7 days: waiting for the first event"
    assert json.loads(server.requests[1]["messages"][-1]["content"]) == result
    runtime.current().ingest_drops.discard()


def test_an_order_whose_meta_delivery_is_dead_is_explained_with_its_checklist(
    db: Session,
    paid: tuple[Shop, str],
    server: LlmServer,  # noqa: F811
    run: Any,  # noqa: F811
) -> None:
    shop, order_id = paid
    server.script(
        tool_calls(("order_conversions", {"order": order_id, "provider": "meta"})),
        text("Meta refused the access token: paste a new one on the Pixels page, then replay the delivery."),
    )
    _, events = ask_and_answer(run, db, shop.actor, f"Why wasn't order {order_id} sent to Meta?")
    (row,) = [e.tool for e in events if e.tool]
    result = row.result
    assert result["order"]["order_id"] == order_id and result["order"]["status"] == "paid"
    (meta,) = result["deliveries"]
    assert (meta["provider"], meta["status"]) == ("meta", "dead")
    assert "Invalid OAuth access token" in meta["reason"]
    assert meta["attempts"][-1]["response_status"] == 400
    labels = {c["check"]: c["state"] for c in meta["checklist"]}
    assert labels["fbc (Meta click id)"] == "ok" and labels["Test mode"] == "ok" and "Consent" in labels
    fix = meta["what_to_fix"]
    assert "Invalid OAuth access token" in fix["problem"]
    assert fix["fix_at"] == f"{get_settings().public_url}/pixels"
    assert fix["replay_at"] == f"{get_settings().public_url}/orders/{order_id}"
    assert fix["docs"].endswith("/providers/meta/")
    assert result["why_nothing_was_sent"] == []
    assert row.summary == f"conversions of order {order_id}: 1 delivery"
    assert [v for v in _secrets(shop) if v in json.dumps(result)] == []


def test_an_order_with_no_pixel_says_why_nothing_was_sent(db: Session, stripe_api: StripeRecorder) -> None:
    shop = make_shop(db, stripe_api)
    order_id = pay(shop, db)
    result = assistant_tools.run_tool(db, shop.actor, "order_conversions", {"order": order_id, "provider": "meta"})
    assert result["deliveries"] == []
    (why,) = result["why_nothing_was_sent"]
    assert why["problem"].startswith("No enabled meta pixel receives") and why["fix_at"].endswith("/pixels")


def test_every_setup_tool_reads_the_accounts_state_and_no_secret(db: Session, paid: tuple[Shop, str]) -> None:
    shop, order_id = paid
    alerts.create_rule(
        session=db, actor=shop.actor, data={"name": "Stopped", "metric": "roas", "recipient_emails": "ops@shop.test"}
    )
    db.commit()
    results = {
        name: assistant_tools.run_tool(db, shop.actor, name, {"order": order_id} if name == "order_conversions" else {})
        for name in SETUP_TOOLS
    }
    assert not [name for name, result in results.items() if "error" in result]
    stripe = results["stripe_status"]
    assert stripe["connected"] is True and stripe["webhook_secret_set"] is True
    assert stripe["webhook_url"].endswith(f"/api/v1/stripe/webhook/{shop.account.public_id}")
    assert stripe["last_event"]["type"] == "checkout.session.completed"
    assert stripe["last_event"]["outcome"] == "applied"
    assert "checkout.session.completed" not in stripe["event_types_not_received_in_period"]
    assert "charge.refunded" in stripe["event_types_not_received_in_period"]
    assert stripe["problems"] == []
    keys_ = results["api_keys"]["keys"]
    assert sorted(k["kind"] for k in keys_) == ["publishable", "secret"]
    assert next(k for k in keys_ if k["kind"] == "publishable")["allowed_origins"] == [ORIGIN]
    pixels_ = {p["provider"]: p for p in results["pixel_status"]["pixels"]}
    assert set(pixels_) == {"meta", "ga4", "google_ads", "webhook"}
    assert pixels_["meta"]["latest_deliveries"][0]["status"] == "dead"
    assert pixels_["meta"]["credentials_set"] is True and pixels_["meta"]["test_mode"] is False
    assert [r["name"] for r in results["alert_rules"]["rules"]] == ["Stopped"]
    assert results["install_status"]["allowed_origins"] == [ORIGIN]
    text_ = json.dumps(results)
    assert [v for v in _secrets(shop) if v in text_] == []
    assert "ops@shop.test" not in text_
    for name, result in results.items():  # each renders in "How I got this"
        item = tool_item(assistant.ToolCallRow(name, {}, result, assistant_tools.summary(name, {}, result)), "en_US")
        assert item["kind"] in {"table", "json"} and item["summary"]


def test_every_docs_link_a_setup_tool_gives_leads_to_a_section(db: Session, stripe_api: StripeRecorder) -> None:
    shop = make_shop(db, stripe_api)
    runtime.current().ingest_drops.discard()
    for reason in ("bot", "consent_denied", "wrong_origin"):
        runtime.current().ingest_drops.count(shop.account.id or 0, reason, "https://elsewhere.example")
    _, _, empty = make_owner(db)
    results = [
        assistant_tools.run_tool(db, actor, name, {"order": "ord_x"} if name == "order_conversions" else {})
        for actor in (shop.actor, empty)
        for name in SETUP_TOOLS
    ]
    runtime.current().ingest_drops.discard()
    base = docs_search.docs_base() + "/"
    links = set(re.findall(re.escape(base) + r'[^"]*', json.dumps(results)))
    sections = {section.path() for section in docs_search.load_sections()}
    assert len(links) >= 6 and [link for link in links if link.removeprefix(base) not in sections] == []


def test_another_accounts_ids_find_nothing(db: Session, paid: tuple[Shop, str], stripe_api: StripeRecorder) -> None:
    theirs, their_order = paid
    _, _, mine = make_owner(db)
    found = assistant_tools.run_tool(db, mine, "order_conversions", {"order": their_order})
    assert found == {"error": "No order with this id in this account.", "field": "order"}
    assert (
        "Unknown argument 'account_id'"
        in assistant_tools.run_tool(db, mine, "install_status", {"account_id": theirs.account.id})["error"]
    )
    results = {
        name: assistant_tools.run_tool(db, mine, name, {"order": "ord_x"} if name == "order_conversions" else {})
        for name in SETUP_TOOLS
    }
    assert results["install_status"]["allowed_origins"] == [] and results["install_status"]["dropped"] == {}
    assert results["api_keys"]["keys"] == [] and results["pixel_status"]["pixels"] == []
    assert results["stripe_status"]["connected"] is False and results["alert_rules"]["rules"] == []
    assert "error" in results["order_conversions"]
    text_ = json.dumps(results)
    for value in (their_order, theirs.account.public_id, "meta pixel", ORIGIN, *_secrets(theirs)):
        assert value not in text_, value
