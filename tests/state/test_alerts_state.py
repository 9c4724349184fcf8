"""The /alerts page's state: creating and editing a rule through the editor, a refusal shown next to its field,
"Test this rule now" on unsaved rules, enabling and deleting, the history's filters (from the URL) and "Load more",
and a viewer who can look but not change anything."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from reflex.state import State
from sqlmodel import Session

from app import routes
from app.models import Account, AlertEvent, Role
from app.models.base import new_public_id, utcnow
from app.routes import alerts_url
from app.services import alerts
from app.state.alerts import ALL, AlertsState
from tests.utils.factories import add_member
from tests.utils.states import sign_in, substate, user_of, visit
from tests.utils.world import World


def _open(root: State, path: str = routes.ALERTS) -> AlertsState:
    visit(root, path)
    state = substate(root, AlertsState)
    state.load_alerts()
    return state


def _text(events: Any) -> str:
    """The toasts and redirects among a handler's returned or yielded events."""
    found = events if isinstance(events, list) else [events]
    return " ".join(str(e.args) for e in found if e is not None)


def _fill(state: AlertsState, **fields: str) -> None:
    for name, value in fields.items():
        state.set_form_value(name, value)


@pytest.fixture
def world(db: Session) -> World:
    """Campaign A ("Spring sale") had 3 sessions in the last half hour and no order; B ("Search") nothing."""
    w = World(db)
    now = utcnow()
    for n in range(3):
        w.visit(now - timedelta(minutes=10 + n), w.a2, f"visitor-{n}")
    db.commit()
    return w


def test_a_rule_is_created_edited_disabled_and_deleted_through_the_editor(
    root: State, db: Session, world: World
) -> None:
    sign_in(root, db, user_of(db, world))
    state = _open(root)
    assert state.loaded and state.rules == [] and state.events_loaded and state.events == []
    assert state.can_edit_marketing and not state.editor_open
    assert state.campaign_options[0] == {"value": ALL, "label": "Every active campaign"}
    assert [o["label"] for o in state.campaign_options[1:]] == ["Search", "Spring sale"]

    state.new_rule()
    assert state.editor_open and state.editor_title == "New alert rule"
    assert (state.form_metric, state.form_comparator, state.form_roles) == ("roas", "below", ["owner", "admin"])
    assert (state.form_min_sessions, state.form_min_orders) == ("100", "0")  # the default minimum volume
    assert state.threshold_hint == "ROAS, e.g. 2.0. Leave empty: uses the version's KPI target"
    _fill(state, name="Spring CPA", campaign=world.a.public_id, metric="cpa", currency="eur", threshold="25,5")
    assert state.form_comparator == "above"  # the metric's usual direction
    assert state.threshold_hint == "EUR amount, e.g. 25.00. Leave empty: uses the version's KPI target"
    _fill(state, window="7d", min_sessions="100", cooldown_minutes="60", recipient_emails="ops@shop.test")
    state.toggle_role("admin", False)
    state.toggle_role("marketer", True)
    events = list(state.save_rule())
    assert "Rule Spring CPA saved" in _text(events)
    assert not state.editor_open and state.form_error == "" and state.error_field == ""
    [rule] = state.rules
    assert rule["name"] == "Spring CPA" and rule["campaign"] == "Spring sale"
    assert rule["campaign_url"] == routes.campaign_url(world.a.public_id)
    assert rule["condition"] == "CPA above €25.50"
    assert (rule["window"], rule["volume"], rule["cooldown"]) == ("last 7 days", "≥ 100 sessions", "1 h")
    assert rule["recipients"] == "owners, marketers, ops@shop.test"
    assert rule["status"] == "unchecked" and rule["enabled"]  # "Not checked yet": the job has not judged it

    # Editing opens the saved values; saving updates the same rule.
    state.edit_rule(rule["public_id"])
    assert state.editor_open and state.editor_title == "Edit alert rule"
    assert (state.form_threshold, state.form_currency, state.form_window) == ("25.5", "EUR", "7d")
    assert state.form_roles == ["owner", "marketer"] and state.form_recipient_emails == "ops@shop.test"
    _fill(state, threshold="30", campaign=ALL)
    list(state.save_rule())
    [rule] = state.rules
    assert rule["condition"] == "CPA above €30.00" and rule["campaign"] == "Every active campaign"
    assert rule["campaign_url"] == ""

    assert "disabled" in _text(state.set_rule_enabled(rule["public_id"], False))
    assert state.rules[0]["status"] == "disabled" and not state.rules[0]["enabled"]

    assert "deleted" in _text(state.delete_rule(rule["public_id"]))
    assert state.rules == []


