"""Alert rules evaluated on known data: thresholds from the version's KPI targets, once per problem, resolve,
cooldown and minimum-volume suppression, change mode, "conversions stopped", what changed, the e-mails and their
retries, validation and tenancy.

The shop (Europe/Paris) spends 100.00 EUR a day on campaign A, so every 24-hour window holds 100.00 EUR of spend
wherever it starts: ROAS over 24 h is the window's net revenue / 100.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from app.models import Account, AlertEvent, AlertRule, AlertState, Role
from app.models.base import utcnow
from app.services import alerts
from app.services.alerts import delivery as alert_delivery
from app.services.alerts import runs as alert_runs
from app.services.errors import NotFound, PermissionDenied, ValidationFailed
from app.settings import get_settings
from tests.utils.factories import add_member, make_owner
from tests.utils.smtp import SmtpServer
from tests.utils.world import World, utc

NOW = utc(2026, 6, 1, 12)


def _all(version: Any) -> dict[str, list[tuple[Any, str]]]:
    return {"last_touch": [(version, "1")]}


@pytest.fixture
def world(db: Session) -> World:
    w = World(db)
    # A's live version (v2) has KPI targets: min ROAS 2.0, target CPA 40.00 EUR, min conversion rate 5 %.
    w.a2.config = {"budget": {"amount": 10000, "currency": "EUR", "period": "daily"},
                   "targets": {"min_roas": 2.0, "target_cpa": 4000, "min_conversion_rate": 0.05}}  # fmt: skip
    w.a.active_version_id = w.a2.id
    w.b.active_version_id = w.b1.id
    for day in range(20, 32):
        w.spend(date(2026, 5, day), w.a, 10000)
    for day in range(1, 8):
        w.spend(date(2026, 6, day), w.a, 10000)
    # 20 sessions on A in the current 24 h window, 20 in the previous one.
    for n in range(20):
        w.visit(NOW - timedelta(hours=23, minutes=-n * 60), w.a2, f"now{n}")
        w.visit(NOW - timedelta(hours=47, minutes=-n * 60), w.a2, f"before{n}")
    db.add_all([w.a, w.b, w.a2])
    db.commit()
    return w


def rule(w: World, **fields: Any) -> str:
    # No minimum volume: the worlds here are a few sessions (the default minimum has its own test).
    data = {"name": "ROAS watch", "campaign": w.a.public_id, "metric": "roas", "recipient_emails": "ops@shop.test",
            "min_sessions": 0}  # fmt: skip
    return alerts.create_rule(session=w.db, actor=w.actor, data=data | fields).public_id


def events(db: Session, kind: str | None = None) -> list[AlertEvent]:
    query = select(AlertEvent).order_by(AlertEvent.id)  # type: ignore[arg-type]
    if kind:
        query = query.where(AlertEvent.kind == kind)
    return list(db.exec(query).all())


def run(db: Session, at: datetime) -> alerts.RunSummary:
    db.expire_all()
    return alerts.run_evaluation(db, now=at)


def sent_mail(outbox: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=default_policy)  # type: ignore[misc]
        for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    ]


def test_roas_below_the_versions_target_fires_once_emails_and_resolves(world: World, outbox: Path) -> None:
    w = world
    rule(w, min_sessions=10)
    w.order(NOW - timedelta(hours=3), _all(w.a2), amount=8000, items=[("prod_shoe", "price_shoe", 8000, 1)])
    w.db.commit()

    [evaluation] = alerts.evaluate(w.db, w.db.exec(select(AlertRule)).one(), now=NOW)
    assert (evaluation.value, evaluation.threshold, evaluation.threshold_source) == (0.8, 2.0, "version targets")
    assert evaluation.verdict == "breached" and evaluation.sessions == 20 and evaluation.orders == 1.0

    summary = run(w.db, NOW)
    assert (summary.fired, summary.emails_sent) == (1, 1)
    [fired] = events(w.db)
    assert fired.kind == "fired" and fired.value == 0.8 and fired.threshold == 2.0 and fired.email_status == "sent"
    assert fired.recipients == sorted({"ops@shop.test", _owner_email(w)})
    [message] = sent_mail(outbox)
    assert message["Subject"] == "[PaidSignal] Spring sale v2: ROAS 0.80× below 2.00×"
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "ROAS 0.80× is below 2.00× over the last 24 hours (20 sessions, 1 order)" in text
    assert "Threshold: below 2.00× (the version's KPI target)" in text
    assert "Value:     0.80× (previous window: 0.00×)" in text
    assert "Window:    2026-05-31 14:00 – 2026-06-01 14:00 (Europe/Paris)" in text
    assert "Volume:    20 sessions, 1 order" in text
    assert "Previous window: 20 sessions, 0 orders, net revenue €0.00, spend €100.00." in text
    assert "Product prod_shoe: net revenue €0.00 → €80.00 (+€80.00)." in text
    assert f"{get_settings().public_url}/campaigns/{w.a.public_id}" in text
    assert f'href="{get_settings().public_url}/campaigns/{w.a.public_id}"' in html and "<table>" in html

    # Still below five minutes later: once per problem, nothing new.
    assert run(w.db, NOW + timedelta(minutes=5)).fired == 0
    assert len(events(w.db)) == 1 and len(sent_mail(outbox)) == 1

    # A 300.00 EUR order: ROAS 3.80 → resolved, with its own e-mail.
    w.order(NOW + timedelta(minutes=7), _all(w.a2), amount=30000)
    w.db.commit()
    summary = run(w.db, NOW + timedelta(minutes=10))
    assert summary.resolved == 1
    resolved = events(w.db, "resolved")[0]
    assert resolved.value == pytest.approx(3.8) and resolved.email_status == "sent"
    assert sent_mail(outbox)[-1]["Subject"] == "[PaidSignal] Resolved: Spring sale v2: ROAS back to 3.80×"
    state = w.db.exec(select(AlertState)).one()
    assert state.status == "ok"


def _owner_email(w: World) -> str:
    from app.models import Membership, User

    return w.db.exec(
        select(User.email).join(Membership).where(Membership.account_id == w.account_id, Membership.role == "owner")
    ).one()


def test_cooldown_holds_back_a_second_firing_once(world: World, outbox: Path) -> None:
    w = world
    rule(w, cooldown_minutes=60)
    order = w.order(NOW - timedelta(hours=1), _all(w.a2), amount=8000)
    w.db.commit()
    assert run(w.db, NOW).fired == 1
    big = w.order(NOW + timedelta(minutes=1), _all(w.a2), amount=30000)
    w.db.commit()
    assert run(w.db, NOW + timedelta(minutes=5)).resolved == 1
    # Both orders are refunded: below again 10 minutes after firing → held back by the cooldown, recorded once.
    w.refund(order, NOW + timedelta(minutes=9), 8000)
    w.refund(big, NOW + timedelta(minutes=9), 30000)
    w.db.commit()
    assert run(w.db, NOW + timedelta(minutes=10)).suppressed == 1
    assert run(w.db, NOW + timedelta(minutes=15)).suppressed == 0
    assert [e.kind for e in events(w.db)] == ["fired", "resolved", "suppressed_cooldown"]
    held = events(w.db, "suppressed_cooldown")[0]
    assert held.email_status == "none" and held.value == pytest.approx(0.0)
    # Past the cooldown (an hour after the first firing) it fires again.
    assert run(w.db, NOW + timedelta(minutes=61)).fired == 1
    assert [e.kind for e in events(w.db)] == ["fired", "resolved", "suppressed_cooldown", "fired"]
    assert len(sent_mail(outbox)) == 3


def test_too_little_volume_is_held_back_once_and_sends_nothing(world: World, outbox: Path) -> None:
    w = world
    rule(w, min_sessions=50)
    w.order(NOW - timedelta(hours=3), _all(w.a2), amount=8000)
    w.db.commit()
    assert run(w.db, NOW).suppressed == 1
    assert run(w.db, NOW + timedelta(minutes=5)).suppressed == 0
    [held] = events(w.db)
    assert held.kind == "suppressed_volume" and held.email_status == "none"
    assert "too little volume to alert (needs ≥ 50 sessions)" in held.summary
    assert sent_mail(outbox) == []


def test_minimum_orders_and_no_spend_read_as_no_data(world: World) -> None:
    w = world
    rule(w, campaign=w.b.public_id, threshold=1.5, min_orders=2)  # B has no spend: ROAS is n/a
    [e] = alerts.evaluate(w.db, w.db.exec(select(AlertRule)).one(), now=NOW)
    assert e.verdict == "no_data" and e.value is None and "no spend recorded" in e.summary
    assert run(w.db, NOW).fired == 0 and events(w.db) == []


def test_conversions_stopped_fires_while_sessions_arrive_and_resolves_on_the_next_order(world: World) -> None:
    w = world
    rule(w, name="Checkout broken?", metric="conversions_stopped", stopped_hours=2, min_sessions=2)
    w.visit(NOW - timedelta(minutes=90), w.a2, "late1")
    w.visit(NOW - timedelta(minutes=30), w.a2, "late2")
    w.db.commit()
    [e] = alerts.evaluate(w.db, w.db.exec(select(AlertRule)).one(), now=NOW)
    assert e.verdict == "breached" and e.sessions == 2
    assert e.summary == "No paid order in the last 2 h while 2 sessions arrived"
    assert run(w.db, NOW).fired == 1
    assert events(w.db)[0].details["subject"] == "[PaidSignal] Spring sale v2: no paid order in 2 h"
    w.order(NOW + timedelta(minutes=2), _all(w.a2), amount=5000)
    w.db.commit()
    assert run(w.db, NOW + timedelta(minutes=5)).resolved == 1
    assert (
        events(w.db)[-1].details["subject"] == "[PaidSignal] Resolved: Spring sale v2: paid orders are coming in again"
    )


def test_change_mode_compares_with_the_previous_window(world: World) -> None:
    w = world
    for hours in (30, 33, 36, 40):  # four orders in the previous window
        w.order(NOW - timedelta(hours=hours), _all(w.a2), amount=5000)
    w.order(NOW - timedelta(hours=2), _all(w.a2), amount=5000)  # one now
    w.db.commit()
    rule(w, name="Orders fell", metric="orders", mode="change", threshold=50)
    [e] = alerts.evaluate(w.db, w.db.exec(select(AlertRule)).one(), now=NOW)
    assert (e.current, e.previous, e.value) == (1.0, 4.0, -75.0) and e.breached
    assert e.summary.startswith("Orders dropped 75.0% (4 → 1) against the previous window; the rule fires at −50%")
    assert alerts.compose(alerts.EventKind.FIRED, _rule(w), e, "Europe/Paris").subject == (
        "[PaidSignal] Spring sale v2: Orders dropped 75%"
    )


def _rule(w: World) -> AlertRule:
    return w.db.exec(select(AlertRule)).one()


def test_what_changed_names_the_new_version_and_the_products(world: World) -> None:
    w = world
    w.a2.published_at = NOW - timedelta(hours=30)  # went live during the previous window
    w.db.add(w.a2)
    w.order(NOW - timedelta(hours=40), _all(w.a1), amount=20000, items=[("prod_bag", "price_bag", 20000, 1)])
    w.order(NOW - timedelta(hours=2), _all(w.a2), amount=5000, items=[("prod_shoe", "price_shoe", 5000, 1)])
    w.db.commit()
    rule(w, threshold=1.0, currency="EUR")
    [e] = alerts.evaluate(w.db, _rule(w), now=NOW)
    published = (NOW - timedelta(hours=30)).strftime("%Y-%m-%d %H:%M")
    assert f"Version 2 went live at {published} UTC." in e.what_changed()
    assert "Version 1: orders 1 → 0, sessions 0 → 0." in e.what_changed()
    assert "Version 2: orders 0 → 1, sessions 20 → 20." in e.what_changed()
    assert e.what_changed()[-2:] == [
        "Product prod_bag: net revenue €200.00 → €0.00 (−€200.00).",
        "Product prod_shoe: net revenue €0.00 → €50.00 (+€50.00).",
    ]


def test_account_wide_rules_cover_each_active_campaign(world: World) -> None:
    w = world
    w.b.status = "paused"
    w.db.add(w.b)
    w.db.commit()
    rule(w, campaign="", metric="conversion_rate")  # A's target: 5 %
    found = alerts.evaluate(w.db, _rule(w), now=NOW)
    assert [(e.campaign_name, e.verdict, e.value) for e in found] == [("Spring sale", "breached", 0.0)]
    previews = alerts.preview_rule(session=w.db, actor=w.actor, data={
        "name": "x", "metric": "cpa", "recipient_roles": ["owner"], "min_sessions": 0}, now=NOW)  # fmt: skip
    # CPA with spend and no order reads as the whole spend (100.00 EUR > the 40.00 EUR target).
    assert [(p.campaign, p.verdict) for p in previews] == [("Spring sale v2", "Would fire")]
    assert previews[0].subject == "[PaidSignal] Spring sale v2: CPA €100.00 above €40.00"
    assert events(w.db) == []  # a preview records nothing


def test_a_target_cpa_in_its_own_currency_without_a_budget_is_the_threshold(world: World) -> None:
    w = world
    w.a2.config = {"targets": {"target_cpa": 4000, "currency": "EUR"}}  # no budget: the target's own currency
    w.db.add(w.a2)
    w.db.commit()
    previews = alerts.preview_rule(session=w.db, actor=w.actor, data={
        "name": "x", "campaign": w.a.public_id, "metric": "cpa", "recipient_roles": ["owner"], "min_sessions": 0},
        now=NOW)  # fmt: skip
    assert [(p.campaign, p.verdict) for p in previews] == [("Spring sale v2", "Would fire")]
    assert previews[0].subject == "[PaidSignal] Spring sale v2: CPA €100.00 above €40.00"


def test_no_threshold_and_no_target_says_how_to_set_one(world: World) -> None:
    w = world
    [preview] = alerts.preview_rule(session=w.db, actor=w.actor, data={
        "name": "x", "campaign": w.b.public_id, "metric": "roas", "recipient_roles": ["owner"]})  # fmt: skip
    assert (
        preview.verdict == "No threshold" and "KPI target on the campaign's live version (min ROAS)" in preview.summary
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"metric": "net_revenue"}, "threshold", "Net revenue needs a threshold"),
        ({"metric": "net_revenue", "threshold": 100}, "currency", "Net revenue is an amount: choose its currency"),
        ({"mode": "change"}, "threshold", "In change mode the threshold is a percentage greater than 0"),
        (
            {"metric": "refund_rate", "threshold": 150},
            "threshold",
            "A rate threshold is a percentage between 0 and 100",
        ),
        ({"recipient_emails": "", "recipient_roles": []}, "recipient_emails", "Choose who gets the e-mail"),
        ({"recipient_emails": "ops@shop, boss@shop.test"}, "recipient_emails", "ops@shop is not an e-mail address"),
        ({"window": "2h"}, "window", "'1h', '24h' or '7d'"),
        ({"metric": "conversions_stopped", "min_orders": 3}, "min_orders", "cannot require a minimum of orders"),
        ({"metric": "conversions_stopped", "mode": "change"}, "mode", "has no change mode"),
        ({"cooldown_minutes": -1}, "cooldown_minutes", "greater than or equal to 0"),
        ({"name": "  "}, "name", "at least 1 character"),
    ],
)
def test_bad_rules_say_what_is_wrong(world: World, fields: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        rule(world, **fields)
    assert message in caught.value.message
    assert caught.value.field == field


def test_rules_belong_to_their_account_and_need_the_marketer_role(world: World, db: Session) -> None:
    w = world
    public_id = rule(w, threshold=1.0)
    other_account, _, other = make_owner(db)
    with pytest.raises(NotFound):
        alerts.rule_form(session=db, account_id=other.account_id, rule_public_id=public_id)
    with pytest.raises(NotFound):
        alerts.delete_rule(session=db, actor=other, rule_public_id=public_id)
    with pytest.raises(NotFound):  # another account's campaign
        data = {"name": "x", "campaign": w.a.public_id, "metric": "orders", "threshold": 1}
        alerts.create_rule(session=db, actor=other, data=data)
    account = db.get(Account, w.account_id)
    assert account is not None
    _, viewer = add_member(db, account, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        alerts.set_enabled(session=db, actor=viewer, rule_public_id=public_id, enabled=False)
    assert alerts.list_rules(session=db, account_id=viewer.account_id)[0].public_id == public_id
    w.order(NOW - timedelta(hours=1), _all(w.a2), amount=1000)
    db.commit()
    run(db, NOW)
    assert alerts.list_events(session=db, account_id=other_account.id or 0).rows == []
    assert len(alerts.list_events(session=db, account_id=w.account_id).rows) == 1


def test_the_refusal_names_the_alert_permission(world: World, db: Session) -> None:
    """It said "Your role (viewer) cannot edit campaigns and pixels" about an alert rule."""
    account = db.get(Account, world.account_id)
    assert account is not None
    _, viewer = add_member(db, account, Role.VIEWER)
    data = {"name": "x", "metric": "orders", "threshold": 1, "recipient_roles": ["owner"]}
    with pytest.raises(PermissionDenied) as refused:
        alerts.create_rule(session=db, actor=viewer, data=data)
    assert refused.value.message.startswith("Your role (viewer) cannot edit alert rules; ask someone with the marketer")


def test_an_alert_email_reads_in_the_accounts_locale(world: World, outbox: Path) -> None:
    w = world
    account = w.db.get(Account, w.account_id)
    assert account is not None
    account.locale = "de_DE"
    w.db.add(account)
    rule(w, name="CPA watch", metric="cpa", threshold=25, currency="EUR")
    w.order(NOW - timedelta(hours=3), _all(w.a2), amount=2044250, items=[("prod_shoe", "price_shoe", 2044250, 1)])
    w.order(NOW - timedelta(hours=2), _all(w.a2), amount=5000)
    w.db.commit()
    assert run(w.db, NOW).fired == 1
    [message] = sent_mail(outbox)
    assert message["Subject"] == "[PaidSignal] Spring sale v2: CPA 50,00\xa0€ above 25,00\xa0€"
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Value:     50,00\xa0€ (previous window: 100,00\xa0€)" in text
    assert "This window: 20 sessions, 2 orders, net revenue 20.492,50\xa0€, spend 100,00\xa0€." in text
    assert "Product prod_shoe: net revenue 0,00\xa0€ → 20.492,50\xa0€ (+20.492,50\xa0€)." in text
    [row] = alerts.list_events(session=w.db, account_id=w.account_id).rows
    assert (row.value, row.threshold) == ("50,00\xa0€", "25,00\xa0€")


def test_what_changed_leaves_out_versions_without_sessions_or_orders(world: World) -> None:
    """A version touched only by an old order's refund read "Version 3: orders 0 → 0, sessions 0 → 0"."""
    w = world
    a3 = w._version(w.a, 3, utc(2026, 2, 1))
    old = w.order(NOW - timedelta(days=20), _all(a3), amount=3000)
    w.refund(old, NOW - timedelta(hours=1), 3000)
    w.order(NOW - timedelta(hours=40), _all(w.a1), amount=20000)
    w.order(NOW - timedelta(hours=2), _all(w.a2), amount=5000)
    w.db.commit()
    rule(w, threshold=1.0, currency="EUR")
    [e] = alerts.evaluate(w.db, _rule(w), now=NOW)
    versions = [line for line in e.what_changed() if line.startswith("Version ") and "went live" not in line]
    assert versions == ["Version 1: orders 1 → 0, sessions 0 → 0.", "Version 2: orders 0 → 1, sessions 20 → 20."]


