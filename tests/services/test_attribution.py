from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.attribution import (
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    LOOKBACK_DAYS,
    AttributionModel,
    Conversion,
    Credit,
    CreditedAmount,
    TouchPoint,
    credit,
    credited_amounts,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def days_before(days: float) -> datetime:
    return NOW - timedelta(days=days)


def touch(days: float, campaign_id: int | None, version_id: int | None = None) -> TouchPoint:
    """A touch ``days`` before NOW; the version defaults to ten times the campaign id."""
    if version_id is None and campaign_id is not None:
        version_id = campaign_id * 10
    return TouchPoint(touched_at=days_before(days), campaign_id=campaign_id, version_id=version_id)


def conversion(
    key: str, amount: int, touches: list[TouchPoint], *, currency: str = "EUR", converted_at: datetime = NOW
) -> Conversion:
    return Conversion(key=key, converted_at=converted_at, amount=amount, currency=currency, touches=touches)


DIRECT = [Credit(campaign_id=None, version_id=None, share=Fraction(1))]
# Three touches of three campaigns, oldest first: 1 (10 days), 2 (5 days), 3 (1 day before the conversion).
JOURNEY = [touch(5, 2), touch(10, 1), touch(1, 3)]


def test_defaults() -> None:
    assert DEFAULT_LOOKBACK_DAYS == 28 and DEFAULT_LOOKBACK_DAYS in LOOKBACK_DAYS
    assert LOOKBACK_DAYS == (1, 7, 28, 90)
    assert DEFAULT_HALF_LIFE_DAYS == 7.0
    assert credit(JOURNEY, NOW) == credit(JOURNEY, NOW, model=AttributionModel.LAST_TOUCH)


# --- every model, hand-computed ---------------------------------------------------------------------------------


def test_last_touch_credits_the_most_recent_touch() -> None:
    assert credit(JOURNEY, NOW, model=AttributionModel.LAST_TOUCH) == [Credit(3, 30, Fraction(1))]


def test_first_touch_credits_the_oldest_touch() -> None:
    assert credit(JOURNEY, NOW, model=AttributionModel.FIRST_TOUCH) == [Credit(1, 10, Fraction(1))]


def test_linear_splits_equally() -> None:
    assert credit(JOURNEY, NOW, model=AttributionModel.LINEAR) == [
        Credit(1, 10, Fraction(1, 3)),
        Credit(2, 20, Fraction(1, 3)),
        Credit(3, 30, Fraction(1, 3)),
    ]
    four = [touch(4, 1), touch(3, 2), touch(2, 3), touch(1, 4)]
    assert [c.share for c in credit(four, NOW, model="linear")] == [Fraction(1, 4)] * 4


def test_position_based_gives_40_20_40() -> None:
    assert credit(JOURNEY, NOW, model=AttributionModel.POSITION_BASED) == [
        Credit(1, 10, Fraction(2, 5)),
        Credit(3, 30, Fraction(2, 5)),
        Credit(2, 20, Fraction(1, 5)),
    ]


def test_position_based_splits_the_middle_fifth_equally() -> None:
    five = [touch(5, 1), touch(4, 2), touch(3, 3), touch(2, 4), touch(1, 5)]
    assert credit(five, NOW, model=AttributionModel.POSITION_BASED) == [
        Credit(1, 10, Fraction(2, 5)),
        Credit(5, 50, Fraction(2, 5)),
        Credit(2, 20, Fraction(1, 15)),
        Credit(3, 30, Fraction(1, 15)),
        Credit(4, 40, Fraction(1, 15)),
    ]


def test_position_based_with_one_or_two_touches() -> None:
    assert credit([touch(3, 1)], NOW, model=AttributionModel.POSITION_BASED) == [Credit(1, 10, Fraction(1))]
    assert credit([touch(1, 2), touch(3, 1)], NOW, model=AttributionModel.POSITION_BASED) == [
        Credit(1, 10, Fraction(1, 2)),
        Credit(2, 20, Fraction(1, 2)),
    ]


@pytest.mark.parametrize(
    ("ages", "half_life", "expected"),
    [
        # 2^0 : 2^-1 = 1 : 1/2
        ((0, 7), 7.0, [Fraction(2, 3), Fraction(1, 3)]),
        # 1 : 1/2 : 1/4
        ((0, 7, 14), 7.0, [Fraction(4, 7), Fraction(2, 7), Fraction(1, 7)]),
        # half-life 3.5: 7 days is two half-lives, 1 : 1/4
        ((0, 7), 3.5, [Fraction(4, 5), Fraction(1, 5)]),
        # half-life 14: 1 : 1/2 : 1/4 : 1/8
        ((0, 14, 28, 42), 14.0, [Fraction(8, 15), Fraction(4, 15), Fraction(2, 15), Fraction(1, 15)]),
        # half-life of 12 hours: 1 day is two half-lives
        ((0, 1), 0.5, [Fraction(4, 5), Fraction(1, 5)]),
        # Only the age difference matters: 1 and 8 days old is 1 : 1/2 as well.
        ((1, 8), 7.0, [Fraction(2, 3), Fraction(1, 3)]),
        ((2, 2), 7.0, [Fraction(1, 2), Fraction(1, 2)]),
    ],
)
def test_time_decay_with_known_half_lives(ages: tuple[float, ...], half_life: float, expected: list[Fraction]) -> None:
    touches = [touch(age, index + 1) for index, age in enumerate(ages)]
    result = credit(touches, NOW, model=AttributionModel.TIME_DECAY, lookback_days=90, half_life_days=half_life)
    assert result == [Credit(index + 1, (index + 1) * 10, share) for index, share in enumerate(expected)]


def test_time_decay_single_touch_and_non_dyadic_weights() -> None:
    assert credit([touch(3, 1)], NOW, model=AttributionModel.TIME_DECAY) == [Credit(1, 10, Fraction(1))]
    result = credit([touch(1, 1), touch(4, 2)], NOW, model=AttributionModel.TIME_DECAY, half_life_days=5.0)
    assert sum(c.share for c in result) == 1
    assert math.isclose(float(result[0].share), 1 / (1 + 2 ** (-3 / 5)), rel_tol=1e-12)


def test_time_decay_does_not_underflow_with_a_tiny_half_life() -> None:
    touches = [touch(80, 1), touch(40, 2)]
    result = credit(touches, NOW, model=AttributionModel.TIME_DECAY, lookback_days=90, half_life_days=1e-6)
    # Both weights underflow to 0.0 when measured from the conversion; the newest touch gets everything.
    assert result == [Credit(2, 20, Fraction(1))]


# --- ordering and ties --------------------------------------------------------------------------------------------


def test_ties_at_the_same_timestamp_keep_input_order() -> None:
    same = [touch(2, 1), touch(2, 2), touch(2, 3)]
    assert credit(same, NOW, model=AttributionModel.FIRST_TOUCH) == [Credit(1, 10, Fraction(1))]
    assert credit(same, NOW, model=AttributionModel.LAST_TOUCH) == [Credit(3, 30, Fraction(1))]
    reversed_input = list(reversed(same))
    assert credit(reversed_input, NOW, model=AttributionModel.FIRST_TOUCH) == [Credit(3, 30, Fraction(1))]
    assert credit(reversed_input, NOW, model=AttributionModel.LAST_TOUCH) == [Credit(1, 10, Fraction(1))]


def test_ties_decide_the_ends_of_position_based() -> None:
    # 4 and 2 tie for the earliest instant, 5 and 3 for the latest: input order picks the ends.
    touches = [touch(1, 5), touch(9, 4), touch(9, 2), touch(1, 3)]
    assert credit(touches, NOW, model=AttributionModel.POSITION_BASED) == [
        Credit(3, 30, Fraction(2, 5)),
        Credit(4, 40, Fraction(2, 5)),
        Credit(2, 20, Fraction(1, 10)),
        Credit(5, 50, Fraction(1, 10)),
    ]


def test_equal_shares_are_ordered_by_campaign_then_version_with_none_last() -> None:
    touches = [
        touch(1, None),
        touch(2, 2, 21),
        TouchPoint(touched_at=days_before(3), campaign_id=1, version_id=None),
        touch(4, 2, 20),
        touch(5, 1, 11),
    ]
    assert credit(touches, NOW, model=AttributionModel.LINEAR) == [
        Credit(1, 11, Fraction(1, 5)),
        Credit(1, None, Fraction(1, 5)),
        Credit(2, 20, Fraction(1, 5)),
        Credit(2, 21, Fraction(1, 5)),
        Credit(None, None, Fraction(1, 5)),
    ]


def test_touches_in_other_time_zones_compare_by_instant() -> None:
    plus_two = timezone(timedelta(hours=2))
    later_local = TouchPoint(touched_at=days_before(1).astimezone(plus_two), campaign_id=2, version_id=20)
    assert credit([later_local, touch(2, 1)], NOW) == [Credit(2, 20, Fraction(1))]


# --- the window ---------------------------------------------------------------------------------------------------


def test_no_touches_is_direct() -> None:
    for model in AttributionModel:
        assert credit([], NOW, model=model) == DIRECT


def test_touches_outside_the_window_do_not_count() -> None:
    before_window = touch(29, 1)
    after_conversion = TouchPoint(touched_at=NOW + timedelta(seconds=1), campaign_id=2, version_id=20)
    inside = touch(3, 3)
    for model in AttributionModel:
        assert credit([before_window, after_conversion], NOW, model=model) == DIRECT
        assert credit([before_window, inside, after_conversion], NOW, model=model) == [Credit(3, 30, Fraction(1))]


@pytest.mark.parametrize("lookback", LOOKBACK_DAYS)
def test_lookback_boundary_is_inclusive(lookback: int) -> None:
    at_boundary = TouchPoint(touched_at=NOW - timedelta(days=lookback), campaign_id=1, version_id=10)
    just_outside = TouchPoint(touched_at=NOW - timedelta(days=lookback, microseconds=1), campaign_id=2, version_id=20)
    at_conversion = TouchPoint(touched_at=NOW, campaign_id=3, version_id=30)
    assert credit([just_outside], NOW, lookback_days=lookback) == DIRECT
    assert credit([just_outside, at_boundary], NOW, lookback_days=lookback) == [Credit(1, 10, Fraction(1))]
    assert credit([just_outside, at_boundary, at_conversion], NOW, model="first_touch", lookback_days=lookback) == [
        Credit(1, 10, Fraction(1))
    ]
    assert credit([at_boundary, at_conversion], NOW, lookback_days=lookback) == [Credit(3, 30, Fraction(1))]


def test_the_lookback_changes_which_touches_count() -> None:
    touches = [touch(0.5, 1), touch(5, 2), touch(20, 3), touch(60, 4)]
    first = {days: credit(touches, NOW, model="first_touch", lookback_days=days) for days in LOOKBACK_DAYS}
    assert first == {
        1: [Credit(1, 10, Fraction(1))],
        7: [Credit(2, 20, Fraction(1))],
        28: [Credit(3, 30, Fraction(1))],
        90: [Credit(4, 40, Fraction(1))],
    }


# --- merging ------------------------------------------------------------------------------------------------------


def test_repeated_versions_are_merged() -> None:
    touches = [touch(3, 1), touch(2, 2), touch(1, 1)]
    assert credit(touches, NOW, model=AttributionModel.LINEAR) == [
        Credit(1, 10, Fraction(2, 3)),
        Credit(2, 20, Fraction(1, 3)),
    ]
    # first and last are the same version: 2/5 + 2/5
    assert credit(touches, NOW, model=AttributionModel.POSITION_BASED) == [
        Credit(1, 10, Fraction(4, 5)),
        Credit(2, 20, Fraction(1, 5)),
    ]
    same_everywhere = [touch(3, 1), touch(2, 1), touch(1, 1)]
    for model in AttributionModel:
        assert credit(same_everywhere, NOW, model=model) == [Credit(1, 10, Fraction(1))]


def test_versions_of_one_campaign_stay_apart_and_unmatched_touches_pool() -> None:
    touches = [touch(4, 1, 10), touch(3, 1, 11), touch(2, None), touch(1, None)]
    assert credit(touches, NOW, model=AttributionModel.LINEAR) == [
        Credit(None, None, Fraction(1, 2)),
        Credit(1, 10, Fraction(1, 4)),
        Credit(1, 11, Fraction(1, 4)),
    ]


# --- money --------------------------------------------------------------------------------------------------------


def test_largest_remainder_thirds() -> None:
    result = credited_amounts([conversion("ord_1", 100, JOURNEY)], model=AttributionModel.LINEAR)
    assert result == [
        CreditedAmount(1, 10, "EUR", Fraction(1, 3), 34),
        CreditedAmount(2, 20, "EUR", Fraction(1, 3), 33),
        CreditedAmount(3, 30, "EUR", Fraction(1, 3), 33),
    ]


def test_largest_remainder_gives_leftovers_to_the_largest_remainders() -> None:
    # 7 x (2/5, 2/5, 1/5) = 2.8, 2.8, 1.4 -> floors 2, 2, 1 and the two leftover units go to the .8s.
    result = credited_amounts([conversion("ord_1", 7, JOURNEY)], model=AttributionModel.POSITION_BASED)
    assert [(r.campaign_id, r.amount) for r in result] == [(1, 3), (3, 3), (2, 1)]
    # 2 x thirds: remainders 2/3 each, ties go to the credits listed first.
    result = credited_amounts([conversion("ord_2", 2, JOURNEY)], model=AttributionModel.LINEAR)
    assert [(r.campaign_id, r.amount) for r in result] == [(1, 1), (2, 1), (3, 0)]
    # 1 x (4/7, 2/7, 1/7): the first credit takes the unit.
    touches = [touch(0, 1), touch(7, 2), touch(14, 3)]
    result = credited_amounts([conversion("ord_3", 1, touches)], model=AttributionModel.TIME_DECAY)
    assert [(r.campaign_id, r.amount) for r in result] == [(1, 1), (2, 0), (3, 0)]


def test_amounts_aggregate_per_version_and_currency() -> None:
    conversions = [
        conversion("ord_1", 900, [touch(2, 1), touch(1, 2)]),
        conversion("ord_2", 1000, [touch(3, 1)], currency="usd"),
        conversion("ord_3", 301, [touch(3, 1), touch(2, 2), touch(1, 3)]),
        conversion("ord_4", 500, []),
        conversion("ord_5", 250, [touch(1, 1)], currency="USD"),
        conversion("ord_6", 0, [touch(1, 4)]),
    ]
    assert credited_amounts(conversions, model=AttributionModel.LINEAR) == [
        # EUR: 1 -> 450 + 101, 2 -> 450 + 100, 3 -> 100, direct -> 500, 4 -> 0
        CreditedAmount(1, 10, "EUR", Fraction(5, 6), 551),
        CreditedAmount(2, 20, "EUR", Fraction(5, 6), 550),
        CreditedAmount(None, None, "EUR", Fraction(1), 500),
        CreditedAmount(3, 30, "EUR", Fraction(1, 3), 100),
        CreditedAmount(4, 40, "EUR", Fraction(1), 0),
        CreditedAmount(1, 10, "USD", Fraction(2), 1250),
    ]


def test_no_conversions_and_default_model() -> None:
    assert credited_amounts([]) == []
    assert credited_amounts([conversion("ord_1", 999, JOURNEY)]) == [CreditedAmount(3, 30, "EUR", Fraction(1), 999)]


def test_credited_amounts_uses_the_window() -> None:
    late = TouchPoint(touched_at=NOW + timedelta(hours=1), campaign_id=2, version_id=20)
    result = credited_amounts([conversion("ord_1", 500, [touch(8, 1), late])], lookback_days=7)
    assert result == [CreditedAmount(None, None, "EUR", Fraction(1), 500)]


# --- validation ---------------------------------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2025, 6, 1, 12, 0)
    with pytest.raises(ValueError, match="converted_at must be timezone-aware"):
        credit([], naive)
    with pytest.raises(ValueError, match="touched_at must be timezone-aware"):
        credit([TouchPoint(touched_at=naive, campaign_id=1, version_id=10)], NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        credited_amounts([conversion("ord_1", 100, [], converted_at=naive)])


@pytest.mark.parametrize("lookback", [0, 14, 30, -7, True, 7.0, "7"])
def test_unsupported_lookbacks_are_refused(lookback: object) -> None:
    with pytest.raises(ValueError, match=r"use one of: 1, 7, 28, 90"):
        credit(JOURNEY, NOW, lookback_days=lookback)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Lookback"):
        credited_amounts([conversion("ord_1", 1, JOURNEY)], lookback_days=lookback)  # type: ignore[arg-type]


@pytest.mark.parametrize("half_life", [0, 0.0, -1.0, math.nan, math.inf, "7", None])
def test_bad_half_lives_are_refused(half_life: object) -> None:
    with pytest.raises(ValueError, match="Half-life must be"):
        credit(JOURNEY, NOW, model=AttributionModel.TIME_DECAY, half_life_days=half_life)  # type: ignore[arg-type]


def test_integer_half_life_is_accepted() -> None:
    touches = [touch(0, 1), touch(7, 2)]
    assert credit(touches, NOW, model="time_decay", half_life_days=7) == [
        Credit(1, 10, Fraction(2, 3)),
        Credit(2, 20, Fraction(1, 3)),
    ]


@pytest.mark.parametrize("model", ["u_shaped", "LINEAR", "", None])
def test_unknown_models_are_refused(model: object) -> None:
    with pytest.raises(ValueError, match=r"Unknown attribution model .*last_touch, first_touch"):
        credit(JOURNEY, NOW, model=model)  # type: ignore[arg-type]


def test_models_are_accepted_as_strings() -> None:
    for model in AttributionModel:
        assert credit(JOURNEY, NOW, model=model.value) == credit(JOURNEY, NOW, model=model)


def test_bad_amounts_currencies_and_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="'ord_1': amount must not be negative"):
        credited_amounts([conversion("ord_1", -1, JOURNEY)])
    with pytest.raises(ValueError, match="amount must be integer minor units"):
        credited_amounts([conversion("ord_1", 9.99, JOURNEY)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="three-letter ISO 4217"):
        credited_amounts([conversion("ord_1", 100, JOURNEY, currency="EURO")])
    with pytest.raises(ValueError, match="'ord_1' appears twice"):
        credited_amounts([conversion("ord_1", 100, JOURNEY), conversion("ord_1", 100, JOURNEY)])


# --- properties ---------------------------------------------------------------------------------------------------

# Touch times from 100 days before to 2 days after the conversion, at whole seconds so that ties happen, plus the
# exact window edges.
_offsets = st.one_of(
    st.integers(min_value=-2 * 86_400, max_value=100 * 86_400).map(lambda s: timedelta(seconds=s)),
    st.sampled_from([timedelta(0), *(timedelta(days=d) for d in LOOKBACK_DAYS)]),
)
_touches = st.lists(
    st.builds(
        lambda offset, campaign, version: TouchPoint(touched_at=NOW - offset, campaign_id=campaign, version_id=version),
        _offsets,
        st.sampled_from([None, 1, 2, 3]),
        st.sampled_from([None, 10, 11]),
    ),
    max_size=12,
)
_half_lives = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
_options = st.fixed_dictionaries(
    {
        "model": st.sampled_from(list(AttributionModel)),
        "lookback_days": st.sampled_from(LOOKBACK_DAYS),
        "half_life_days": _half_lives,
    }
)


def _ids_key(campaign_id: int | None, version_id: int | None) -> tuple[bool, int, bool, int]:
    return (campaign_id is None, campaign_id or 0, version_id is None, version_id or 0)


@settings(max_examples=200, deadline=None)
@given(touches=_touches, options=_options)
def test_shares_are_positive_and_sum_to_exactly_one(touches: list[TouchPoint], options: dict[str, object]) -> None:
    result = credit(touches, NOW, **options)  # type: ignore[arg-type]
    assert result
    assert all(isinstance(c.share, Fraction) and c.share > 0 for c in result)
    assert sum(c.share for c in result) == 1
    keys = [(c.campaign_id, c.version_id) for c in result]
    assert len(set(keys)) == len(keys)
    assert result == sorted(result, key=lambda c: (-c.share, *_ids_key(c.campaign_id, c.version_id)))
    window_start = NOW - timedelta(days=options["lookback_days"])  # type: ignore[arg-type]
    counted = {(t.campaign_id, t.version_id) for t in touches if window_start <= t.touched_at <= NOW}
    assert set(keys) <= (counted or {(None, None)})


@settings(max_examples=200, deadline=None)
@given(
    journeys=st.lists(
        st.tuples(_touches, st.integers(min_value=0, max_value=10**12), st.sampled_from(["EUR", "USD", "JPY"])),
        max_size=5,
    ),
    options=_options,
)
def test_credited_amounts_are_whole_and_sum_to_each_amount(
    journeys: list[tuple[list[TouchPoint], int, str]], options: dict[str, object]
) -> None:
    conversions = [
        conversion(f"ord_{index}", amount, touches, currency=currency)
        for index, (touches, amount, currency) in enumerate(journeys)
    ]
    for item in conversions:
        single = credited_amounts([item], **options)  # type: ignore[arg-type]
        assert all(isinstance(r.amount, int) and r.amount >= 0 for r in single)
        assert sum(r.amount for r in single) == item.amount
        assert sum(r.conversions for r in single) == 1

    result = credited_amounts(conversions, **options)  # type: ignore[arg-type]
    totals: defaultdict[str, int] = defaultdict(int)
    counts: defaultdict[str, Fraction] = defaultdict(Fraction)
    for item in conversions:
        totals[item.currency] += item.amount
        counts[item.currency] += 1
    assert {r.currency for r in result} == set(totals)
    for currency, total in totals.items():
        rows = [r for r in result if r.currency == currency]
        assert sum(r.amount for r in rows) == total
        assert sum(r.conversions for r in rows) == counts[currency]
    assert all(r.amount >= 0 and r.conversions > 0 for r in result)
    assert result == sorted(result, key=lambda r: (r.currency, -r.amount, *_ids_key(r.campaign_id, r.version_id)))