def test_the_editor_starts_from_the_services_new_rule(root: State) -> None:
    """Before the editor is first opened its fields are a new rule's, read from the service (they were written again
    here, and the minimum sessions said 0 where a new rule waits for 100)."""
    state = substate(root, AlertsState)
    form = alerts.new_rule_form()
    assert (state.form_metric, state.form_comparator, state.form_mode, state.form_window) == (
        form["metric"], form["comparator"], form["mode"], form["window"]
    )  # fmt: skip
    assert (state.form_stopped_hours, state.form_min_sessions, state.form_min_orders, state.form_cooldown_minutes) == (
        str(form["stopped_hours"]), str(form["min_sessions"]), str(form["min_orders"]), str(form["cooldown_minutes"])
    )  # fmt: skip
    assert state.form_min_sessions == "100" and state.form_campaign == ALL
    assert (state.form_roles, state.form_enabled) == ([str(r) for r in form["recipient_roles"]], form["enabled"])


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"recipient_emails": "ops@shop.test, nobody"}, "recipients", "nobody is not an e-mail address"),
        ({"threshold": "-1"}, "threshold", "threshold: Input should be greater than or equal to 0"),
        ({"threshold": "lots"}, "threshold", "threshold: Input should be a valid number"),
        ({"name": "  "}, "name", "name: String should have at least 1 character"),
        ({"metric": "net_revenue", "threshold": "100"}, "currency", "Net revenue is an amount: choose its currency"),
        ({"metric": "orders", "threshold": ""}, "threshold", "Orders needs a threshold"),
        ({"mode": "change", "threshold": ""}, "threshold", "In change mode the threshold is a percentage"),
        ({"metric": "conversions_stopped", "stopped_hours": "0"}, "stopped_hours", "greater than or equal to 1"),
    ],
)
def test_a_refused_rule_shows_the_message_next_to_its_field(
    root: State, db: Session, world: World, fields: dict[str, str], field: str, message: str
) -> None:
    sign_in(root, db, user_of(db, world))
    state = _open(root)
    state.new_rule()
    _fill(state, **({"name": "Watch"} | fields))
    events = list(state.save_rule())
    assert state.error_field == field, (state.error_field, state.field_error, state.form_error)
    assert message in state.field_error and state.form_error == ""
    assert message in _text(events)
    assert state.editor_open and state.rules == []  # the editor keeps what was typed
    # Correcting the field clears its message.
    state.set_form_value(field if field != "recipients" else "recipient_emails", "")
    assert state.error_field == "" and state.field_error == ""


def test_no_recipients_is_shown_next_to_the_recipients(root: State, db: Session, world: World) -> None:
    sign_in(root, db, user_of(db, world))
    state = _open(root)
    state.new_rule()
    _fill(state, name="Nobody")
    state.toggle_role("owner", False)
    state.toggle_role("admin", False)
    list(state.save_rule())
    assert state.error_field == "recipients" and "Choose who gets the e-mail" in state.field_error


def test_testing_an_unsaved_rule_says_what_it_would_send(root: State, db: Session, world: World) -> None:
    sign_in(root, db, user_of(db, world))
    state = _open(root)
    state.new_rule()
    _fill(state, metric="conversions_stopped", stopped_hours="1", min_sessions="1")
    assert state.is_stopped
    list(state.test_rule())  # no name yet: a test does not need one
    assert state.preview_error == "" and state.error_field == ""
    by_campaign = {p["campaign"]: p for p in state.previews}
    assert set(by_campaign) == {"Spring sale", "Search"}  # every active campaign
    fired = by_campaign["Spring sale"]
    assert fired["verdict"] == "Would fire" and fired["color"] == "red"
    assert fired["summary"].startswith("No paid order in the last 1 h while 3 sessions arrived")
    assert fired["subject"] == "[PaidSignal] Spring sale: no paid order in 1 h"
    assert "Open the campaign: http://localhost:3000/campaigns/" in fired["text"]
    assert fired["drivers"][1].startswith("This window: 3 sessions, 0 orders")
    assert fired["campaign_url"] == routes.campaign_url(world.a.public_id)
    held = by_campaign["Search"]
    assert held["verdict"] == "Held back: low volume" and held["subject"] == "" and held["color"] == "gray"
    assert state.rules == []  # nothing was saved

    # An edit marks the results as out of date until the next test.
    state.set_form_value("campaign", world.a.public_id)
    assert state.preview_stale
    list(state.test_rule())
    assert [p["campaign"] for p in state.previews] == ["Spring sale"] and not state.preview_stale

    # A rule with nothing to judge says so in the results.
    world.b.status = "paused"
    db.add(world.b)
    db.commit()
    _fill(state, campaign=world.b.public_id)
    list(state.test_rule())
    assert state.previews == [] and state.error_field == "campaign"
    assert "This campaign is not active" in state.field_error


