"""The alerts page's rows, labels and editor fields as plain data: the service's rules, tests and history as the
tables show them (times in the account's zone, a status, colours), the editor's hints, and the editor's text fields
to and from the service's rule data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict

from app import routes
from app.lib.formatting import format_time
from app.services import alerts as alert_service
from app.services.alerts import (
    DEFAULT_COMPARATOR,
    DEFAULT_METRIC,
    DEFAULT_STOPPED_HOURS,
    EVENT_LABELS,
    MONEY_METRICS,
    PROBABILITY_METRICS,
    TARGET_METRICS,
    EventKind,
    Metric,
    Mode,
)
from app.services.errors import ServiceError

# A select item cannot have an empty value: "every active campaign" in the editor, "any" in the history filters.
ALL = "all"
KINDS = [k.value for k in EventKind]
KIND_OPTIONS = [(ALL, "All events"), *[(k.value, EVENT_LABELS[k]) for k in EventKind]]
KIND_COLORS = {
    EventKind.FIRED.value: "red",
    EventKind.RESOLVED.value: "green",
    EventKind.SUPPRESSED_VOLUME.value: "gray",
    EventKind.SUPPRESSED_COOLDOWN.value: "gray",
}
VERDICT_COLORS = {"Would fire": "red", "OK": "green"}
EMAIL_COLORS = {"sent": "green", "pending": "amber", "sending": "blue", "failed": "red"}
# The editor's fields that are plain text or a select's value (the rest: recipient roles and the enabled switch).
TEXT_FIELDS = (
    "name",
    "campaign",
    "metric",
    "comparator",
    "mode",
    "threshold",
    "currency",
    "window",
    "stopped_hours",
    "min_sessions",
    "min_orders",
    "cooldown_minutes",
    "recipient_emails",
)
MIN_SESSIONS_HINT = f"in the window; new rules: {alert_service.DEFAULT_MIN_SESSIONS}, 0: no minimum"


# --- read models ---------------------------------------------------------------------------------------------------


class Option(TypedDict):
    value: str
    label: str


class RuleItem(TypedDict):
    public_id: str
    name: str
    campaign: str
    campaign_url: str  # "" for "Every active campaign"
    metric: str
    condition: str
    window: str
    volume: str
    cooldown: str
    recipients: str
    enabled: bool
    firing: int
    status: str  # firing | ok | unchecked (not evaluated since it was saved) | disabled
    last_event_at: str


class PreviewItem(TypedDict):
    campaign: str
    campaign_url: str
    verdict: str
    color: str
    summary: str
    subject: str
    text: str
    drivers: list[str]


class AttemptItem(TypedDict):
    at: str
    outcome: str
    error: str


class EventItem(TypedDict):
    public_id: str
    created_at: str
    kind: str
    kind_label: str
    color: str
    rule_public_id: str
    rule_name: str
    campaign: str
    campaign_url: str
    metric: str
    value: str
    threshold: str
    summary: str
    email_status: str
    email_label: str
    email_attempts: int
    email_error: str
    recipients: str
    attempts: list[AttemptItem]


def _campaign_url(public_id: str) -> str:
    return routes.campaign_url(public_id) if public_id else ""


def rule_item(row: alert_service.RuleRow, timezone: str) -> RuleItem:
    return RuleItem(
        public_id=row.public_id,
        name=row.name,
        campaign=row.campaign,
        campaign_url=_campaign_url(row.campaign_public_id),
        metric=row.metric,
        condition=row.condition,
        window=row.window,
        volume=row.volume,
        cooldown=row.cooldown,
        recipients=row.recipients,
        enabled=row.enabled,
        firing=row.firing,
        status=rule_status(row),
        last_event_at=format_time(row.last_event_at, timezone),
    )


def rule_status(row: alert_service.RuleRow) -> str:
    """firing | ok | unchecked | disabled."""
    if not row.enabled:
        return "disabled"
    if row.firing:
        return "firing"
    # A test says "Would fire" before the rule ever ran: "OK" would contradict it until the job judges it.
    return "ok" if row.checked else "unchecked"


def preview_item(preview: alert_service.Preview) -> PreviewItem:
    return PreviewItem(
        campaign=preview.campaign,
        campaign_url=_campaign_url(preview.campaign_public_id),
        verdict=preview.verdict,
        color=VERDICT_COLORS.get(preview.verdict, "gray"),
        summary=preview.summary,
        subject=preview.subject,
        text=preview.text,
        drivers=list(preview.drivers),
    )


def _attempt_time(text: str, timezone: str) -> str:
    try:
        return format_time(datetime.fromisoformat(text), timezone, seconds=True)
    except (TypeError, ValueError):
        return text


def _attempts(count: int) -> str:
    return f"{count} attempt{'s' if count != 1 else ''}"


def email_label(row: alert_service.EventRow) -> str:
    """What the e-mail column says: sent, pending (with the attempts so far), failed, or nothing to send."""
    if row.email_status == "pending":
        return f"pending · {_attempts(row.email_attempts)}" if row.email_attempts else "pending"
    if row.email_status == "failed":
        return f"failed after {_attempts(row.email_attempts)}"
    if row.email_status == "none":
        return "not e-mailed" if row.email_error else "—"
    return row.email_status


def event_item(row: alert_service.EventRow, timezone: str) -> EventItem:
    return EventItem(
        public_id=row.public_id,
        created_at=format_time(row.created_at, timezone),
        kind=row.kind,
        kind_label=row.kind_label,
        color=KIND_COLORS.get(row.kind, "gray"),
        rule_public_id=row.rule_public_id,
        rule_name=row.rule_name,
        campaign=row.campaign,
        campaign_url=_campaign_url(row.campaign_public_id),
        metric=row.metric,
        value=row.value,
        threshold=row.threshold,
        summary=row.summary,
        email_status=row.email_status,
        email_label=email_label(row),
        email_attempts=row.email_attempts,
        email_error=row.email_error,
        recipients=", ".join(row.recipients),
        attempts=[
            AttemptItem(
                at=_attempt_time(str(a.get("at", "")), timezone),
                outcome=str(a.get("outcome", "")),
                error=str(a.get("error", "")),
            )
            for a in row.attempts
        ],
    )


def options(menus: Mapping[str, list[tuple[str, str]]], name: str) -> list[Option]:
    """One of the service's editor menus (``alerts.choices``) as select options; an empty value reads ``ALL``."""
    return [Option(value=value or ALL, label=label) for value, label in menus.get(name, [])]