def test_new_rules_wait_for_a_minimum_volume(world: World) -> None:
    """With no minimum, a handful of sessions alerted; the editor starts a new rule at 100 sessions."""
    w = world
    form = alerts.new_rule_form()
    assert form["min_sessions"] == alerts.DEFAULT_MIN_SESSIONS == 100 and form["min_orders"] == 0
    data = {"name": "ROAS", "campaign": w.a.public_id, "metric": "roas", "recipient_roles": ["owner"]}
    row = alerts.create_rule(session=w.db, actor=w.actor, data=data)
    assert row.volume == "≥ 100 sessions"
    [e] = alerts.evaluate(w.db, _rule(w), now=NOW)  # ROAS 0 with 20 sessions: breached, but too little to tell
    assert e.breached and e.verdict == "low_volume" and "needs ≥ 100 sessions" in e.summary


def test_the_rule_tables_defaults_are_a_new_rules() -> None:
    """A new rule's settings live in the service; the table keeps its column defaults equal to them (a rule stored
    without the service once got no minimum volume while the editor's new rules wait for 100 sessions)."""
    form = alerts.new_rule_form()
    columns = AlertRule.model_fields
    for name in ("mode", "threshold", "currency", "window", "stopped_hours", "min_sessions", "min_orders",
                 "cooldown_minutes", "enabled"):  # fmt: skip
        assert columns[name].default == form[name], name
    assert columns["comparator"].default == form["comparator"] == alerts.DEFAULT_COMPARATOR[form["metric"]]
    for name in ("recipient_roles", "recipient_emails"):
        factory = columns[name].default_factory
        assert factory is not None and factory() == [str(value) for value in form[name]], name
    stored = AlertRule(public_id="alr_defaults", account_id=1, name="ROAS", metric=form["metric"])
    assert (stored.min_sessions, stored.cooldown_minutes, stored.recipient_roles) == (100, 360, ["owner", "admin"])


