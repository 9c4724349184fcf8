"""Alerts: rules that watch a campaign's performance, evaluated on a schedule, e-mailed once per problem.

A rule names a metric (ROAS, CPA, conversion rate, net revenue, refund rate, orders, or "conversions stopped"),
a comparator and a threshold (ROAS, CPA and conversion rate default to the live version's KPI targets), a window
(the last 1 h, 24 h or 7 d, ending now), a minimum volume, a cooldown and recipients. In ``change`` mode the
threshold is a percentage: "dropped more than X % against the previous window of the same length".

Thresholds are in the units a marketer reads: ROAS as a ratio (2.5), CPA and net revenue in major units of the
rule's currency (25.00), rates in percent (1.8), changes in percent.

Per (rule, campaign) an ``AlertState`` makes it once per problem:
- breached with enough volume: ``ok`` → ``firing`` and one ``fired`` event (e-mailed), unless the last firing is
  within the cooldown (one ``suppressed_cooldown`` event instead);
- breached with too little volume: one ``suppressed_volume`` event, nothing sent;
- recovered with enough volume while firing: ``resolved`` (e-mailed);
- while firing, nothing more is sent; a suppression is recorded once until the situation changes.

Figures come from ``metrics.window_figures`` (the rollups' rules over exact windows, last-touch attribution).
E-mails are queued on the event and sent by ``send_due_emails`` with retries; every attempt is recorded.

The package, in the order a rule lives: ``definitions`` (metrics, windows, kinds, labels, a new rule's defaults),
``rule_input`` (parsing and checking what the editor sends), ``rules`` (stored rules: list, editor form, create,
change, pause, delete), ``texts`` (how values and settings are written), ``evaluation`` (judging a rule now),
``message`` (the e-mail), ``runs`` (states, events, the job), ``delivery`` (sending with retries), ``history``
(testing a rule, the history). This module exports what the rest of the code uses.
"""

from __future__ import annotations

from app.services.alerts.definitions import (
    DEFAULT_COMPARATOR,
    DEFAULT_COOLDOWN_MINUTES,
    DEFAULT_METRIC,
    DEFAULT_MIN_ORDERS,
    DEFAULT_MIN_SESSIONS,
    DEFAULT_MODE,
    DEFAULT_RECIPIENT_ROLES,
    DEFAULT_STOPPED_HOURS,
    DEFAULT_WINDOW,
    EVENT_LABELS,
    MAX_RECIPIENTS,
    METRIC_LABELS,
    MONEY_METRICS,
    PROBABILITY_METRICS,
    RATE_METRICS,
    RECIPIENT_ROLES,
    TARGET_METRICS,
    WINDOW_LABELS,
    WINDOWS,
    Comparator,
    EventKind,
    Metric,
    Mode,
    Window,
)
from app.services.alerts.delivery import send_due_emails
from app.services.alerts.evaluation import Evaluation, FiguresCache, evaluate, metric_value
from app.services.alerts.history import (
    EVENTS_PAGE,
    VERDICT_LABELS,
    EventPage,
    EventRow,
    Preview,
    list_events,
    preview_rule,
)
from app.services.alerts.message import Message, compose
from app.services.alerts.rule_input import RuleInput, parse_rule
from app.services.alerts.rules import (
    RuleRow,
    choices,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    new_rule_form,
    rule_form,
    set_enabled,
    update_rule,
)
from app.services.alerts.runs import RunSummary, apply_evaluation, evaluate_rules, recipients, run_evaluation
from app.services.alerts.texts import condition_text, value_text

__all__ = [
    "DEFAULT_COMPARATOR",
    "DEFAULT_COOLDOWN_MINUTES",
    "DEFAULT_METRIC",
    "DEFAULT_MIN_ORDERS",
    "DEFAULT_MIN_SESSIONS",
    "DEFAULT_MODE",
    "DEFAULT_RECIPIENT_ROLES",
    "DEFAULT_STOPPED_HOURS",
    "DEFAULT_WINDOW",
    "EVENTS_PAGE",
    "EVENT_LABELS",
    "MAX_RECIPIENTS",
    "METRIC_LABELS",
    "MONEY_METRICS",
    "PROBABILITY_METRICS",
    "RATE_METRICS",
    "RECIPIENT_ROLES",
    "TARGET_METRICS",
    "VERDICT_LABELS",
    "WINDOWS",
    "WINDOW_LABELS",
    "Comparator",
    "Evaluation",
    "EventKind",
    "EventPage",
    "EventRow",
    "FiguresCache",
    "Message",
    "Metric",
    "Mode",
    "Preview",
    "RuleInput",
    "RuleRow",
    "RunSummary",
    "Window",
    "apply_evaluation",
    "choices",
    "compose",
    "condition_text",
    "create_rule",
    "delete_rule",
    "evaluate",
    "evaluate_rules",
    "get_rule",
    "list_events",
    "list_rules",
    "metric_value",
    "new_rule_form",
    "parse_rule",
    "preview_rule",
    "recipients",
    "rule_form",
    "run_evaluation",
    "send_due_emails",
    "set_enabled",
    "update_rule",
    "value_text",
]
