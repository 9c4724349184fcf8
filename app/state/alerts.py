"""Alerts: the rules (list, editor with "Test this rule now", enable, delete) and their history (filters in the URL,
"Load more" through the service's cursor).

Every change goes through app.services.alerts, which checks the role; the page only hides the controls. A refused
save names the field it is about, and the editor shows the message next to it. Rows, hints and the editor's fields
are made by app.presenters.alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import reflex as rx
from sqlmodel import Session

from app import routes
from app.db import session_scope
from app.presenters import alerts as present
from app.presenters.alerts import ALL, KINDS, TEXT_FIELDS, EventItem, Option, PreviewItem, RuleItem
from app.services import alerts as alert_service
from app.services.alerts import DEFAULT_COMPARATOR, Metric, Mode
from app.services.alerts import DEFAULT_MIN_SESSIONS as DEFAULT_MIN_SESSIONS
from app.services.alerts import EVENT_LABELS as EVENT_LABELS
from app.services.errors import ServiceError
from app.state.base import AppState, next_page
from app.state.toasts import toast

T = TypeVar("T")

PAGE_SIZE = 50
NEW_RULE_NAME = "New alert"
# The editor's fields before it is first opened: a new rule's (the service's defaults).
NEW_RULE = present.editor_values({})


def _filters_url(*, rule: str = "", kind: str = "") -> str:
    return routes.alerts_url(rule="" if rule == ALL else rule, kind="" if kind == ALL else kind)


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
    form_name: str = NEW_RULE["fields"]["name"]
    form_campaign: str = NEW_RULE["fields"]["campaign"]
    form_metric: str = NEW_RULE["fields"]["metric"]
    form_comparator: str = NEW_RULE["fields"]["comparator"]
    form_mode: str = NEW_RULE["fields"]["mode"]
    form_threshold: str = NEW_RULE["fields"]["threshold"]
    form_currency: str = NEW_RULE["fields"]["currency"]
    form_window: str = NEW_RULE["fields"]["window"]
    form_stopped_hours: str = NEW_RULE["fields"]["stopped_hours"]
    form_min_sessions: str = NEW_RULE["fields"]["min_sessions"]
    form_min_orders: str = NEW_RULE["fields"]["min_orders"]
    form_cooldown_minutes: str = NEW_RULE["fields"]["cooldown_minutes"]
    form_recipient_emails: str = NEW_RULE["fields"]["recipient_emails"]
    form_roles: list[str] = NEW_RULE["roles"]
    form_enabled: bool = NEW_RULE["enabled"]
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
        return present.uses_currency(self.form_metric)

    @rx.var
    def threshold_label(self) -> str:
        return present.threshold_label(self.form_metric, self.form_mode)

    @rx.var
    def threshold_hint(self) -> str:
        """The unit of the threshold field, for the chosen metric and mode."""
        return present.threshold_hint(self.form_metric, self.form_mode, self.form_currency)

    @rx.var
    def currency_hint(self) -> str:
        return present.currency_hint(self.form_metric)

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
        self.rules = [present.rule_item(row, self.account_timezone) for row in rows]
        self.metric_options = present.options(menus, "metric")
        self.comparator_options = present.options(menus, "comparator")
        self.mode_options = present.options(menus, "mode")
        self.window_options = present.options(menus, "window")
        self.role_options = present.options(menus, "role")
        self.campaign_options = present.options(menus, "campaign")

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
        self.events = [present.event_item(row, self.account_timezone) for row in found.rows]
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
        self.events = [*self.events, *(present.event_item(row, self.account_timezone) for row in found.rows)]
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
        values = present.editor_values(data)
        for name in TEXT_FIELDS:
            setattr(self, f"form_{name}", values["fields"][name])
        self.form_roles, self.form_enabled = values["roles"], values["enabled"]

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
        """The editor's fields as the service's rule data (see ``rule_data``)."""
        fields = {name: str(getattr(self, f"form_{name}")) for name in TEXT_FIELDS}
        return present.rule_data(fields, self.form_roles, self.form_enabled)

    def _refused(self, error: ServiceError) -> None:
        field = present.error_field(error)
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
            if error is not None and present.error_field(error):
                self._refused(error)
            else:
                self.preview_error = error.message if error else "The rule could not be tested."
            return
        self.previews = [present.preview_item(p) for p in found]
