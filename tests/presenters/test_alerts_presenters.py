"""The alerts page's presentation without Reflex: rule status, the e-mail column, history rows in the account's time
zone, the editor's hints, and the editor's fields to and from the service's rule data."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.presenters import alerts as present
from app.services import alerts
from app.services.errors import ValidationFailed

AT = datetime(2026, 6, 1, 10, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _rule_row(**changes: Any) -> alerts.RuleRow:
    fields: dict[str, Any] = {
        "public_id": "alr_1", "name": "ROAS", "campaign": "Every active campaign", "campaign_public_id": "",
        "metric": "ROAS", "condition": "ROAS below 2.00", "window": "last 24 hours", "volume": "any",
        "cooldown": "6 h", "recipients": "owners", "enabled": True, "firing": 0, "last_event_at": None,
        "checked": False,
    }  # fmt: skip
    return alerts.RuleRow(**{**fields, **changes})


def _event_row(**changes: Any) -> alerts.EventRow:
    fields: dict[str, Any] = {
        "public_id": "ale_1", "created_at": AT, "kind": "fired", "kind_label": "Fired", "rule_public_id": "alr_1",
        "rule_name": "ROAS", "campaign": "Spring sale v2", "campaign_public_id": "cmp_1", "metric": "ROAS",
        "value": "0.80", "threshold": "2.00", "summary": "ROAS 0.80 is below 2.00", "email_status": "sent",
        "email_attempts": 1, "email_error": "", "recipients": ["a@shop.test", "b@shop.test"],
        "attempts": [{"at": AT.isoformat(), "outcome": "sent", "error": ""}, {"at": "not a time", "outcome": "x"}],
    }  # fmt: skip
    return alerts.EventRow(**{**fields, **changes})


def test_presenters_do_not_need_reflex() -> None:
    code = "import sys, app.presenters.alerts; print(sorted(m for m in sys.modules if m.split('.')[0] == 'reflex'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_rules_status_says_whether_it_was_checked() -> None:
    assert present.rule_status(_rule_row()) == "unchecked"
    assert present.rule_status(_rule_row(checked=True)) == "ok"
    assert present.rule_status(_rule_row(checked=True, firing=2)) == "firing"
    assert present.rule_status(_rule_row(firing=2, enabled=False)) == "disabled"
    item = present.rule_item(_rule_row(campaign_public_id="cmp_1", last_event_at=AT), "Europe/Paris")
    assert (item["campaign_url"], item["last_event_at"]) == ("/campaigns/cmp_1", "2026-06-01 12:30")
    assert present.rule_item(_rule_row(), "UTC")["campaign_url"] == ""


def test_history_rows_in_the_accounts_zone_with_the_email_column() -> None:
    item = present.event_item(_event_row(), "Europe/Paris")
    assert (item["created_at"], item["color"], item["recipients"]) == (
        "2026-06-01 12:30",
        "red",
        "a@shop.test, b@shop.test",
    )
    assert [a["at"] for a in item["attempts"]] == ["2026-06-01 12:30:00", "not a time"]
    assert item["email_label"] == "sent"
    label = present.email_label
    assert label(_event_row(email_status="pending", email_attempts=0)) == "pending"
    assert label(_event_row(email_status="pending", email_attempts=2)) == "pending · 2 attempts"
    assert label(_event_row(email_status="failed", email_attempts=1)) == "failed after 1 attempt"
    assert label(_event_row(email_status="none")) == "—"
    assert label(_event_row(email_status="none", email_error="No recipients")) == "not e-mailed"


def test_the_editors_hints_follow_the_metric_and_mode() -> None:
    assert present.threshold_label("roas", "value") == "Threshold (optional)"
    assert present.threshold_label("orders", "value") == "Threshold"
    assert present.threshold_label("orders", "change") == "Change (%)"
    assert (
        present.threshold_hint("cpa", "value", " eur")
        == "EUR amount, e.g. 25.00. Leave empty: uses the version's KPI target"
    )
    assert present.threshold_hint("net_revenue", "value", "") == "currency amount, e.g. 500"
    assert (
        present.threshold_hint("roas", "change", "")
        == "% change against the previous window of the same length, e.g. 30"
    )
    assert present.uses_currency("refund_rate") and not present.uses_currency("orders")
    assert present.currency_hint("cpa").endswith("the threshold's currency")
    error = ValidationFailed("at most 20 addresses", field="recipient_roles.0")
    assert present.error_field(error) == "recipients"
    assert present.error_field(ValidationFailed("no")) == ""


def test_a_new_rule_in_the_editor_is_the_services_new_rule() -> None:
    values = present.editor_values(alerts.new_rule_form())
    assert values == present.editor_values({})
    fields = values["fields"]
    assert (fields["metric"], fields["comparator"], fields["campaign"]) == ("roas", "below", present.ALL)
    assert (fields["min_sessions"], fields["cooldown_minutes"], fields["stopped_hours"]) == ("100", "360", "6")
    assert (values["roles"], values["enabled"]) == (["owner", "admin"], True)
    data = present.rule_data({**fields, "name": "  ROAS  "}, values["roles"], values["enabled"])
    parsed = alerts.parse_rule(data)
    assert (parsed.name, parsed.campaign, parsed.min_sessions, parsed.threshold) == ("ROAS", "", 100, None)


def test_a_saved_rule_goes_through_the_editor_unchanged() -> None:
    saved = {
        "name": "Stopped", "campaign": "cmp_1", "metric": "conversions_stopped", "comparator": "below",
        "mode": "value", "threshold": None, "currency": "", "window": "24h", "stopped_hours": 4, "min_sessions": 5,
        "min_orders": 0, "cooldown_minutes": 0, "recipient_roles": ["viewer"], "recipient_emails": ["x@shop.test"],
        "enabled": False,
    }  # fmt: skip
    values = present.editor_values(saved)
    assert values["fields"]["recipient_emails"] == "x@shop.test" and values["fields"]["cooldown_minutes"] == "0"
    data = present.rule_data(values["fields"], values["roles"], values["enabled"])
    assert data == {**saved, "comparator": None, "stopped_hours": "4", "min_sessions": "5",
                    "cooldown_minutes": "0", "recipient_emails": "x@shop.test"}  # fmt: skip
    cpa = present.editor_values({**saved, "metric": "cpa", "comparator": None, "threshold": 25.0, "min_orders": 2})
    assert (cpa["fields"]["comparator"], cpa["fields"]["threshold"]) == ("above", "25")
    changed = {**cpa["fields"], "threshold": "25,5", "stopped_hours": " ", "min_orders": ""}
    data = present.rule_data(changed, [], True)
    assert (data["threshold"], data["stopped_hours"], data["min_orders"]) == ("25.5", 6, 0)
