"""What an alert e-mail says: its subject, and the same facts as plain text and HTML, in the account's locale and
time zone."""

from __future__ import annotations

import html
from dataclasses import dataclass

from app import routes
from app.models import AlertRule
from app.services.alerts.definitions import METRIC_LABELS, PROBABILITY_METRICS, Comparator, EventKind, Metric, Mode
from app.services.alerts.evaluation import Evaluation
from app.services.alerts.texts import change_text, value_text, volume_text
from app.services.days import time_zone
from app.settings import get_settings


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


def _subject(kind: EventKind, e: Evaluation) -> str:
    label, loc = METRIC_LABELS[e.metric], e.locale
    if kind is EventKind.RESOLVED:
        if e.metric is Metric.CONVERSIONS_STOPPED:
            return f"[PaidSignal] Resolved: {e.campaign_label}: paid orders are coming in again"
        return (
            f"[PaidSignal] Resolved: {e.campaign_label}: {label} back to "
            f"{value_text(e.metric, e.current, e.currency, loc)}"
        )
    if e.metric in PROBABILITY_METRICS:
        return (
            f"[PaidSignal] {e.campaign_label}: underperforms the version before "
            f"({value_text(e.metric, e.value, locale=loc)} probability)"
        )
    if e.metric is Metric.CONVERSIONS_STOPPED:
        hours = int((e.window_end - e.window_start).total_seconds() // 3600)
        return f"[PaidSignal] {e.campaign_label}: no paid order in {hours} h"
    if e.mode is Mode.CHANGE:
        verb = "dropped" if (e.value or 0) < 0 else "rose"
        return f"[PaidSignal] {e.campaign_label}: {label} {verb} {change_text(e.value or 0, loc, digits=0)}"
    return (
        f"[PaidSignal] {e.campaign_label}: {label} {value_text(e.metric, e.value, e.currency, loc)} "
        f"{e.comparator.value} {value_text(e.metric, e.threshold, e.currency, loc)}"
    )


def compose(kind: EventKind, rule: AlertRule, e: Evaluation, zone_name: str) -> Message:
    """The alert (or resolved) e-mail: plain text and HTML with the same facts, in the account's locale."""
    loc = e.locale
    zone = time_zone(zone_name)
    link = f"{get_settings().public_url}{routes.campaign_url(e.campaign_public_id)}"
    alerts_link = f"{get_settings().public_url}{routes.ALERTS}"
    start, end = e.window_start.astimezone(zone), e.window_end.astimezone(zone)
    window = f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} ({zone_name})"
    if e.metric in PROBABILITY_METRICS:
        threshold = f"at least {value_text(e.metric, e.threshold, locale=loc)} probability ({e.threshold_source})"
    elif e.metric is Metric.CONVERSIONS_STOPPED:
        threshold = f"no paid order for {rule.stopped_hours} h"
    elif e.mode is Mode.CHANGE:
        verb = "dropped" if e.comparator is Comparator.BELOW else "rose"
        threshold = f"{verb} more than {change_text(e.threshold or 0, loc)} vs the previous window"
    else:
        threshold = f"{e.comparator.value} {value_text(e.metric, e.threshold, e.currency, loc)}"
        if e.threshold_source == "version targets":
            threshold += " (the version's KPI target)"
    value = value_text(e.metric, e.current, e.currency, loc)
    if e.metric is not Metric.CONVERSIONS_STOPPED and e.metric not in PROBABILITY_METRICS:
        value += f" (previous window: {value_text(e.metric, e.previous, e.currency, loc)})"
    facts = [
        ("Campaign", f"{e.campaign_name}" + (f" (version {e.version_number})" if e.version_number else "")),
        ("Metric", METRIC_LABELS[e.metric]),
        ("Value", value),
        ("Threshold", threshold),
        ("Window", window),
        ("Volume", volume_text(e.sessions, e.orders, loc)),
        ("Rule", rule.name),
    ]
    heading = "Resolved: " + e.summary if kind is EventKind.RESOLVED else e.summary
    text = "\n".join(
        [
            heading,
            "",
            *(f"{name + ':':<11}{fact}" for name, fact in facts),
            "",
            "What changed since the previous window:",
            *(f"  - {line}" for line in e.what_changed()),
            "",
            f"Open the campaign: {link}",
            f"Manage alerts: {alerts_link}",
        ]
    )
    esc = html.escape
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{esc(n)}</th><td>{esc(f)}</td></tr>' for n, f in facts
    )
    changes = "".join(f"<li>{esc(line)}</li>" for line in e.what_changed())
    body = (
        f'<div style="font-family:sans-serif;font-size:14px"><p><strong>{esc(heading)}</strong></p>'
        f"<table>{rows}</table><p>What changed since the previous window:</p><ul>{changes}</ul>"
        f'<p><a href="{esc(link)}">Open the campaign</a> · <a href="{esc(alerts_link)}">Manage alerts</a></p></div>'
    )
    return Message(_subject(kind, e), text, body)
