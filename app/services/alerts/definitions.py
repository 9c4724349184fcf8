"""What an alert rule can say: its metrics, comparators, modes, windows and event kinds, their labels, and a new
rule's settings (the one home of the defaults: ``RuleInput``, the editor and ``AlertRule``'s columns follow them)."""

from __future__ import annotations

from datetime import timedelta

from app.models import Role
from app.models.alerts import AlertComparator, AlertEventKind, AlertMetric, AlertMode, AlertWindow

# The enums live with the table (app/models/alerts.py); the service's names for them:
Metric = AlertMetric
Comparator = AlertComparator
Mode = AlertMode
Window = AlertWindow
EventKind = AlertEventKind


METRIC_LABELS: dict[Metric, str] = {
    Metric.ROAS: "ROAS",
    Metric.CPA: "CPA",
    Metric.CONVERSION_RATE: "Conversion rate",
    Metric.NET_REVENUE: "Net revenue",
    Metric.REFUND_RATE: "Refund rate",
    Metric.ORDERS: "Orders",
    Metric.CONVERSIONS_STOPPED: "Conversions stopped",
    Metric.VERSION_UNDERPERFORMS: "Version underperforms",
    Metric.PLATFORM_OVER_REPORTING: "Platform over-reporting",
}
# The direction that means "underperforming", used when a rule does not say.
DEFAULT_COMPARATOR: dict[Metric, Comparator] = {
    Metric.ROAS: Comparator.BELOW,
    Metric.CPA: Comparator.ABOVE,
    Metric.CONVERSION_RATE: Comparator.BELOW,
    Metric.NET_REVENUE: Comparator.BELOW,
    Metric.REFUND_RATE: Comparator.ABOVE,
    Metric.ORDERS: Comparator.BELOW,
    Metric.CONVERSIONS_STOPPED: Comparator.BELOW,
    Metric.VERSION_UNDERPERFORMS: Comparator.ABOVE,  # the probability that the version before was better
    Metric.PLATFORM_OVER_REPORTING: Comparator.ABOVE,
}
WINDOWS: dict[Window, timedelta] = {
    Window.HOUR: timedelta(hours=1),
    Window.DAY: timedelta(hours=24),
    Window.WEEK: timedelta(days=7),
}
WINDOW_LABELS: dict[Window, str] = {Window.HOUR: "last hour", Window.DAY: "last 24 hours", Window.WEEK: "last 7 days"}
EVENT_LABELS: dict[EventKind, str] = {
    EventKind.FIRED: "Fired",
    EventKind.RESOLVED: "Resolved",
    EventKind.SUPPRESSED_VOLUME: "Held back: low volume",
    EventKind.SUPPRESSED_COOLDOWN: "Held back: cooldown",
}
TARGET_METRICS = {Metric.ROAS, Metric.CPA, Metric.CONVERSION_RATE}
MONEY_METRICS = {Metric.CPA, Metric.NET_REVENUE}
RATE_METRICS = {Metric.CONVERSION_RATE, Metric.REFUND_RATE}
# A probability in percent; without a threshold the account's winner probability applies; over the versions' aligned
# windows (services/metrics/versions), not the rule's window.
PROBABILITY_METRICS = {Metric.VERSION_UNDERPERFORMS}
RECIPIENT_ROLES = (Role.OWNER, Role.ADMIN, Role.MARKETER, Role.VIEWER)
MAX_RECIPIENTS = 20

# A new rule's settings. ``AlertRule``'s column defaults are the same values (a test holds them equal): the table
# cannot import the service, and a row made without the service gets the rule a person would have got.
DEFAULT_METRIC = Metric.ROAS
DEFAULT_MODE = Mode.VALUE
DEFAULT_WINDOW = Window.DAY
DEFAULT_STOPPED_HOURS = 6  # "conversions stopped": no paid order for this many hours
# A new rule waits for this many sessions in its window before it alerts: a handful of visits makes every ratio
# swing (one order more or less), and an alert on noise teaches people to ignore alerts. 0 turns it off.
DEFAULT_MIN_SESSIONS = 100
DEFAULT_MIN_ORDERS = 0
DEFAULT_COOLDOWN_MINUTES = 360
DEFAULT_RECIPIENT_ROLES = (Role.OWNER, Role.ADMIN)