# --- the editor ----------------------------------------------------------------------------------------------------


def error_field(error: ServiceError) -> str:
    """The editor field a refusal is about (``recipient_roles.0`` → ``recipients``), else "" (shown above the
    form)."""
    if not error.field:
        return ""
    name = error.field.split(".", 1)[0]
    return "recipients" if name in {"recipient_roles", "recipient_emails"} else name


def uses_currency(metric: str) -> bool:
    """Money metrics need a currency for their amount; ROAS and refund rate may pick one (else the main one)."""
    return metric in {m.value for m in (*MONEY_METRICS, Metric.ROAS, Metric.REFUND_RATE)}


def threshold_label(metric: str, mode: str) -> str:
    if mode == Mode.CHANGE.value:
        return "Change (%)"
    if metric in {m.value for m in PROBABILITY_METRICS}:
        return "Probability % (optional)"
    return "Threshold (optional)" if metric in {m.value for m in TARGET_METRICS} else "Threshold"


def threshold_hint(metric: str, mode: str, currency: str) -> str:
    """The unit of the threshold field, for the chosen metric and mode."""
    if mode == Mode.CHANGE.value:
        return "% change against the previous window of the same length, e.g. 30"
    currency = currency.strip().upper() or "currency"
    hints = {
        Metric.ROAS.value: "ROAS, e.g. 2.0",
        Metric.CPA.value: f"{currency} amount, e.g. 25.00",
        Metric.CONVERSION_RATE.value: "% e.g. 1.5",
        Metric.NET_REVENUE.value: f"{currency} amount, e.g. 500",
        Metric.REFUND_RATE.value: "% e.g. 5",
        Metric.ORDERS.value: "orders, e.g. 3",
        Metric.VERSION_UNDERPERFORMS.value: (
            "% e.g. 95: how sure that the version before was better (conversion rate or net revenue per session). "
            "Leave empty: uses the account's winner probability"
        ),
        Metric.PLATFORM_OVER_REPORTING.value: "% more purchases claimed by Meta/Google than paid, e.g. 30",
    }
    hint = hints.get(metric, "")
    if metric in {m.value for m in TARGET_METRICS}:
        hint += ". Leave empty: uses the version's KPI target"
    return hint


