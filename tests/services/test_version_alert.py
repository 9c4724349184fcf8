"""The alert condition "the live version underperforms the one before with 95 % probability": judged over the
versions' aligned windows with the same statistics as the campaign page, the account's winner probability when the
rule names none, its e-mail, and its refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from app.models import AlertRule
from app.services import accounts, alerts, rollups
from app.services.errors import ValidationFailed
from app.services.metrics import confidence
from tests.utils.world import World, all_models, utc

NOW = utc(2026, 6, 1, 12)


def _shop(db: Session, *, v1: tuple[int, int], v2: tuple[int, int]) -> World:
    """Campaign A, live version v2: ``v1`` = (sessions, converted) on Jan 5, ``v2`` likewise on Mar 12."""
    w = World(db)
    w.a.active_version_id = w.a2.id
    for version, day, (sessions, converted) in ((w.a1, utc(2026, 1, 5, 10), v1), (w.a2, utc(2026, 3, 12, 10), v2)):
        for i in range(sessions):
            key = w.visit(day + timedelta(seconds=i), version, f"{version.number}-{i}")
            if i < converted:
                w.order(day + timedelta(seconds=i, minutes=10), all_models(version), amount=5_000, session=key)
    db.add(w.a)
    db.commit()
    rollups.rebuild(db, w.account_id)
    db.commit()
    return w


def _rule(w: World, **fields: Any) -> AlertRule:
    data = {"name": "New version worse", "campaign": w.a.public_id, "metric": "version_underperforms",
            "recipient_emails": "ops@shop.test"}  # fmt: skip
    public_id = alerts.create_rule(session=w.db, actor=w.actor, data=data | fields).public_id
    w.db.commit()
    return w.db.exec(select(AlertRule).where(AlertRule.public_id == public_id)).one()


def test_a_worse_live_version_fires_with_the_accounts_threshold(db: Session, outbox: Path) -> None:
    w = _shop(db, v1=(300, 30), v2=(300, 10))
    rule = _rule(w)
    assert alerts.condition_text(rule) == (
        "The live version underperforms the one before with at least the account's winner probability"
    )
    [e] = alerts.evaluate(db, rule, now=NOW)
    expected = (1 - confidence.probability_b_beats_a(30, 300, 10, 300)) * 100
    # The highest of the measures: conversion rate (exact) and net revenue per session in EUR (bootstrap).
    assert e.value is not None and e.value >= expected - 1e-9 and e.value > 99.9
    assert (e.threshold, e.threshold_source, e.verdict) == (95.0, "account winner probability", "breached")
    assert (e.version_number, e.sessions, e.orders) == (2, 300, 10)
    assert e.summary.startswith("v2 underperforms v1 on ")
    assert "(the rule fires at 95.0%) over v2's first 68 days (300 sessions, 10 orders)" in e.summary

    summary = alerts.run_evaluation(db, now=NOW)
    assert summary.fired == 1
    [path] = sorted(outbox.glob("*.eml"))
    text = path.read_text()
    assert "Spring sale v2: underperforms the version before (" in text
    assert "v1 is the winner: better on conversion rate" in text and "one after another" in text
    assert "at least 95.0% probability (account winner probability)" in text


def test_a_rule_of_its_own_and_a_close_call(db: Session) -> None:
    w = _shop(db, v1=(300, 20), v2=(300, 18))
    rule = _rule(w, threshold=80)
    assert (
        alerts.condition_text(rule) == "The live version underperforms the one before with at least 80.0% probability"
    )
    [e] = alerts.evaluate(db, rule, now=NOW)
    assert e.verdict == "ok" and e.value is not None and 50 < e.value < 80
    assert e.summary.startswith("v2 against v1: v1 better on ")
    # The account's threshold moves rules that name none.
    accounts.set_winner_probability(session=db, actor=w.actor, percent=60)
    db.commit()
    [e] = alerts.evaluate(db, _rule(w, name="account's"), now=NOW)
    assert (e.threshold, e.verdict) == (60.0, "breached")


def test_too_little_volume_and_a_single_version(db: Session) -> None:
    w = _shop(db, v1=(30, 10), v2=(30, 0))
    [e] = alerts.evaluate(db, _rule(w), now=NOW)  # the default minimum: 100 sessions in the live version's window
    assert e.breached and e.verdict == "low_volume" and "too little volume" in e.summary
    w.a.active_version_id = w.b1.id
    [e] = alerts.evaluate(db, _rule(w, campaign=w.b.public_id, name="B"), now=NOW)
    assert e.verdict == "no_data" and e.summary == "Search: one version only, nothing to compare yet"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"threshold": 40}, "threshold", "between 51 and 99.9"),
        ({"threshold": 100}, "threshold", "between 51 and 99.9"),
        ({"mode": "change", "threshold": 30}, "mode", "has no change mode"),
    ],
)
def test_bad_rules_say_what_is_wrong(db: Session, fields: dict[str, Any], field: str, message: str) -> None:
    w = World(db)
    with pytest.raises(ValidationFailed) as caught:
        _rule(w, **fields)
    assert message in caught.value.message and caught.value.field == field
