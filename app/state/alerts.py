"""Alerts: the rules (list, editor with "Test this rule now", enable, delete) and their history (filters in the URL,
"Load more" through the service's cursor).

Every change goes through app.services.alerts, which checks the role; the page only hides the controls. A refused
save names the field it is about, and the editor shows the message next to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypedDict, TypeVar

import reflex as rx
from sqlmodel import Session

from app import routes
from app.db import session_scope
from app.services import alerts as alert_service
from app.services.alerts import DEFAULT_COMPARATOR, MONEY_METRICS, TARGET_METRICS, EventKind, Metric, Mode
from app.services.alerts import DEFAULT_MIN_SESSIONS as DEFAULT_MIN_SESSIONS
from app.services.alerts import EVENT_LABELS as EVENT_LABELS
from app.services.errors import ServiceError
from app.state.base import AppState, next_page
from app.state.format import format_time
from app.state.toasts import toast

T = TypeVar("T")

PAGE_SIZE = 50
# A select item cannot have an empty value: "every active campaign" in the editor, "any" in the history filters.
ALL = "all"
KINDS = [k.value for k in EventKind]
KIND_COLORS = {
    EventKind.FIRED.value: "red",
    EventKind.RESOLVED.value: "green",
    EventKind.SUPPRESSED_VOLUME.value: "gray",
    EventKind.SUPPRESSED_COOLDOWN.value: "gray",
}
VERDICT_COLORS = {"Would fire": "red", "OK": "green"}
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
NEW_RULE_NAME = "New alert"


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


def rule_item(row: alert_service.RuleRow, timezone: str) -> RuleItem:
    return RuleItem(
        public_id=row.public_id,
        name=row.name,
        campaign=row.campaign,
        campaign_url=routes.campaign_url(row.campaign_public_id) if row.campaign_public_id else "",
        metric=row.metric,
        condition=row.condition,
        window=row.window,
        volume=row.volume,
        cooldown=row.cooldown,
        recipients=row.recipients,
        enabled=row.enabled,
        firing=row.firing,
        status=_status(row),
        last_event_at=format_time(row.last_event_at, timezone),
    )


def _status(row: alert_service.RuleRow) -> str:
    if not row.enabled:
        return "disabled"
    if row.firing:
        return "firing"
    # A test says "Would fire" before the rule ever ran: "OK" would contradict it until the job judges it.
    return "ok" if row.checked else "unchecked"


def preview_item(preview: alert_service.Preview) -> PreviewItem:
    return PreviewItem(
        campaign=preview.campaign,
        campaign_url=routes.campaign_url(preview.campaign_public_id) if preview.campaign_public_id else "",
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
        campaign_url=routes.campaign_url(row.campaign_public_id) if row.campaign_public_id else "",
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


def _filters_url(*, rule: str = "", kind: str = "") -> str:
    return routes.alerts_url(rule="" if rule == ALL else rule, kind="" if kind == ALL else kind)


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


def _number_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class AlertsState(AppState):
    # Rules.
    rules: list[RuleItem] = []
    loaded: bool = False
    error: str = ""

    # The editor's menus.
    metric_options: list[Option] = []
    comparator_options: list[Option] = []
    mode_options: list[Option] = []
    window_options: list[Option] = []
    role_options: list[Option] = []
    campaign_options: list[Option] = []

    # The editor (a dialog): controlled fields, as text until the service parses them.
    editor_open: bool = False
    editing_id: str = ""  # "" while creating
    form_name: str = ""
    form_campaign: str = ALL
    form_metric: str = Metric.ROAS.value
    form_comparator: str = DEFAULT_COMPARATOR[Metric.ROAS].value
    form_mode: str = Mode.VALUE.value
    form_threshold: str = ""
    form_currency: str = ""
    form_window: str = "24h"
    form_stopped_hours: str = "6"
    form_min_sessions: str = "0"
    form_min_orders: str = "0"
    form_cooldown_minutes: str = "360"
    form_recipient_emails: str = ""
    form_roles: list[str] = ["owner", "admin"]
    form_enabled: bool = True
    form_error: str = ""  # a refusal that is about no single field
    field_error: str = ""
    error_field: str = ""
    saving: bool = False

    # "Test this rule now".
    previews: list[PreviewItem] = []
    preview_error: str = ""
    previewing: bool = False
    preview_stale: bool = False

    # History.
    events: list[EventItem] = []
    events_loaded: bool = False
    events_error: str = ""
    next_cursor: str = ""
    loading_more: bool = False
    events_total: int = 0
    rule_filter: str = ALL
    kind_filter: str = ALL
    expanded_id: str = ""

    # --- derived ------------------------------------------------------------------------------------------------

    @rx.var
    def editor_title(self) -> str:
        return "Edit alert rule" if self.editing_id else "New alert rule"

    @rx.var
    def is_stopped(self) -> bool:
        return self.form_metric == Metric.CONVERSIONS_STOPPED.value

    @rx.var
    def is_change(self) -> bool:
        return self.form_mode == Mode.CHANGE.value

    @rx.var
    def shows_currency(self) -> bool:
        return uses_currency(self.form_metric)

    @rx.var
    def threshold_label(self) -> str:
        if self.form_mode == Mode.CHANGE.value:
            return "Change (%)"
        return "Threshold (optional)" if self.form_metric in {m.value for m in TARGET_METRICS} else "Threshold"

    @rx.var
    def threshold_hint(self) -> str:
        """The unit of the threshold field, for the chosen metric and mode."""
        if self.form_mode == Mode.CHANGE.value:
            return "% change against the previous window of the same length, e.g. 30"
        currency = self.form_currency.strip().upper() or "currency"
        hints = {
            Metric.ROAS.value: "ROAS, e.g. 2.0",
            Metric.CPA.value: f"{currency} amount, e.g. 25.00",
            Metric.CONVERSION_RATE.value: "% e.g. 1.5",
            Metric.NET_REVENUE.value: f"{currency} amount, e.g. 500",
            Metric.REFUND_RATE.value: "% e.g. 5",
            Metric.ORDERS.value: "orders, e.g. 3",
        }
        hint = hints.get(self.form_metric, "")
        if self.form_metric in {m.value for m in TARGET_METRICS}:
            hint += ". Leave empty: uses the version's KPI target"
        return hint

    @rx.var
    def currency_hint(self) -> str:
        if self.form_metric in {m.value for m in MONEY_METRICS}:
            return "ISO code, e.g. EUR: the threshold's currency"
        return "ISO code, e.g. EUR; empty: the campaign's main currency"

    @rx.var
    def filtered(self) -> bool:
        return self.rule_filter != ALL or self.kind_filter != ALL

    @rx.var
    def has_more(self) -> bool:
        return self.next_cursor != ""

    @rx.var
    def events_shown(self) -> int:
        return len(self.events)

    # --- service calls ------------------------------------------------------------------------------------------

    def _call(self, action: Callable[[Session], T]) -> tuple[T | None, ServiceError | None]:
        """Like ``_run``, but keeps the whole error: the editor needs its field."""
        try:
            with session_scope() as session:
                return action(session), None
        except ServiceError as error:
            return None, error

    def _account_id(self, session: Session) -> int:
        return self._actor(session).account_id

    def _load_rules(self) -> None:
        def load(s: Session) -> tuple[list[alert_service.RuleRow], dict[str, list[tuple[str, str]]]]:
            account_id = self._account_id(s)
            return (
                alert_service.list_rules(session=s, account_id=account_id),
                alert_service.choices(session=s, account_id=account_id),
            )

        result, error = self._run(load)
        self.loaded = True
        if error or result is None:
            self.rules, self.error = [], error or "The alert rules could not be loaded."
            return
        rows, menus = result
        self.error = ""
        self.rules = [rule_item(row, self.account_timezone) for row in rows]

        def options(name: str) -> list[Option]:
            return [Option(value=value or ALL, label=label) for value, label in menus.get(name, [])]

        self.metric_options, self.comparator_options = options("metric"), options("comparator")
        self.mode_options, self.window_options = options("mode"), options("window")
        self.role_options, self.campaign_options = options("role"), options("campaign")

    def _events_page(self, cursor: str | None) -> tuple[alert_service.EventPage | None, str | None]:
        rule = "" if self.rule_filter == ALL else self.rule_filter
        kind = "" if self.kind_filter == ALL else self.kind_filter
        return self._run(
            lambda s: alert_service.list_events(
                session=s, account_id=self._account_id(s), rule_public_id=rule, kind=kind, cursor=cursor,
                limit=PAGE_SIZE,
            )
        )  # fmt: skip

    def _load_events(self) -> None:
        found, error = self._events_page(None)
        self.events_loaded, self.expanded_id = True, ""
        if error or found is None:
            self.events, self.next_cursor, self.events_total = [], "", 0
            self.events_error = error or "The alert history could not be loaded."
            return
        self.events_error = ""
        self.events = [event_item(row, self.account_timezone) for row in found.rows]
        self.next_cursor, self.events_total = found.next_cursor or "", found.total

    @rx.event
    def load_alerts(self) -> None:
        """on_load of /alerts: the rules, the editor's menus and the history (?rule=&kind= from the URL; unknown
        values are ignored)."""
        self.editor_open, self.expanded_id = False, ""
        self._load_rules()
        params = self.router.url.query_parameters
        rule, kind = str(params.get("rule", "")), str(params.get("kind", ""))
        self.rule_filter = rule if rule in {r["public_id"] for r in self.rules} else ALL
        self.kind_filter = kind if kind in KINDS else ALL
        self._load_events()

    # --- history ------------------------------------------------------------------------------------------------

    @rx.event
    def load_more(self) -> Iterator[Any]:
        """Append the next page."""
        yield from next_page(self, self._events_page, self._append, "history")

    def _append(self, found: alert_service.EventPage) -> None:
        self.events = [*self.events, *(event_item(row, self.account_timezone) for row in found.rows)]
        self.next_cursor, self.events_total = found.next_cursor or "", found.total

    @rx.event
    def filter_rule(self, rule: str) -> Any:
        known = {r["public_id"] for r in self.rules}
        return rx.redirect(_filters_url(rule=rule if rule in known else "", kind=self.kind_filter))

    @rx.event
    def filter_kind(self, kind: str) -> Any:
        return rx.redirect(_filters_url(rule=self.rule_filter, kind=kind if kind in KINDS else ""))

    @rx.event
    def clear_filters(self) -> Any:
        return rx.redirect(routes.ALERTS)

    @rx.event
    def toggle_event(self, event_public_id: str) -> None:
        """Show or hide one history entry's e-mail details (recipients, attempts, errors)."""
        self.expanded_id = "" if self.expanded_id == event_public_id else str(event_public_id)

    # --- rule actions -------------------------------------------------------------------------------------------

    @rx.event
    def set_rule_enabled(self, rule_public_id: str, enabled: bool) -> Any:
        row, error = self._run(
            lambda s: alert_service.set_enabled(
                session=s, actor=self._actor(s), rule_public_id=str(rule_public_id), enabled=bool(enabled)
            )
        )
        self._load_rules()
        if error or row is None:
            return toast.error(error or "The rule could not be changed.")
        return toast.success(f"{row.name} {'enabled' if row.enabled else 'disabled: it is not evaluated'}.")

    @rx.event
    def delete_rule(self, rule_public_id: str) -> Any:
        """Delete a rule and its history (the page asks first)."""
        _, error = self._run(
            lambda s: alert_service.delete_rule(session=s, actor=self._actor(s), rule_public_id=str(rule_public_id))
        )
        if error:
            return toast.error(error)
        self._load_rules()
        if self.rule_filter == rule_public_id:
            return [toast.success("Rule and its history deleted."), rx.redirect(_filters_url(kind=self.kind_filter))]
        self._load_events()
        return toast.success("Rule and its history deleted.")

    # --- the editor ---------------------------------------------------------------------------------------------

    def _clear_errors(self) -> None:
        self.form_error = self.field_error = self.error_field = ""

    def _fill(self, data: dict[str, Any]) -> None:
        self.form_name = str(data.get("name") or "")
        self.form_campaign = str(data.get("campaign") or "") or ALL
        self.form_metric = str(data.get("metric") or Metric.ROAS.value)
        self.form_comparator = str(data.get("comparator") or DEFAULT_COMPARATOR.get(Metric(self.form_metric), "below"))
        self.form_mode = str(data.get("mode") or Mode.VALUE.value)
        self.form_threshold = _number_text(data.get("threshold"))
        self.form_currency = str(data.get("currency") or "")
        self.form_window = str(data.get("window") or "24h")
        self.form_stopped_hours = _number_text(data.get("stopped_hours", 6))
        self.form_min_sessions = _number_text(data.get("min_sessions", 0))
        self.form_min_orders = _number_text(data.get("min_orders", 0))
        self.form_cooldown_minutes = _number_text(data.get("cooldown_minutes", 360))
        self.form_roles = [str(r) for r in data.get("recipient_roles", ["owner", "admin"])]
        self.form_recipient_emails = ", ".join(str(e) for e in data.get("recipient_emails", []))
        self.form_enabled = bool(data.get("enabled", True))

    def _open_editor(self, rule_public_id: str, data: dict[str, Any]) -> None:
        self._fill(data)
        self.editing_id, self.editor_open = rule_public_id, True
        self._clear_errors()
        self.previews, self.preview_error, self.preview_stale = [], "", False

    @rx.event
    def new_rule(self) -> Any:
        """Open the editor for a new rule (ROAS below the version's KPI target, for every active campaign)."""
        if not self.can_edit_marketing:
            return toast.error("Your role can look at alerts; a marketer, an admin or the owner edits them.")
        self._open_editor("", alert_service.new_rule_form())
        return None

    @rx.event
    def edit_rule(self, rule_public_id: str) -> Any:
        data, error = self._run(
            lambda s: alert_service.rule_form(
                session=s, account_id=self._account_id(s), rule_public_id=str(rule_public_id)
            )
        )
        if error or data is None:
            self._load_rules()
            return toast.error(error or "This rule could not be opened.")
        self._open_editor(str(rule_public_id), data)
        return None

    @rx.event
    def set_editor_open(self, is_open: bool) -> None:
        if not is_open:
            self.editor_open, self.editing_id = False, ""

    @rx.event
    def close_editor(self) -> None:
        self.editor_open, self.editing_id = False, ""

    @rx.event
    def set_form_value(self, name: str, value: str) -> None:
        """A text field or select of the editor changed. Choosing a metric also picks its usual direction
        (below for ROAS, above for CPA, …)."""
        if name not in TEXT_FIELDS:
            return
        value = str(value)
        if name == "metric":
            try:
                self.form_comparator = DEFAULT_COMPARATOR[Metric(value)].value
            except ValueError:
                return
        if name == "currency":
            value = value.upper()
        setattr(self, f"form_{name}", value)
        self.preview_stale = bool(self.previews)
        if self.error_field == ("recipients" if name == "recipient_emails" else name):
            self._clear_errors()

    @rx.event
    def toggle_role(self, role: str, checked: bool) -> None:
        roles = [r for r in self.form_roles if r != role]
        if checked and role in {o["value"] for o in self.role_options}:
            roles.append(str(role))
        self.form_roles = [o["value"] for o in self.role_options if o["value"] in roles]
        self.preview_stale = bool(self.previews)
        if self.error_field == "recipients":
            self._clear_errors()

    @rx.event
    def set_form_enabled(self, enabled: bool) -> None:
        self.form_enabled = bool(enabled)

    def _data(self) -> dict[str, Any]:
        """The editor's fields as the service's rule data: empty numbers are "none" (no minimum, no cooldown),
        an empty threshold is None (the KPI target); everything else is parsed and checked by the service."""

        def count(text: str) -> str | int:
            return text.strip() or 0

        is_stopped = self.form_metric == Metric.CONVERSIONS_STOPPED.value
        return {
            # The service checks the length before it strips: a blank name would pass as "".
            "name": self.form_name.strip(),
            "campaign": "" if self.form_campaign == ALL else self.form_campaign,
            "metric": self.form_metric,
            "comparator": None if is_stopped else self.form_comparator,
            "mode": Mode.VALUE.value if is_stopped else self.form_mode,
            "threshold": None if is_stopped else (self.form_threshold.strip().replace(",", ".") or None),
            "currency": self.form_currency if uses_currency(self.form_metric) else "",
            "window": self.form_window,
            "stopped_hours": self.form_stopped_hours.strip() if is_stopped else (self.form_stopped_hours.strip() or 6),
            "min_sessions": count(self.form_min_sessions),
            "min_orders": 0 if is_stopped else count(self.form_min_orders),
            "cooldown_minutes": count(self.form_cooldown_minutes),
            "recipient_roles": list(self.form_roles),
            "recipient_emails": self.form_recipient_emails,
            "enabled": self.form_enabled,
        }

    def _refused(self, error: ServiceError) -> None:
        field = error_field(error)
        if field:
            self.error_field, self.field_error, self.form_error = field, error.message, ""
        else:
            self.error_field, self.field_error, self.form_error = "", "", error.message

    @rx.event
    def save_rule(self) -> Iterator[Any]:
        """Create or update the rule from the editor; a refusal is shown next to its field."""
        if self.saving:
            return
        self._clear_errors()
        self.saving = True
        yield
        data, rule_public_id = self._data(), self.editing_id
        try:
            if rule_public_id:
                row, error = self._call(
                    lambda s: alert_service.update_rule(
                        session=s, actor=self._actor(s), rule_public_id=rule_public_id, data=data
                    )
                )
            else:
                row, error = self._call(lambda s: alert_service.create_rule(session=s, actor=self._actor(s), data=data))
        finally:
            self.saving = False
        if error or row is None:
            if error is not None:
                self._refused(error)
            else:
                self.form_error = "The rule could not be saved."
            yield toast.error(self.field_error or self.form_error)
            return
        self.editor_open, self.editing_id = False, ""
        self._load_rules()
        yield toast.success(f"Rule {row.name} saved: it is checked every few minutes.")

    @rx.event
    def test_rule(self) -> Iterator[Any]:
        """ "Test this rule now": what the editor's rule (saved or not) would say for each campaign, now. Nothing
        is recorded or sent."""
        if self.previewing:
            return
        self._clear_errors()
        self.preview_error = ""
        self.previewing = True
        yield
        data = self._data()
        if not str(data["name"]).strip():
            data["name"] = NEW_RULE_NAME  # a name is not needed to see what the rule would say
        try:
            found, error = self._call(lambda s: alert_service.preview_rule(session=s, actor=self._actor(s), data=data))
        finally:
            self.previewing = False
        self.preview_stale = False
        if error or found is None:
            # A refusal about one field is shown next to it; anything else (no active campaign, …) in the results.
            self.previews = []
            if error is not None and error_field(error):
                self._refused(error)
            else:
                self.preview_error = error.message if error else "The rule could not be tested."
            return
        self.previews = [preview_item(p) for p in found]