def test_a_rule_is_not_checked_until_its_first_evaluation(world: World) -> None:
    """A new rule read "OK" right after its test said "Would fire", before the job had ever judged it."""
    w = world
    public_id = rule(w, threshold=1.0, currency="EUR")
    [preview] = alerts.preview_rule(session=w.db, actor=w.actor, data=alerts.rule_form(
        session=w.db, account_id=w.account_id, rule_public_id=public_id), now=NOW)  # fmt: skip
    assert preview.verdict == "Would fire"
    [row] = alerts.list_rules(session=w.db, account_id=w.account_id)
    assert (row.checked, row.firing) == (False, 0)
    run(w.db, NOW)
    [row] = alerts.list_rules(session=w.db, account_id=w.account_id)
    assert (row.checked, row.firing) == (True, 1)
    form = alerts.rule_form(session=w.db, account_id=w.account_id, rule_public_id=public_id)
    row = alerts.update_rule(session=w.db, actor=w.actor, rule_public_id=public_id, data=form | {"threshold": 0.5})
    assert (row.checked, row.firing) == (False, 0)  # a changed rule is judged afresh


def test_editing_a_rule_starts_its_states_over_and_deleting_removes_history(world: World) -> None:
    w = world
    public_id = rule(w, threshold=1.0, currency="EUR")
    w.order(NOW - timedelta(hours=1), _all(w.a2), amount=1000)
    w.db.commit()
    assert run(w.db, NOW).fired == 1
    form = alerts.rule_form(session=w.db, account_id=w.account_id, rule_public_id=public_id)
    assert form["threshold"] == 1.0 and form["campaign"] == w.a.public_id
    row = alerts.update_rule(session=w.db, actor=w.actor, rule_public_id=public_id, data=form | {"name": "Renamed"})
    assert row.name == "Renamed" and row.firing == 0
    [state] = w.db.exec(select(AlertState)).all()
    assert state.status == "ok" and state.last_fired_at == NOW  # judged afresh, but the cooldown still holds
    assert run(w.db, NOW + timedelta(minutes=5)).suppressed == 1  # no second e-mail for a rename
    assert [e.kind for e in events(w.db)] == ["fired", "suppressed_cooldown"]
    alerts.delete_rule(session=w.db, actor=w.actor, rule_public_id=public_id)
    assert events(w.db) == [] and alerts.list_rules(session=w.db, account_id=w.account_id) == []


