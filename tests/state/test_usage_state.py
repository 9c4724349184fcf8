"""The usage pages through their states: an owner's /usage (limits, totals, days, keys, endpoints, users, questions;
this process's pending API counts flushed first; the range in the URL), "Only owners and admins" for other roles,
and /admin/usage for staff with its CSV download ("Staff only" for everyone else)."""

from __future__ import annotations

import base64
import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from reflex.state import State
from sqlmodel import Session, select

from app import routes, runtime
from app.models import ApiKey, ApiUsageDaily, Conversation, ConversationMessage, EventCountDaily, Role, User
from app.models.base import new_public_id
from app.services import accounts, keys
from app.services import usage as usage_service
from app.state.admin_usage import STAFF_ONLY, AdminUsageState
from app.state.usage import ADMINS_ONLY, UsageState, period_label
from tests.utils.factories import add_member, make_owner
from tests.utils.states import event_args, sign_in, substate, visit

EVENTS = "POST /api/v1/events"


@pytest.fixture(autouse=True)
def _fresh_counts() -> Any:
    runtime.current().api_usage.discard()
    yield
    runtime.current().api_usage.discard()


def _usage(root: State, path: str = routes.USAGE) -> UsageState:
    state = substate(root, UsageState)
    visit(root, path)
    state.load_usage()
    return state


def _admin(root: State, path: str = routes.ADMIN_USAGE) -> AdminUsageState:
    state = substate(root, AdminUsageState)
    visit(root, path)
    state.load_admin_usage()
    return state


def _redirect(spec: Any) -> tuple[str, dict[str, str]]:
    url = urlsplit(event_args(spec)["path"])
    return url.path, dict(parse_qsl(url.query))


def _today() -> date:
    return datetime.now(UTC).date()


def _shop(db: Session, name: str) -> dict[str, Any]:
    """An account with a secret key, API usage today and yesterday (when yesterday is this month) and one
    question to the assistant that cost two calls."""
    account, user, owner = make_owner(db, name=name)
    assert account.id is not None and user.id is not None
    created = keys.create_key(session=db, actor=owner, kind="secret", label=f"{name} server")
    db.commit()
    key = db.exec(select(ApiKey).where(ApiKey.public_id == created.row.public_id)).one()
    assert key.id is not None
    db.add(
        ApiUsageDaily(
            account_id=account.id, key_id=key.id, endpoint=EVENTS, day=_today(), requests=7, errors=1, events=20
        )
    )
    db.add(EventCountDaily(account_id=account.id, day=_today(), events=25))  # stored: the API's 20 and 5 imported
    conversation = Conversation(public_id=new_public_id("cnv"), account_id=account.id, user_id=user.id)
    db.add(conversation)
    db.flush()
    assert conversation.id is not None
    question = ConversationMessage(
        public_id=new_public_id("msg"),
        conversation_id=conversation.id,
        account_id=account.id,
        role="user",
        content=f"What did {name} earn this month?",
    )
    db.add(question)
    db.commit()
    for prompt, completion, cost in ((1000, 100, 0.02), (1200, 300, 0.03)):
        usage_service.record_llm_call(
            session=db,
            account_id=account.id,
            user_id=user.id,
            conversation_id=conversation.id,
            question_id=question.id,
            model="openai/local-test",
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=cost,
            duration_ms=50,
        )
    return {"account": account, "user": user, "owner": owner, "key_id": key.id}


def test_an_owner_sees_the_accounts_usage(root: State, db: Session) -> None:
    shop = _shop(db, "Alpha")
    _shop(db, "Beta")  # another account: never on Alpha's page
    sign_in(root, db, shop["user"])
    state = _usage(root)
    assert state.loaded and not state.forbidden and state.error == "" and state.can_view_usage
    assert state.range_start == _today().replace(day=1).isoformat() and state.range_end == _today().isoformat()
    assert state.period == period_label(state.range_start, state.range_end)
    assert state.plan_label == "Starter" and state.has_activity

    limits = {item["key"]: item for item in state.limits}
    assert limits["requests_today"]["used"] == "7" and limits["requests_today"]["limit"] == "100,000"
    assert limits["events_month"]["used"] == "25" and limits["events_month"]["tone"] == "green"
    assert limits["events_month"]["label"] == "Events stored this month"
    assert limits["llm_cost_month"]["used"] == "$0.0500" and limits["llm_cost_month"]["limit"] == "$5.00"
    assert limits["llm_cost_month"]["percent"] == 1 and "Starter plan" in limits["llm_cost_month"]["note"]

    totals = {item["id"]: item["value"] for item in state.totals}
    assert totals["total-requests"] == "7" and totals["total-errors"] == "1" and totals["total-events"] == "20"
    assert totals["total-llm-calls"] == "2" and totals["total-tokens"] == "2,200 / 400"
    assert totals["total-cost"] == "$0.0500"
    assert state.days[0]["day"] == _today().isoformat() and state.days[0]["requests"] == "7"  # newest first
    assert len(state.days) == _today().day and state.chart_days[-1] == _today().isoformat()
    assert state.api_chart.data[0].name == "Requests" and state.cost_chart.data[0].y[-1] == pytest.approx(0.05)

    assert [(k["key"].split(" (")[0], k["requests"], k["errors"]) for k in state.by_key] == [("Alpha server", "7", "1")]
    assert [(e["endpoint"], e["events"]) for e in state.by_endpoint] == [(EVENTS, "20")]
    assert [(u["email"], u["questions"], u["calls"], u["cost"]) for u in state.by_user] == [
        (shop["user"].email, "1", "2", "$0.0500")
    ]
    assert [(q["question"], q["calls"], q["tokens"]) for q in state.questions] == [
        ("What did Alpha earn this month?", "2", "2,200 / 400")
    ]
    assert "Beta" not in str(state.by_key) + str(state.questions)


