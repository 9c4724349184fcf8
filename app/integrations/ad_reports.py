"""What the Meta and Google Ads reporting clients share: the rows they return, the ad account's facts, and the one
error type whose ``kind`` tells the sync what to do (wait and resume, ask for new credentials, or give up)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Literal

from app.lib.formatting import currency_exponent

# throttled: a rate limit or quota (wait ``retry_after`` and resume); auth: the credentials are refused (new ones are
# needed); too_much: the request asks for too much data (split it or run it asynchronously); unreachable: network
# trouble (retry); failed: anything else the platform refused.
ErrorKind = Literal["throttled", "auth", "too_much", "unreachable", "failed"]


class ReportError(Exception):
    """A platform's refusal, in plain words (the platform's own message included)."""

    def __init__(self, message: str, *, kind: ErrorKind, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.retry_after = retry_after


@dataclass(frozen=True)
class AdAccountInfo:
    name: str
    currency: str
    timezone: str


@dataclass(frozen=True)
class ReportRow:
    """One day of one campaign, ad set or ad, as the platform reports it. Money in minor units of ``currency``."""

    level: str  # campaign | adset | ad
    day: date
    campaign_id: str
    campaign_name: str
    adset_id: str
    adset_name: str
    ad_id: str
    ad_name: str
    currency: str
    spend: int
    impressions: int
    clicks: int
    purchases_micro: int
    purchase_value: int
    purchase_action_type: str = ""

    @property
    def external_id(self) -> str:
        return {"campaign": self.campaign_id, "adset": self.adset_id}.get(self.level, self.ad_id)

    @property
    def name(self) -> str:
        return {"campaign": self.campaign_name, "adset": self.adset_name}.get(self.level, self.ad_name)


def to_minor(value: object, currency: str) -> int:
    """A platform's decimal amount in major units (``"53.40"``, ``120.5``) as minor units, rounded half to even;
    anything unreadable counts as 0 (a stored figure must never make a sync fail)."""
    exponent = currency_exponent(currency)
    try:
        amount = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        return 0
    if not amount.is_finite():
        return 0
    return int(amount.scaleb(2 if exponent is None else exponent).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def micros(value: object) -> int:
    """A count that may be fractional (Google's conversions), in millionths."""
    try:
        amount = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        return 0
    if not amount.is_finite():
        return 0
    return int(amount.scaleb(6).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def whole(value: object) -> int:
    """A count sent as a string or number (``"3613"``); unreadable → 0."""
    try:
        return int(Decimal(str(value if value not in (None, "") else 0)))
    except (InvalidOperation, ValueError):
        return 0