def test_history_pages_newest_first_and_filters(world: World) -> None:
    w = world
    first = rule(w, name="Orders", metric="orders", threshold=5)
    rule(w, name="Orders 2", metric="orders", threshold=2)
    rule(w, name="Orders 3", metric="orders", threshold=3)
    assert run(w.db, NOW).fired == 3
    for n in range(6):
        w.order(NOW + timedelta(minutes=1 + n), _all(w.a2), amount=100)
    w.db.commit()
    assert run(w.db, NOW + timedelta(minutes=10)).resolved == 3
    page = alerts.list_events(session=w.db, account_id=w.account_id, limit=2)
    assert len(page.rows) == 2 and page.next_cursor
    rest = alerts.list_events(session=w.db, account_id=w.account_id, cursor=page.next_cursor, limit=50)
    everything = page.rows + rest.rows
    assert [r.created_at for r in everything] == sorted((r.created_at for r in everything), reverse=True)
    only = alerts.list_events(session=w.db, account_id=w.account_id, rule_public_id=first, kind="fired")
    assert only.rows and {(r.rule_name, r.kind) for r in only.rows} == {("Orders", "fired")}
    with pytest.raises(ValidationFailed, match="kind must be one of"):
        alerts.list_events(session=w.db, account_id=w.account_id, kind="boom")
    with pytest.raises(ValidationFailed, match="cursor"):
        alerts.list_events(session=w.db, account_id=w.account_id, cursor="nonsense")


