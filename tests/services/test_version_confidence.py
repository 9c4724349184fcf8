"""Versions compared with confidence, on a shop whose answers are worked out here: converted sessions and the money
of their orders per version (refunds and renewals by the window's end only), the winner and its language, the
account's threshold, the pair chosen by the reader, and the shop's own change over the same windows."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import Session

from app.services import accounts, rollups
from app.services.errors import NotFound, ValidationFailed
from app.services.metrics import confidence
from app.services.metrics.versions import SEASONALITY_NOTE, pair_summary, version_report
from tests.utils.world import World, all_models, utc


def _shop(db: Session, *, v1: tuple[int, int], v2: tuple[int, int]) -> World:
    """Campaign A: ``v1`` = (sessions, converted) on Jan 5, ``v2`` likewise on Mar 12; each converted session one
    order of 50.00 EUR. Direct traffic: 100 sessions on each of those days, 5 then 10 converted."""
    w = World(db)
    for version, day, (sessions, converted) in ((w.a1, utc(2026, 1, 5, 10), v1), (w.a2, utc(2026, 3, 12, 10), v2)):
        for i in range(sessions):
            key = w.visit(day + timedelta(seconds=i), version, f"{version.number}-{i}")
            if i < converted:
                w.order(day + timedelta(seconds=i, minutes=10), all_models(version), amount=5_000, session=key)
    for day, converted in ((utc(2026, 1, 5, 10), 5), (utc(2026, 3, 12, 10), 10)):
        for i in range(100):
            key = w.visit(day + timedelta(seconds=i), None, f"direct-{day.month}-{i}")
            if i < converted:
                w.order(day + timedelta(seconds=i, minutes=10), all_models(None), amount=5_000, session=key)
    db.commit()
    return w


def test_a_clear_winner_with_every_figure(db: Session) -> None:
    w = _shop(db, v1=(200, 10), v2=(200, 40))
    # In v1's window (Jan 1 – Mar 9): one order refunded in full, one renewed once; a renewal after the window ends
    # does not count. A v2 session whose checkout named no session (its visitor's latest session converted).
    [first, second] = [o for o in db.exec(rollups.select(rollups.Order)).all() if o.campaign_version_id == w.a1.id][:2]
    w.refund(first, utc(2026, 1, 20), 5_000)
    w.renewal(second, utc(2026, 2, 5), 1_000)
    w.renewal(second, utc(2026, 3, 20), 1_000)  # after v1's window
    w.order(utc(2026, 3, 12, 12), all_models(w.a2), amount=2_000, currency="USD", visitor="2-100")
    db.commit()
    rollups.rebuild(db, w.account_id)

    report = version_report(session=db, account_id=w.account_id, campaign_public_id=w.a.public_id)
    assert report.threshold == 0.95
    [v1, v2] = report.windows
    assert (v1.figures.sessions, v1.figures.converted_sessions) == (200, 10)
    assert (v2.figures.sessions, v2.figures.converted_sessions) == (200, 41)  # 40 named + the unnamed checkout
    assert v1.revenue["EUR"].total == 10 * 5_000 - 5_000 + 1_000 and v1.revenue["EUR"].per_session == 230
    assert v2.revenue["EUR"].total == 40 * 5_000 and v2.revenue["USD"].total == 2_000
    [pair] = report.pairs
    assert pair.rate.p_b_better == pytest.approx(confidence.probability_b_beats_a(10, 200, 41, 200))
    assert pair.rate.p_b_better > 0.999
    eur, usd = pair.revenue
    assert (eur.currency, eur.per_session_a, eur.per_session_b) == ("EUR", 230, 1_000)
    assert eur.p_b_better > 0.99 and eur.diff_low is not None and eur.diff_low > 0
    assert (usd.currency, usd.per_session_a, usd.per_session_b) == ("USD", 0, 10)  # never summed with EUR
    assert pair.winner is v2
    assert pair_summary(pair).startswith("v2 is the winner: better on conversion rate (")
    # The whole shop over the same windows (direct 5 % → 10 %, campaign A's sessions included).
    assert pair.shop_rate.previous == pytest.approx((10 + 5) / 300)
    assert pair.shop_rate.current == pytest.approx((41 + 10) / 300)
    assert "one after another" in SEASONALITY_NOTE
    # Same data, same figures: the bootstrap's seed is fixed.
    again = version_report(session=db, account_id=w.account_id, campaign_public_id=w.a.public_id).pairs[0]
    assert again.revenue == pair.revenue


def test_not_enough_data_says_what_is_missing(db: Session) -> None:
    w = _shop(db, v1=(20, 1), v2=(20, 2))
    rollups.rebuild(db, w.account_id)
    [pair] = version_report(session=db, account_id=w.account_id, campaign_public_id=w.a.public_id).pairs
    assert pair.winner is None
    assert [v.measure for v in pair.verdicts] == ["conversion_rate"]  # 20 sessions: the bootstrap does not decide
    assert not pair.revenue[0].enough_sessions
    expected = confidence.sessions_to_detect(3 / 40)
    assert expected is not None and pair.rate.more_sessions == expected - 20
    summary = pair_summary(pair)
    assert summary.startswith("Not enough data to call a winner: v2's conversion rate is higher with")
    assert f"about {expected - 20:,} more sessions per version would tell a 10% difference" in summary


def test_the_accounts_threshold_decides(db: Session) -> None:
    w = _shop(db, v1=(400, 20), v2=(400, 34))  # P(v2 better) ≈ 0.98
    rollups.rebuild(db, w.account_id)
    p = confidence.probability_b_beats_a(20, 400, 34, 400)
    assert 0.95 < p < 0.99
    [pair] = version_report(session=db, account_id=w.account_id, campaign_public_id=w.a.public_id).pairs
    assert pair.verdicts[0].better == "b"
    accounts.set_winner_probability(session=db, actor=w.actor, percent=99)
    db.commit()
    [pair] = version_report(session=db, account_id=w.account_id, campaign_public_id=w.a.public_id).pairs
    assert pair.threshold == 0.99 and pair.verdicts[0].better is None
    assert "below the 99% required" in pair_summary(pair)
    for bad in (50, 100, 0):
        with pytest.raises(ValidationFailed, match="between 51 and 99"):
            accounts.set_winner_probability(session=db, actor=w.actor, percent=bad)


def test_any_two_versions_chosen(db: Session) -> None:
    w = _shop(db, v1=(50, 5), v2=(50, 5))
    rollups.rebuild(db, w.account_id)
    report = version_report(session=db, account_id=w.account_id, campaign_public_id=w.a.public_id, a="v2", b="1")
    assert report.chosen is not None and (report.chosen.a.number, report.chosen.b.number) == (2, 1)
    by_id = version_report(
        session=db, account_id=w.account_id, campaign_public_id=w.a.public_id, a=w.a1.public_id, b=w.a2.public_id
    )
    assert by_id.chosen is not None and by_id.chosen.rate.p_b_better == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(NotFound, match="No version 'v9'"):
        version_report(session=db, account_id=w.account_id, campaign_public_id=w.a.public_id, a="v1", b="v9")
    with pytest.raises(ValidationFailed, match="two different"):
        version_report(session=db, account_id=w.account_id, campaign_public_id=w.a.public_id, a="v1", b="1")
    with pytest.raises(ValidationFailed, match="Name two versions"):
        version_report(session=db, account_id=w.account_id, campaign_public_id=w.a.public_id, a="v1")
    # Another account's campaign is not found.
    other = World(db)
    with pytest.raises(NotFound):
        version_report(session=db, account_id=other.account_id, campaign_public_id=w.a.public_id)


def test_a_stale_rollup_never_fails_the_read(db: Session) -> None:
    w = _shop(db, v1=(10, 2), v2=(10, 2))  # no rollup rebuild: the rollups have no sessions yet
    report = version_report(session=db, account_id=w.account_id, campaign_public_id=w.a.public_id)
    assert report.windows[0].revenue["EUR"].sessions == 2
    assert report.windows[0].start == date(2026, 1, 1)


def test_enough_sessions_and_still_no_winner_says_the_difference_is_small() -> None:
    from app.services.metrics import Figures
    from app.services.metrics.versions import VersionWindow, compare_windows

    def window(number: int, converted: int) -> VersionWindow:
        day = date(2026, number, 1)
        return VersionWindow(
            f"cv_{number}", number, day, day, 30, Figures(sessions=100_000, converted_sessions=converted)
        )

    pair = compare_windows(window(1, 5_000), window(2, 5_050), threshold=0.95)
    assert pair.winner is None and pair.rate.more_sessions == 0
    assert pair_summary(pair).endswith(
        "; there are enough sessions to tell a 10% difference, so any real difference is smaller than that."
    )