def _events(db: Session, world: World, rule_public_id: str, count: int, kind: str = "suppressed_volume") -> None:
    rule = alerts.get_rule(db, world.account_id, rule_public_id)
    start = utcnow() - timedelta(days=2)
    db.add_all(
        AlertEvent(
            public_id=new_public_id("ale"), account_id=world.account_id, rule_id=rule.id or 0,
            campaign_id=world.a.id, kind=kind, metric=rule.metric, value=0, window_start=start, window_end=start,
            summary=f"held back {n}", created_at=start + timedelta(minutes=n),
        )
        for n in range(count)
    )  # fmt: skip
    db.commit()


def test_history_shows_the_fired_alert_its_email_and_pages_with_filters(
    root: State, db: Session, world: World, outbox: Path
) -> None:
    account = db.get(Account, world.account_id)
    assert account is not None
    stopped = alerts.create_rule(session=db, actor=world.actor, data={
        "name": "Orders stopped", "campaign": world.a.public_id, "metric": "conversions_stopped",
        "stopped_hours": 1, "min_sessions": 1,
    }).public_id  # fmt: skip
    other = alerts.create_rule(session=db, actor=world.actor, data={
        "name": "ROAS", "metric": "roas", "threshold": 2, "recipient_emails": "ops@shop.test"
    }).public_id  # fmt: skip
    db.commit()
    summary = alerts.run_evaluation(db)
    assert summary.fired == 1 and summary.emails_sent == 1, summary.text()
    _events(db, world, other, 55)

    sign_in(root, db, user_of(db, world))
    state = _open(root)
    assert len(state.events) == 50 and state.has_more
    newest = state.events[0]
    assert newest["kind"] == "fired" and newest["kind_label"] == "Fired" and newest["color"] == "red"
    assert newest["rule_name"] == "Orders stopped" and newest["campaign"] == "Spring sale"
    assert newest["summary"].startswith("No paid order in the last 1 h while 3 sessions arrived")
    assert newest["email_status"] == "sent" and newest["email_label"] == "sent"
    assert newest["recipients"] == user_of(db, world).email
    assert [a["outcome"] for a in newest["attempts"]] == ["sent"]
    assert state.events[1]["summary"] == "held back 54" and state.events[1]["color"] == "gray"
    assert state.events[1]["email_label"] == "—"
    firing = next(r for r in state.rules if r["public_id"] == stopped)
    assert firing["status"] == "firing" and firing["firing"] == 1 and firing["last_event_at"] != ""

    list(state.load_more())
    assert len(state.events) == 56 and not state.has_more
    assert state.events[-1]["summary"] == "held back 0"

    state.toggle_event(newest["public_id"])
    assert state.expanded_id == newest["public_id"]
    state.toggle_event(newest["public_id"])
    assert state.expanded_id == ""

    # Filters are URLs (shareable, the back button works); unknown values are ignored.
    assert "/alerts?kind=fired" in _text(state.filter_kind("fired"))
    assert "/alerts?kind=" not in _text(state.filter_kind("everything"))
    assert alerts_url(rule=stopped, kind="fired") == f"/alerts?rule={stopped}&kind=fired"
    state = _open(root, alerts_url(kind="fired"))
    assert state.kind_filter == "fired" and state.filtered
    assert [e["kind"] for e in state.events] == ["fired"] and not state.has_more
    state = _open(root, alerts_url(rule=other))
    assert state.rule_filter == other and len(state.events) == 50
    state = _open(root, "/alerts?rule=alr_unknown&kind=bogus")
    assert (state.rule_filter, state.kind_filter) == (ALL, ALL) and not state.filtered

    # Deleting a rule takes its history with it.
    state = _open(root, alerts_url(rule=other))
    events = state.delete_rule(other)
    assert "/alerts" in _text(events)
    state = _open(root)
    assert [e["rule_name"] for e in state.events] == ["Orders stopped"]


def test_a_viewer_sees_rules_and_history_but_cannot_change_them(root: State, db: Session, world: World) -> None:
    account = db.get(Account, world.account_id)
    assert account is not None
    rule = alerts.create_rule(session=db, actor=world.actor, data={"name": "ROAS", "metric": "roas"}).public_id
    db.commit()
    viewer, _ = add_member(db, account, Role.VIEWER)
    sign_in(root, db, viewer)
    state = _open(root)
    assert [r["name"] for r in state.rules] == ["ROAS"] and not state.can_edit_marketing

    assert "a marketer, an admin or the owner edits them" in _text(state.new_rule())
    assert not state.editor_open

    # The page hides the controls; the service refuses anyway.
    state.edit_rule(rule)  # opening the saved values is reading
    _fill(state, name="Renamed")
    list(state.save_rule())
    assert "Your role (viewer) cannot edit alert rules" in state.form_error
    assert state.error_field == ""
    assert "Your role (viewer)" in _text(state.set_rule_enabled(rule, False))
    assert "Your role (viewer)" in _text(state.delete_rule(rule))
    assert [(r["name"], r["enabled"]) for r in state.rules] == [("ROAS", True)]

    # Testing a rule changes nothing: a viewer may.
    list(state.test_rule())
    assert state.form_error == "" and len(state.previews) == 2