@pytest.fixture
def unreachable_smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("EMAIL_BACKEND", "smtp")
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", "9")  # nothing listens: connection refused, a transient failure
    monkeypatch.setenv("SMTP_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("ALERT_EMAIL_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("ALERT_EMAIL_RETRY_SECONDS", "60")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_failed_sends_retry_with_backoff_and_are_recorded(world: World, unreachable_smtp: None) -> None:
    w = world
    rule(w)
    w.order(NOW - timedelta(hours=1), _all(w.a2), amount=1000)
    w.db.commit()
    summary = run(w.db, NOW)
    assert (summary.fired, summary.emails_sent, summary.emails_failed) == (1, 0, 0)
    [event] = events(w.db)
    assert event.email_status == "pending" and event.email_attempts == 1
    assert "127.0.0.1:9" in event.email_error
    first_retry = event.next_email_at
    assert first_retry is not None and timedelta(seconds=59) < first_retry - NOW < timedelta(seconds=120)
    assert run(w.db, NOW + timedelta(seconds=30)).emails_failed == 0  # not due yet
    w.db.refresh(event)
    assert event.email_attempts == 1
    run(w.db, first_retry + timedelta(seconds=1))
    w.db.refresh(event)
    assert event.email_attempts == 2 and event.next_email_at is not None
    assert event.next_email_at - first_retry > timedelta(minutes=3)  # 60 s × 4
    assert run(w.db, event.next_email_at + timedelta(seconds=1)).emails_failed == 1
    w.db.refresh(event)
    assert event.email_status == "failed" and event.email_attempts == 3 and event.next_email_at is None
    assert [a["outcome"] for a in event.details["attempts"]] == ["failed", "failed", "failed"]
    row = alerts.list_events(session=w.db, account_id=w.account_id).rows[0]
    assert row.email_status == "failed" and "127.0.0.1:9" in row.email_error


def test_an_interrupted_send_is_recorded_and_sent_again(world: World, outbox: Path) -> None:
    w = world
    rule(w)
    w.order(NOW - timedelta(hours=1), _all(w.a2), amount=1000)
    w.db.commit()
    alerts.evaluate_rules(w.db, now=NOW)
    [event] = events(w.db)
    event.email_status, event.email_attempts = "sending", 1  # a process died between committing and the answer
    w.db.add(event)
    w.db.commit()
    assert alerts.send_due_emails(w.db, now=NOW) == (1, 0)
    w.db.refresh(event)
    assert event.email_status == "sent" and event.email_attempts == 2
    assert [a["outcome"] for a in event.details["attempts"]] == ["interrupted", "sent"]
    assert len(sent_mail(outbox)) == 1


def _smtp_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def test_alert_email_over_smtp_with_starttls_and_login(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    rule(w)
    w.order(NOW - timedelta(hours=1), _all(w.a2), amount=1000)
    w.db.commit()
    with SmtpServer() as smtp:
        _smtp_settings(monkeypatch, smtp.env())
        try:
            assert run(w.db, NOW).emails_sent == 1
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()
        [delivery] = smtp.deliveries
    assert delivery.tls and delivery.login == smtp.username
    assert sorted(delivery.rcpt_tos) == sorted({"ops@shop.test", _owner_email(w)})
    message = delivery.message
    assert message["Subject"] == "[PaidSignal] Spring sale v2: ROAS 0.10× below 2.00×"
    assert {part.get_content_type() for part in message.walk()} >= {"text/plain", "text/html"}


def test_a_refused_login_fails_at_once_without_retrying(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    rule(w)
    w.order(NOW - timedelta(hours=1), _all(w.a2), amount=1000)
    w.db.commit()
    with SmtpServer() as smtp:
        _smtp_settings(monkeypatch, smtp.env() | {"SMTP_PASSWORD": "wrong"})
        try:
            assert run(w.db, NOW).emails_failed == 1
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()
        assert smtp.deliveries == []
    [event] = events(w.db)
    assert event.email_status == "failed" and event.email_attempts == 1 and "535" in event.email_error


def test_the_cli_runs_the_job_once_under_its_lease_and_records_it(world: World, outbox: Path) -> None:
    from app.cli import evaluate_alerts
    from app.models import JobRun

    w = world
    rule(w, metric="conversions_stopped", stopped_hours=24, min_sessions=1)
    w.visit(utcnow() - timedelta(hours=1), w.a2, "today")  # the CLI judges the real "now"
    w.db.commit()
    account = w.db.get(Account, w.account_id)
    assert account is not None
    said = evaluate_alerts(account.slug)
    assert "1 rule, 1 evaluation, 1 fired" in said and "1 e-mail sent" in said
    [run_row] = w.db.exec(select(JobRun).where(JobRun.job_name == "evaluate_alerts")).all()
    assert run_row.outcome == "ok" and run_row.holder.startswith("cli:") and run_row.detail == said
    assert len(sent_mail(outbox)) == 1


def test_a_paused_campaign_no_longer_counts_as_firing(world: World) -> None:
    w = world
    rule(w, campaign="", threshold=1.0, currency="EUR")
    w.order(NOW - timedelta(hours=1), _all(w.a2), amount=1000)
    w.db.commit()
    assert run(w.db, NOW).fired == 1 and alerts.list_rules(session=w.db, account_id=w.account_id)[0].firing == 1
    w.a.status = "paused"
    w.db.add(w.a)
    w.db.commit()
    run(w.db, NOW + timedelta(minutes=5))
    assert alerts.list_rules(session=w.db, account_id=w.account_id)[0].firing == 0


def test_a_rule_changed_during_its_evaluation_is_not_applied(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    public_id = rule(w, threshold=1.0, currency="EUR")
    w.order(NOW - timedelta(hours=1), _all(w.a2), amount=1000)
    w.db.commit()
    real = alerts.evaluate

    def disabled_meanwhile(*args: Any, **kwargs: Any) -> list[alerts.Evaluation]:
        found = real(*args, **kwargs)
        with Session(w.db.get_bind()) as other:  # the user pauses the rule while it is being judged
            actor = w.actor
            alerts.set_enabled(session=other, actor=actor, rule_public_id=public_id, enabled=False)
        return found

    monkeypatch.setattr(alert_runs, "evaluate", disabled_meanwhile)  # as ``evaluate_rules`` calls it
    assert run(w.db, NOW).fired == 0 and events(w.db) == []


def test_an_unexpected_backend_error_is_retried_and_does_not_stop_the_batch(
    world: World, monkeypatch: pytest.MonkeyPatch, outbox: Path
) -> None:
    w = world
    rule(w, name="one", threshold=1.0, currency="EUR")
    rule(w, name="two", threshold=2.0, currency="EUR")
    w.order(NOW - timedelta(hours=1), _all(w.a2), amount=1000)
    w.db.commit()
    real = alert_delivery.send_email
    calls: list[str] = []

    def flaky(message: Any) -> Any:
        calls.append(message.subject)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(message)

    monkeypatch.setattr(alert_delivery, "send_email", flaky)
    summary = run(w.db, NOW)
    assert (summary.fired, summary.emails_sent, summary.emails_failed) == (2, 1, 0)
    pending = [e for e in events(w.db) if e.email_status == "pending"]
    assert len(pending) == 1 and "No space left on device" in pending[0].email_error
    assert pending[0].next_email_at is not None and pending[0].next_email_at > NOW


def test_an_email_interrupted_at_every_attempt_gives_up(world: World) -> None:
    w = world
    rule(w)
    w.order(NOW - timedelta(hours=1), _all(w.a2), amount=1000)
    w.db.commit()
    alerts.evaluate_rules(w.db, now=NOW)
    [event] = events(w.db)
    event.email_status, event.email_attempts = "sending", get_settings().alert_email_max_attempts
    w.db.add(event)
    w.db.commit()
    assert alerts.send_due_emails(w.db, now=NOW) == (0, 1)
    w.db.refresh(event)
    assert event.email_status == "failed" and "interrupted" in event.email_error
