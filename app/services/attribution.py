"""Attribution models: how one conversion's credit (and its money) is split across the touches that led to it.

Pure functions over plain data, exact to the last minor unit: shares are ``Fraction`` values summing to exactly 1,
and money is split into integers with the largest-remainder method.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from app.models import AttributionModel as AttributionModel

LOOKBACK_DAYS: tuple[int, ...] = (1, 7, 28, 90)
DEFAULT_LOOKBACK_DAYS = 28
DEFAULT_HALF_LIFE_DAYS = 7.0

# Position-based ("U-shaped") weights: first and last touch 40 % each, the middle touches share 20 %.
_POSITION_ENDS = Fraction(2, 5)
_POSITION_MIDDLE = Fraction(1, 5)
_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class TouchPoint:
    """One marketing touch of the converting visitor.

    Attributes:
        touched_at: When the touch happened (timezone-aware).
        campaign_id: The matched campaign, or None when the touch matched no campaign (the "unmatched" bucket).
        version_id: The matched campaign version, or None.
    """

    touched_at: datetime
    campaign_id: int | None
    version_id: int | None


@dataclass(frozen=True)
class Credit:
    """The share of one conversion credited to a campaign version.

    Attributes:
        campaign_id: The credited campaign; None together with ``version_id`` None means unmatched or direct.
        version_id: The credited campaign version, or None.
        share: Exact share of the conversion; the credits of one conversion sum to exactly 1.
    """

    campaign_id: int | None
    version_id: int | None
    share: Fraction


@dataclass(frozen=True)
class Conversion:
    """A conversion (e.g. an order) with its value and the visitor's touches.

    Attributes:
        key: Identifies the conversion, e.g. an order id; used in error messages and must be unique per call.
        converted_at: When the conversion happened (timezone-aware).
        amount: Value in integer minor units of ``currency``; never negative.
        currency: ISO 4217 code.
        touches: The visitor's touches, in any order; those outside the lookback window are ignored.
    """

    key: str
    converted_at: datetime
    amount: int
    currency: str
    touches: Sequence[TouchPoint]


@dataclass(frozen=True)
class CreditedAmount:
    """What one campaign version earned in one currency, over many conversions.

    Attributes:
        campaign_id: The credited campaign; None together with ``version_id`` None means unmatched or direct.
        version_id: The credited campaign version, or None.
        currency: ISO 4217 code (upper case); amounts in different currencies are never summed.
        conversions: Fractional conversion count: the sum of this version's shares over the conversions.
        amount: Integer minor units credited.
    """

    campaign_id: int | None
    version_id: int | None
    currency: str
    conversions: Fraction
    amount: int


def credit(
    touches: Sequence[TouchPoint],
    converted_at: datetime,
    *,
    model: AttributionModel | str = AttributionModel.LAST_TOUCH,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> list[Credit]:
    """Split one conversion's credit across its touches.

    Only touches with ``converted_at - lookback_days <= touched_at <= converted_at`` count (both ends inclusive;
    touches after the conversion never count). They are ordered by ``touched_at`` with a stable sort, so touches
    at the same instant keep their input order: with ties, ``first_touch`` credits the earliest-listed of the
    first instant and ``last_touch`` the latest-listed of the last instant. Without any counting touch the whole
    credit goes to the unmatched/direct bucket (``campaign_id=None, version_id=None``).

    Models: ``last_touch`` and ``first_touch`` give everything to one touch; ``linear`` splits equally;
    ``position_based`` gives 2/5 to the first and the last touch and splits 1/5 equally among the middle ones
    (one touch takes all, two take 1/2 each); ``time_decay`` weights each touch by
    ``2 ** (-(converted_at - touched_at) / half_life)`` and normalises exactly.

    Args:
        touches: The visitor's touches, in any order.
        converted_at: When the conversion happened (timezone-aware).
        model: The attribution model, as the enum or its string value.
        lookback_days: Window length in days; one of ``LOOKBACK_DAYS``.
        half_life_days: Half-life of ``time_decay`` weights in days; finite and positive (checked for every model).

    Returns:
        Credits with distinct ``(campaign_id, version_id)`` (repeated versions are summed), shares exactly summing
        to 1 and all positive, ordered by descending share, then campaign_id, then version_id (None last).

    Raises:
        ValueError: A naive datetime, a lookback not in ``LOOKBACK_DAYS``, a non-positive or non-finite half-life,
            or an unknown model.
    """
    chosen = _parse_model(model)
    _check_lookback(lookback_days)
    _check_half_life(half_life_days)
    _check_aware(converted_at, "converted_at")
    for touch in touches:
        _check_aware(touch.touched_at, "touched_at")

    window_start = converted_at - timedelta(days=lookback_days)
    # sorted() is stable: ties at the same instant keep the caller's order.
    counted = sorted(
        (t for t in touches if window_start <= t.touched_at <= converted_at),
        key=lambda t: t.touched_at,
    )
    if not counted:
        return [Credit(campaign_id=None, version_id=None, share=Fraction(1))]

    shares = _SHARES[chosen](counted, converted_at, half_life_days)
    merged: dict[tuple[int | None, int | None], Fraction] = defaultdict(Fraction)
    for touch, share in zip(counted, shares, strict=True):
        merged[touch.campaign_id, touch.version_id] += share
    credits = [
        Credit(campaign_id=campaign_id, version_id=version_id, share=share)
        for (campaign_id, version_id), share in merged.items()
        # Touches that earned nothing (all but one in first/last touch; a time-decay weight that underflowed to
        # 0.0) are not credits.
        if share
    ]
    credits.sort(key=lambda c: (-c.share, *_ids_key(c.campaign_id, c.version_id)))
    return credits


def credited_amounts(
    conversions: Iterable[Conversion],
    *,
    model: AttributionModel | str = AttributionModel.LAST_TOUCH,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> list[CreditedAmount]:
    """Credit many conversions and total the results per campaign version and currency.

    Each conversion's ``amount`` is split into integers by its shares with the largest-remainder method: every
    credit gets the floor of ``amount * share``, and the minor units left over go one each to the largest
    remainders, ties going to the credit listed first by ``credit``. So each conversion's credited amounts sum
    exactly to its amount. Currency codes are compared upper-cased.

    Args:
        conversions: The conversions; keys must be unique.
        model: The attribution model, as the enum or its string value.
        lookback_days: Window length in days; one of ``LOOKBACK_DAYS``.
        half_life_days: Half-life of ``time_decay`` weights in days; finite and positive.

    Returns:
        One row per ``(campaign_id, version_id, currency)``, sorted by currency, then descending amount, then
        campaign_id and version_id (None last). Rows with amount 0 are kept: their conversion count still counts.

    Raises:
        ValueError: Anything ``credit`` refuses, a negative or non-integer amount, a currency that is not a
            three-letter code, or a repeated conversion key.
    """
    totals: dict[tuple[int | None, int | None, str], tuple[Fraction, int]] = {}
    seen_keys: set[str] = set()
    for conversion in conversions:
        if conversion.key in seen_keys:
            raise ValueError(f"Conversion {conversion.key!r} appears twice; each conversion must be credited once.")
        seen_keys.add(conversion.key)
        currency = _check_currency(conversion)
        _check_amount(conversion)
        credits = credit(
            conversion.touches,
            conversion.converted_at,
            model=model,
            lookback_days=lookback_days,
            half_life_days=half_life_days,
        )
        for item, amount in zip(credits, _split_amount(conversion.amount, credits), strict=True):
            group = (item.campaign_id, item.version_id, currency)
            count, total = totals.get(group, (Fraction(0), 0))
            totals[group] = (count + item.share, total + amount)

    rows = [
        CreditedAmount(
            campaign_id=campaign_id, version_id=version_id, currency=currency, conversions=count, amount=total
        )
        for (campaign_id, version_id, currency), (count, total) in totals.items()
    ]
    rows.sort(key=lambda r: (r.currency, -r.amount, *_ids_key(r.campaign_id, r.version_id)))
    return rows


def _last_touch(touches: Sequence[TouchPoint], converted_at: datetime, half_life_days: float) -> list[Fraction]:
    return [Fraction(0)] * (len(touches) - 1) + [Fraction(1)]


def _first_touch(touches: Sequence[TouchPoint], converted_at: datetime, half_life_days: float) -> list[Fraction]:
    return [Fraction(1)] + [Fraction(0)] * (len(touches) - 1)


def _linear(touches: Sequence[TouchPoint], converted_at: datetime, half_life_days: float) -> list[Fraction]:
    return [Fraction(1, len(touches))] * len(touches)


def _position_based(touches: Sequence[TouchPoint], converted_at: datetime, half_life_days: float) -> list[Fraction]:
    count = len(touches)
    if count <= 2:
        return _linear(touches, converted_at, half_life_days)
    middle = _POSITION_MIDDLE / (count - 2)
    return [_POSITION_ENDS] + [middle] * (count - 2) + [_POSITION_ENDS]


def _time_decay(touches: Sequence[TouchPoint], converted_at: datetime, half_life_days: float) -> list[Fraction]:
    # Ages are measured from the most recent counted touch rather than from the conversion: the normalised shares
    # are the same, but the newest touch weighs exactly 1, so the total never underflows to zero.
    newest = touches[-1].touched_at
    weights = [
        Fraction(2.0 ** (-((newest - t.touched_at).total_seconds() / _SECONDS_PER_DAY) / half_life_days))
        for t in touches
    ]
    total = sum(weights, Fraction(0))
    return [weight / total for weight in weights]


_SHARES = {
    AttributionModel.LAST_TOUCH: _last_touch,
    AttributionModel.FIRST_TOUCH: _first_touch,
    AttributionModel.LINEAR: _linear,
    AttributionModel.POSITION_BASED: _position_based,
    AttributionModel.TIME_DECAY: _time_decay,
}


def split_by_shares(amount: int, shares: Sequence[Fraction]) -> list[int]:
    """Largest-remainder split of ``amount`` by ``shares`` (summing to 1): integers that add up to ``amount``
    exactly; ties go to the share listed first."""
    if len(shares) == 1 and shares[0] == 1:  # one credit takes all (most orders): the same answer, no arithmetic
        return [amount]
    exact = [amount * share for share in shares]
    parts = [math.floor(value) for value in exact]
    leftover = amount - sum(parts)
    # sorted() is stable, so equal remainders keep the order given.
    by_remainder = sorted(range(len(shares)), key=lambda i: exact[i] - parts[i], reverse=True)
    for index in by_remainder[:leftover]:
        parts[index] += 1
    return parts


def _split_amount(amount: int, credits: Sequence[Credit]) -> list[int]:
    return split_by_shares(amount, [c.share for c in credits])


def _ids_key(campaign_id: int | None, version_id: int | None) -> tuple[bool, int, bool, int]:
    """Sort key for ids, ascending with None last."""
    return (campaign_id is None, campaign_id or 0, version_id is None, version_id or 0)


def _parse_model(model: AttributionModel | str) -> AttributionModel:
    try:
        return AttributionModel(model)
    except ValueError:
        allowed = ", ".join(m.value for m in AttributionModel)
        raise ValueError(f"Unknown attribution model {model!r}; use one of: {allowed}.") from None


def _check_lookback(lookback_days: int) -> None:
    # bool is an int (True == 1) and 7.0 == 7: only real ints are accepted.
    if type(lookback_days) is not int or lookback_days not in LOOKBACK_DAYS:
        allowed = ", ".join(str(days) for days in LOOKBACK_DAYS)
        raise ValueError(f"Lookback of {lookback_days!r} days is not supported; use one of: {allowed}.")


def _check_half_life(half_life_days: float) -> None:
    if isinstance(half_life_days, bool) or not isinstance(half_life_days, int | float):
        raise ValueError(f"Half-life must be a number of days, got {half_life_days!r}.")
    if not (math.isfinite(half_life_days) and half_life_days > 0):
        raise ValueError(f"Half-life must be a positive, finite number of days, got {half_life_days!r}.")


def _check_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {moment.isoformat()}.")


def _check_amount(conversion: Conversion) -> None:
    amount = conversion.amount
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"Conversion {conversion.key!r}: amount must be integer minor units, got {amount!r}.")
    if amount < 0:
        raise ValueError(f"Conversion {conversion.key!r}: amount must not be negative, got {amount}.")


def _check_currency(conversion: Conversion) -> str:
    code = conversion.currency
    if not (isinstance(code, str) and len(code) == 3 and code.isascii() and code.isalpha()):
        raise ValueError(f"Conversion {conversion.key!r}: currency must be a three-letter ISO 4217 code, got {code!r}.")
    return code.upper()


# --- from the database ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversionInput:
    """A conversion to attribute: who converted, when, and for how much."""

    key: str
    visitor_key: str | None
    converted_at: datetime
    amount: int
    currency: str


def attribute_conversions(
    *,
    session: Any,
    account_id: int,
    conversions: Sequence[ConversionInput],
    model: AttributionModel | str = AttributionModel.LAST_TOUCH,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> list[CreditedAmount]:
    """Credited amounts per campaign and version for ``conversions``, from the visitors' stored touches.

    The one place metrics, alerts and the assistant attribute money; the models are the pure functions above.
    """
    from sqlmodel import col, select

    from app.models import Touch

    visitors = {c.visitor_key for c in conversions if c.visitor_key}
    touches: dict[str, list[TouchPoint]] = {}
    if visitors:
        rows = session.exec(
            select(Touch.visitor_key, Touch.touched_at, Touch.campaign_id, Touch.campaign_version_id)
            .where(Touch.account_id == account_id, col(Touch.visitor_key).in_(visitors))
            .order_by(col(Touch.touched_at), col(Touch.id))
        ).all()
        for visitor_key, touched_at, campaign_id, version_id in rows:
            touches.setdefault(visitor_key, []).append(TouchPoint(touched_at, campaign_id, version_id))
    return credited_amounts(
        [
            Conversion(c.key, c.converted_at, c.amount, c.currency, touches.get(c.visitor_key or "", []))
            for c in conversions
        ],
        model=model,
        lookback_days=lookback_days,
        half_life_days=half_life_days,
    )


def snapshot(*, session: Any, account_id: int, visitor_key: str | None, at: datetime) -> dict[str, Any]:
    """What an order keeps of its attribution when checkout starts: the visitor's touches within the longest
    lookback, and the credits under every model for the default lookback (ids, shares as strings "1/2").

    Stored with the order because the webhook may arrive before the buyer's browser returns, and because later
    touches must not change what this order was credited to.
    """
    from sqlmodel import col, select

    from app.models import Campaign, CampaignVersion, Touch

    rows = []
    if visitor_key:
        window_start = at - timedelta(days=max(LOOKBACK_DAYS))
        rows = session.exec(
            select(Touch)
            .where(
                Touch.account_id == account_id,
                Touch.visitor_key == visitor_key,
                col(Touch.touched_at) >= window_start,
                col(Touch.touched_at) <= at,
            )
            .order_by(col(Touch.touched_at), col(Touch.id))
        ).all()
    campaign_ids = {t.campaign_id for t in rows if t.campaign_id}
    version_ids = {t.campaign_version_id for t in rows if t.campaign_version_id}
    campaign_rows = session.exec(
        select(Campaign.id, Campaign.public_id, Campaign.name).where(col(Campaign.id).in_(campaign_ids))
    ).all()
    campaigns = {row[0]: row[1] for row in campaign_rows}
    names = {row[0]: row[2] for row in campaign_rows}
    version_rows = session.exec(
        select(CampaignVersion.id, CampaignVersion.public_id, CampaignVersion.number).where(
            col(CampaignVersion.id).in_(version_ids)
        )
    ).all()
    versions = {row[0]: row[1] for row in version_rows}
    numbers = {row[0]: row[2] for row in version_rows}
    points = [TouchPoint(t.touched_at, t.campaign_id, t.campaign_version_id) for t in rows]
    models: dict[str, list[dict[str, Any]]] = {}
    for model in AttributionModel:
        models[model.value] = [
            {
                "campaign_id": c.campaign_id,
                "campaign_version_id": c.version_id,
                "campaign": campaigns.get(c.campaign_id),
                "campaign_name": names.get(c.campaign_id),
                "campaign_version": versions.get(c.version_id),
                "version_number": numbers.get(c.version_id),
                "share": str(c.share),
            }
            for c in credit(points, at, model=model)
        ]
    return {
        "at": at.isoformat(),
        "lookback_days": DEFAULT_LOOKBACK_DAYS,
        "touches": [
            {
                "at": t.touched_at.isoformat(),
                "utm_source": t.utm_source,
                "utm_medium": t.utm_medium,
                "utm_campaign": t.utm_campaign,
                # The ad platforms' ids from URL templates: ad set (utm_term) and ad (utm_content) of a paid order.
                "utm_term": t.utm_term,
                "utm_content": t.utm_content,
                "click_id_type": t.click_id_type,
                # The click id itself: Google Ads counts its 90 days from this touch (google_ads.age_start).
                "click_id": t.click_id,
                "campaign": campaigns.get(t.campaign_id),
                "campaign_name": names.get(t.campaign_id),
                "campaign_version": versions.get(t.campaign_version_id),
                "version_number": numbers.get(t.campaign_version_id),
            }
            for t in rows
        ],
        "models": models,
    }
