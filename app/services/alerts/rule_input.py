"""A rule as the editor (or a script) sends it: parsed and checked, each refusal naming the field to fix."""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.models import Role
from app.services.alerts.definitions import (
    DEFAULT_COMPARATOR,
    DEFAULT_COOLDOWN_MINUTES,
    DEFAULT_MIN_ORDERS,
    DEFAULT_MIN_SESSIONS,
    DEFAULT_MODE,
    DEFAULT_RECIPIENT_ROLES,
    DEFAULT_STOPPED_HOURS,
    DEFAULT_WINDOW,
    MAX_RECIPIENTS,
    METRIC_LABELS,
    MONEY_METRICS,
    PROBABILITY_METRICS,
    RATE_METRICS,
    TARGET_METRICS,
    Comparator,
    Metric,
    Mode,
    Window,
)
from app.services.currency import currency_exponent
from app.services.errors import ValidationFailed, validation_failed

_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


class RuleInput(BaseModel):
    """A rule as the editor (or a script) sends it. ``campaign``: a campaign's public id, empty for every active
    campaign of the account."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    campaign: str = ""
    metric: Metric
    comparator: Comparator | None = None
    mode: Mode = DEFAULT_MODE
    threshold: float | None = Field(default=None, ge=0)
    currency: str = ""
    window: Window = DEFAULT_WINDOW
    stopped_hours: int = Field(default=DEFAULT_STOPPED_HOURS, ge=1, le=168)
    min_sessions: int = Field(default=DEFAULT_MIN_SESSIONS, ge=0, le=10_000_000)
    min_orders: int = Field(default=DEFAULT_MIN_ORDERS, ge=0, le=1_000_000)
    cooldown_minutes: int = Field(default=DEFAULT_COOLDOWN_MINUTES, ge=0, le=60 * 24 * 30)
    recipient_roles: list[Role] = Field(default_factory=lambda: list(DEFAULT_RECIPIENT_ROLES))
    recipient_emails: list[str] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("name", "campaign", "currency", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a number")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value and currency_exponent(value) is None:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return value.upper()

    @field_validator("recipient_emails", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in re.split(r"[\s,;]+", value) if part]
        return value

    @field_validator("recipient_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        cleaned = sorted({address.strip().lower() for address in value if address.strip()})
        bad = [address for address in cleaned if not _EMAIL.match(address)]
        if bad:
            raise ValueError(
                f"{', '.join(bad)} {'is not an e-mail address' if len(bad) == 1 else 'are not e-mail addresses'}"
            )
        if len(cleaned) > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} addresses")
        return cleaned

    @model_validator(mode="after")
    def _defaults(self) -> RuleInput:
        if self.metric is Metric.CONVERSIONS_STOPPED:
            self.comparator = Comparator.BELOW
        elif self.metric in PROBABILITY_METRICS:
            self.comparator = Comparator.ABOVE
        elif self.comparator is None:
            self.comparator = DEFAULT_COMPARATOR[self.metric]
        return self


def check_rule(rule: RuleInput) -> None:
    """The rules between fields, each refusal naming the field to fix."""
    label = METRIC_LABELS[rule.metric]
    if rule.metric is Metric.CONVERSIONS_STOPPED:
        if rule.mode is Mode.CHANGE:
            raise ValidationFailed(
                "'Conversions stopped' has no change mode: it fires after N hours without an order.", field="mode"
            )
        if rule.min_orders:
            raise ValidationFailed(
                "'Conversions stopped' cannot require a minimum of orders: set minimum sessions.", field="min_orders"
            )
        rule.threshold = None
    elif rule.metric in PROBABILITY_METRICS:
        if rule.mode is Mode.CHANGE:
            raise ValidationFailed(
                f"'{label}' has no change mode: it compares the live version with the one before.", field="mode"
            )
        if rule.threshold is not None and not 51 <= rule.threshold <= 99.9:
            raise ValidationFailed(
                "The probability is a percentage between 51 and 99.9, e.g. 95 (empty: the account's winner "
                "probability).",
                field="threshold",
            )
    elif rule.mode is Mode.CHANGE:
        if not rule.threshold:
            raise ValidationFailed(
                "In change mode the threshold is a percentage greater than 0, e.g. 30.", field="threshold"
            )
    elif rule.threshold is None and rule.metric not in TARGET_METRICS:
        raise ValidationFailed(
            f"{label} needs a threshold (only ROAS, CPA and conversion rate default to the campaign version's KPI "
            "targets).",
            field="threshold",
        )
    if rule.metric is Metric.ORDERS and rule.min_orders and rule.comparator is Comparator.BELOW:
        raise ValidationFailed(
            "A minimum of orders would hide 'orders below': set minimum sessions instead.", field="min_orders"
        )
    if rule.metric in MONEY_METRICS and rule.mode is Mode.VALUE and rule.threshold is not None and not rule.currency:
        raise ValidationFailed(f"{label} is an amount: choose its currency.", field="currency")
    if rule.metric in RATE_METRICS and rule.mode is Mode.VALUE and (rule.threshold or 0) > 100:
        raise ValidationFailed("A rate threshold is a percentage between 0 and 100.", field="threshold")
    if not rule.recipient_roles and not rule.recipient_emails:
        raise ValidationFailed("Choose who gets the e-mail: a role, an address, or both.", field="recipient_emails")


_FIELD_NAMES = {"recipient_emails": "addresses", "min_sessions": "minimum sessions", "min_orders": "minimum orders"}


def parse_rule(data: dict[str, Any]) -> RuleInput:
    """``data`` as a checked ``RuleInput``.

    Raises:
        ValidationFailed: naming the field to fix.
    """
    try:
        parsed = RuleInput.model_validate(data)
    except ValidationError as error:
        raise validation_failed(error, _FIELD_NAMES) from error
    check_rule(parsed)
    return parsed