def currency_hint(metric: str) -> str:
    if metric in {m.value for m in MONEY_METRICS}:
        return "ISO code, e.g. EUR: the threshold's currency"
    return "ISO code, e.g. EUR; empty: the campaign's main currency"


def _number_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class EditorValues(TypedDict):
    """The editor's controls: ``fields`` by the names in ``TEXT_FIELDS`` (as text), the ticked roles, the switch."""

    fields: dict[str, str]
    roles: list[str]
    enabled: bool


def editor_values(data: Mapping[str, Any]) -> EditorValues:
    """A rule's data (``alerts.rule_form``, or ``alerts.new_rule_form`` for what it leaves out) as the editor's
    controls."""
    values = {**alert_service.new_rule_form(), **data}
    metric = str(values["metric"] or DEFAULT_METRIC)
    fields = {
        "name": str(values.get("name") or ""),
        "campaign": str(values["campaign"] or "") or ALL,
        "metric": metric,
        "comparator": str(values["comparator"] or DEFAULT_COMPARATOR[Metric(metric)]),
        "mode": str(values["mode"] or alert_service.DEFAULT_MODE),
        "threshold": _number_text(values["threshold"]),
        "currency": str(values["currency"] or ""),
        "window": str(values["window"] or alert_service.DEFAULT_WINDOW),
        "recipient_emails": ", ".join(str(e) for e in values["recipient_emails"]),
    }
    for name in ("stopped_hours", "min_sessions", "min_orders", "cooldown_minutes"):
        fields[name] = _number_text(values[name])
    return EditorValues(
        fields=fields, roles=[str(r) for r in values["recipient_roles"]], enabled=bool(values["enabled"])
    )


def rule_data(fields: Mapping[str, str], roles: list[str], enabled: bool) -> dict[str, Any]:
    """The editor's controls as the service's rule data: empty numbers are "none" (no minimum, no cooldown), an
    empty threshold is None (the KPI target); everything else is parsed and checked by the service."""

    def count(text: str) -> str | int:
        return text.strip() or 0

    metric = fields["metric"]
    is_stopped = metric == Metric.CONVERSIONS_STOPPED.value
    stopped_hours = fields["stopped_hours"].strip()
    return {
        # The service checks the length before it strips: a blank name would pass as "".
        "name": fields["name"].strip(),
        "campaign": "" if fields["campaign"] == ALL else fields["campaign"],
        "metric": metric,
        "comparator": None if is_stopped else fields["comparator"],
        "mode": Mode.VALUE.value if is_stopped else fields["mode"],
        "threshold": None if is_stopped else (fields["threshold"].strip().replace(",", ".") or None),
        "currency": fields["currency"] if uses_currency(metric) else "",
        "window": fields["window"],
        "stopped_hours": stopped_hours if is_stopped else (stopped_hours or DEFAULT_STOPPED_HOURS),
        "min_sessions": count(fields["min_sessions"]),
        "min_orders": 0 if is_stopped else count(fields["min_orders"]),
        "cooldown_minutes": count(fields["cooldown_minutes"]),
        "recipient_roles": list(roles),
        "recipient_emails": fields["recipient_emails"],
        "enabled": enabled,
    }