def test_requests_counted_in_memory_show_at_once(root: State, db: Session) -> None:
    shop = _shop(db, "Gamma")
    runtime.current().api_usage.count(shop["account"].id, shop["key_id"], EVENTS, 200, events=5)
    runtime.current().api_usage.count(shop["account"].id, shop["key_id"], "GET /api/v1/events", 401)
    sign_in(root, db, shop["user"])
    state = _usage(root)
    assert runtime.current().api_usage.pending() == {}  # flushed by the page before it read
    assert {e["endpoint"]: (e["requests"], e["errors"], e["events"]) for e in state.by_endpoint} == {
        EVENTS: ("8", "1", "25"),
        "GET /api/v1/events": ("1", "1", "0"),
    }
    runtime.current().api_usage.count(shop["account"].id, shop["key_id"], EVENTS, 200, events=1)
    state.refresh()
    assert {item["id"]: item["value"] for item in state.totals}["total-requests"] == "10"


def test_the_range_comes_from_the_url(root: State, db: Session) -> None:
    shop = _shop(db, "Delta")
    sign_in(root, db, shop["user"])
    yesterday = _today() - timedelta(days=1)
    state = _usage(root, f"{routes.USAGE}?from={yesterday.isoformat()}&to={yesterday.isoformat()}")
    assert (state.since, state.until) == (yesterday.isoformat(), yesterday.isoformat()) and state.custom_range
    assert len(state.days) == 1 and not state.has_activity  # everything happened today
    assert state.period == f"{yesterday.isoformat()} (UTC)"
    assert state.by_key == [] and state.questions == []

    path, query = _redirect(state.filter_dates({"from": "2026-11-01", "to": "2026-11-05"}))
    assert (path, query) == (routes.USAGE, {"from": "2026-11-01", "to": "2026-11-05"})
    assert _redirect(state.filter_dates({"from": "not a date"})) == (routes.USAGE, {})
    assert _redirect(state.this_month()) == (routes.USAGE, {})

    backwards = _usage(root, f"{routes.USAGE}?from=2026-11-05&to=2026-11-01")
    assert "start date is after the end date" in backwards.error and backwards.days == [] and not backwards.forbidden


@pytest.mark.parametrize("role", [Role.MARKETER, Role.VIEWER])
def test_other_roles_are_told_who_can_see_usage(root: State, db: Session, role: Role) -> None:
    shop = _shop(db, "Epsilon")
    member, _ = add_member(db, shop["account"], role)
    runtime.current().api_usage.count(shop["account"].id, shop["key_id"], EVENTS, 200)
    sign_in(root, db, member)
    state = _usage(root)
    assert state.loaded and state.forbidden and not state.can_view_usage
    assert state.limits == [] and state.totals == [] and state.days == [] and state.questions == []
    assert ADMINS_ONLY.startswith("Only owners and admins")
    assert len(runtime.current().api_usage.pending()) == 1  # nothing was read, nor written


def test_an_admin_sees_usage(root: State, db: Session) -> None:
    shop = _shop(db, "Zeta")
    admin, _ = add_member(db, shop["account"], Role.ADMIN)
    sign_in(root, db, admin)
    state = _usage(root)
    assert not state.forbidden and {i["id"]: i["value"] for i in state.totals}["total-requests"] == "7"


def _staff(db: Session) -> User:
    _, user, _ = make_owner(db, name="Staff home")
    accounts.make_staff(session=db, email=user.email)
    db.commit()
    return user


def test_staff_see_every_account_and_download_the_csv(root: State, db: Session) -> None:
    alpha, beta = _shop(db, "Alpha"), _shop(db, "Beta")
    runtime.current().api_usage.count(
        beta["account"].id, beta["key_id"], EVENTS, 200, events=3
    )  # pending: flushed on load
    sign_in(root, db, _staff(db))
    state = _admin(root)
    assert state.loaded and not state.forbidden and state.error == "" and state.has_activity
    accounts_shown = {a["name"]: a for a in state.account_rows}
    assert set(accounts_shown) == {"Alpha", "Beta"}  # the staff user's own account has no usage
    assert accounts_shown["Beta"]["requests"] == "8" and accounts_shown["Beta"]["events"] == "23"
    assert accounts_shown["Alpha"]["plan"] == "Starter" and accounts_shown["Alpha"]["cost"] == "$0.0500"
    assert accounts_shown["Alpha"]["public_id"] == alpha["account"].public_id
    assert [a["name"] for a in state.top_by_cost] == ["Beta", "Alpha"]  # same cost: more requests first
    totals = {item["id"]: item["value"] for item in state.totals}
    assert totals["total-requests"] == "15" and totals["total-cost"] == "$0.1000"

    download = state.download_csv()
    args = event_args(download)
    assert "_download" in str(download.handler.fn)
    assert args["filename"] == f"paidsignal-usage-{state.range_start}-{state.range_end}.csv"
    text = base64.b64decode(args["url"].split(",", 1)[1]).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {(r["account_name"], r["day"], r["requests"], r["llm_calls"]) for r in rows} == {
        ("Alpha", _today().isoformat(), "7", "2"),
        ("Beta", _today().isoformat(), "8", "2"),
    }


def test_everyone_else_gets_staff_only(root: State, db: Session) -> None:
    shop = _shop(db, "Eta")
    sign_in(root, db, shop["user"])  # an owner, not staff
    state = _admin(root)
    assert state.loaded and state.forbidden and state.account_rows == [] and state.totals == []
    assert STAFF_ONLY.startswith("Only PaidSignal staff")
    refused = state.download_csv()
    assert "staff" in str(refused.args) and "_download" not in str(refused.handler.fn)
