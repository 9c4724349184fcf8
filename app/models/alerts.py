"""Alert rules, the state of each (rule, campaign) pair, and the history of what fired, resolved or was held back."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import enum_field, utc_field


class AlertMetric(StrEnum):
    """What an alert rule watches."""

    ROAS = "roas"
    CPA = "cpa"
    CONVERSION_RATE = "conversion_rate"
    NET_REVENUE = "net_revenue"
    REFUND_RATE = "refund_rate"
    ORDERS = "orders"
    CONVERSIONS_STOPPED = "conversions_stopped"
    # The live version is worse than the one before it with at least the rule's probability (versions compared).
    VERSION_UNDERPERFORMS = "version_underperforms"
    # How many more purchases the ad platforms claim than were paid, in percent (services/platform_vs_verified).
    PLATFORM_OVER_REPORTING = "platform_over_reporting"


class AlertComparator(StrEnum):
    BELOW = "below"
    ABOVE = "above"


class AlertMode(StrEnum):
    """The figure compared: the value itself, or its change in percent against the previous window."""

    VALUE = "value"
    CHANGE = "change"


class AlertWindow(StrEnum):
    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"


class AlertEventKind(StrEnum):
    FIRED = "fired"
    RESOLVED = "resolved"
    SUPPRESSED_VOLUME = "suppressed_volume"
    SUPPRESSED_COOLDOWN = "suppressed_cooldown"


class AlertRule(SQLModel, table=True):
    __tablename__ = "alert_rule"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=120)
    # None: account-wide, evaluated for every active campaign.
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", ondelete="CASCADE")
    metric: AlertMetric = enum_field(AlertMetric, 24)
    # The defaults below are a new rule's, whose home is services/alerts/definitions.py (a test holds them equal).
    comparator: AlertComparator = enum_field(AlertComparator, 8, default=AlertComparator.BELOW)
    # value, or change: percent vs the previous window
    mode: AlertMode = enum_field(AlertMode, 8, default=AlertMode.VALUE)
    # In the metric's unit (ROAS ratio, rates as fractions, money in major units of ``currency``, change in percent).
    # None: from the campaign version's KPI targets (ROAS, CPA, conversion rate).
    threshold: float | None = Field(default=None)
    currency: str = Field(default="", max_length=3)
    window: AlertWindow = enum_field(AlertWindow, 4, default=AlertWindow.DAY)
    stopped_hours: int = Field(default=6)  # "conversions stopped": no paid order for this many hours
    min_sessions: int = Field(default=100)
    min_orders: int = Field(default=0)
    cooldown_minutes: int = Field(default=360)
    recipient_roles: list[str] = Field(
        default_factory=lambda: ["owner", "admin"], sa_column=Column(JSON, nullable=False)
    )
    recipient_emails: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    enabled: bool = Field(default=True)
    created_by_user_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class AlertState(SQLModel, table=True):
    """Where one rule stands for one campaign: what makes an alert fire once per problem and resolve once."""

    __tablename__ = "alert_state"
    __table_args__ = (UniqueConstraint("rule_id", "campaign_id"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    rule_id: int = Field(foreign_key="alert_rule.id", ondelete="CASCADE")
    campaign_id: int = Field(foreign_key="campaign.id", ondelete="CASCADE")
    status: str = Field(default="ok", max_length=8)  # ok | firing
    since: datetime = utc_field(default_now=True)
    # What was last held back (volume | cooldown | ""), so a suppression is recorded once, not every 5 minutes.
    suppressed: str = Field(default="", max_length=16)
    last_value: float | None = Field(default=None)
    last_fired_at: datetime | None = utc_field(nullable=True)
    last_evaluated_at: datetime | None = utc_field(nullable=True)


class AlertEvent(SQLModel, table=True):
    """One line of alert history: fired, resolved, or suppressed (by volume or cooldown), with its values and the
    e-mail it sent."""

    __tablename__ = "alert_event"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    rule_id: int = Field(foreign_key="alert_rule.id", index=True, ondelete="CASCADE")
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", ondelete="SET NULL")
    campaign_version_id: int | None = Field(default=None, foreign_key="campaign_version.id", ondelete="SET NULL")
    kind: AlertEventKind = enum_field(AlertEventKind, 24)
    metric: AlertMetric = enum_field(AlertMetric, 24)
    value: float | None = Field(default=None)
    threshold: float | None = Field(default=None)
    previous_value: float | None = Field(default=None)
    window_start: datetime = utc_field()
    window_end: datetime = utc_field()
    sessions: int = Field(default=0)
    orders: float = Field(default=0)
    summary: str = Field(default="", max_length=500)
    # subject, text, html, drivers, figures: what the e-mail said and what it was computed from.
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    email_status: str = Field(default="none", max_length=8)  # none | pending | sending | sent | failed
    email_attempts: int = Field(default=0)
    email_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    next_email_at: datetime | None = utc_field(nullable=True, index=True)
    emailed_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(default_now=True, index=True)
