from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select, update

from app.models import Event, Touch, Visitor, VisitSession
from app.services import ingest
from app.services.ingest import GroupCommitWriter, IngestContext, Source, ingest_now
from app.services.sessions import derived_up_to
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import make_owner


def _ctx(account_id: int) -> IngestContext:
    return IngestContext(account_id=account_id, source=Source.BROWSER, user_agent=DESKTOP_UA, ip="203.0.113.9")


def _at(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=2) + timedelta(minutes=minutes)).isoformat()


def test_sessions_visitors_and_touches_are_derived(db: Session) -> None:
    account, _, _ = make_owner(db)
    ingest_now(
        [
            event(
                visitor_id="v",
                session_id="s1",
                timestamp=_at(0),
                utm_source="meta",
                utm_campaign="spring",
                fbclid="AbC",
                url="https://shop.example.com/?utm_campaign=spring&fbclid=AbC",
                referrer="https://facebook.com/",
            ),
            event("add_to_cart", visitor_id="v", session_id="s1", timestamp=_at(5), url="https://shop.example.com/p/1"),
            event(visitor_id="v", session_id="s2", timestamp=_at(60), gclid="G-1", utm_campaign="summer"),
        ],
        _ctx(account.id),
    )
    visitor = db.exec(select(Visitor)).one()
    assert visitor.event_count == 3 and visitor.first_seen_at < visitor.last_seen_at
    assert visitor.fbc is not None and visitor.fbc.startswith("fb.1.") and visitor.fbc.endswith(".AbC")
    s1 = db.exec(select(VisitSession).where(VisitSession.session_key == "s1")).one()
    assert s1.event_count == 2 and s1.utm_campaign == "spring" and s1.referrer == "https://facebook.com/"
    assert s1.landing_url == "https://shop.example.com/?utm_campaign=spring&fbclid=AbC"
    touches = db.exec(select(Touch).order_by(col(Touch.touched_at))).all()
    assert [(t.session_key, t.is_first, t.click_id_type, t.click_id) for t in touches] == [
        ("s1", True, "fbclid", "AbC"),
        ("s2", False, "gclid", "G-1"),
    ]


def test_fbc_is_built_in_milliseconds_and_keeps_fbclid_case(db: Session) -> None:
    account, _, _ = make_owner(db)
    at = datetime(2026, 11, 27, 12, 0, 0, 123000, tzinfo=UTC)
    assert ingest.build_fbc("AbCdEf_-9", at) == "fb.1.1795780800123.AbCdEf_-9"
    ingest_now([event(fbclid="IwAR3xYz", timestamp=datetime.now(UTC).isoformat())], _ctx(account.id))
    stored = db.exec(select(Event)).one()
    parts = stored.fbc.split(".")  # type: ignore[union-attr]
    assert parts[:2] == ["fb", "1"] and len(parts[2]) == 13 and parts[3] == "IwAR3xYz"


def test_a_new_fbclid_replaces_the_visitors_fbc(db: Session) -> None:
    account, _, _ = make_owner(db)
    ingest_now([event(session_id="a", fbclid="First", timestamp=_at(0))], _ctx(account.id))
    ingest_now([event(session_id="a", fbc="fb.1.1.Other", timestamp=_at(1))], _ctx(account.id))
    assert db.exec(select(Visitor)).one().fbc.endswith(".First")  # type: ignore[union-attr]
    ingest_now([event(session_id="b", fbclid="Second", timestamp=_at(40))], _ctx(account.id))
    db.expire_all()
    assert db.exec(select(Visitor)).one().fbc.endswith(".Second")  # type: ignore[union-attr]


def test_sessions_are_inferred_after_30_minutes_only_without_a_client_session(db: Session) -> None:
    account, _, _ = make_owner(db)
    ingest_now([event(session_id=None, timestamp=_at(0)), event(session_id=None, timestamp=_at(20))], _ctx(account.id))
    ingest_now([event(session_id=None, timestamp=_at(45))], _ctx(account.id))  # 25 min after the last
    ingest_now([event(session_id=None, timestamp=_at(90))], _ctx(account.id))  # 45 min gap: new session
    keys = [e.session_key for e in db.exec(select(Event).order_by(col(Event.occurred_at))).all()]
    assert keys[0] == keys[1] == keys[2] != keys[3]
    assert all(k and k.startswith("inf_") for k in keys)
    sessions = db.exec(select(VisitSession).order_by(col(VisitSession.started_at))).all()
    assert [(s.inferred, s.event_count) for s in sessions] == [(True, 3), (True, 1)]


def test_a_late_event_extends_the_session_backwards(db: Session) -> None:
    account, _, _ = make_owner(db)
    ingest_now([event(session_id="s", timestamp=_at(10), url="https://shop.example.com/p")], _ctx(account.id))
    ingest_now(
        [event(session_id="s", timestamp=_at(2), url="https://shop.example.com/landing", utm_campaign="late")],
        _ctx(account.id),
    )
    row = db.exec(select(VisitSession)).one()
    assert row.landing_url == "https://shop.example.com/landing" and row.utm_campaign == "late"
    assert row.event_count == 2 and row.last_event_at > row.started_at
    assert db.exec(select(Touch)).one().utm_campaign == "late"


def test_concurrent_requests_share_transactions_and_are_all_committed(db: Session) -> None:
    account, _, _ = make_owner(db)
    from app.db import get_engine

    writer = GroupCommitWriter(get_engine)
    barrier = threading.Barrier(16)
    results: list[tuple[int, int]] = []

    def send(n: int) -> None:
        rows = ingest.prepare([event(visitor_id=f"v{n}", session_id=f"s{n}") for _ in range(20)], _ctx(account.id))[1]
        barrier.wait()
        results.append(writer.submit(account.id, rows).result(30))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.stop()
    assert sorted(results) == [(20, 0)] * 16
    assert len(db.exec(select(Event)).all()) == 320
    assert writer.requests == 16 and writer.transactions < 16  # grouped


def test_one_failing_request_does_not_fail_the_group(db: Session) -> None:
    account, _, _ = make_owner(db)
    from app.db import get_engine

    writer = GroupCommitWriter(get_engine)
    good = ingest.prepare([event()], _ctx(account.id))[1]
    bad = ingest.prepare([event()], _ctx(account.id))[1]
    bad[0]["account_id"] = 999_999  # violates the foreign key
    futures = [writer.submit(account.id, good), writer.submit(999_999, bad)]
    assert futures[0].result(10) == (1, 0)
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError
        futures[1].result(10)
    writer.stop()
    assert len(db.exec(select(Event)).all()) == 1


def test_bot_list_rules() -> None:
    assert ingest.is_bot("")
    assert ingest.is_bot("curl/8.4.0")
    assert ingest.is_bot("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)")
    assert ingest.is_bot(DESKTOP_UA.replace("Chrome/", "HeadlessChrome/"))
    assert not ingest.is_bot(DESKTOP_UA)
    assert not ingest.is_bot(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    )


def test_an_old_event_without_session_does_not_stretch_the_latest_session(db: Session) -> None:
    account, _, _ = make_owner(db)
    ingest_now([event(session_id=None, timestamp=_at(100))], _ctx(account.id))
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    ingest_now([event(session_id=None, timestamp=three_days_ago, url="https://shop.example.com/old")], _ctx(account.id))
    sessions = db.exec(select(VisitSession).order_by(col(VisitSession.started_at))).all()
    assert len(sessions) == 2 and [s.event_count for s in sessions] == [1, 1]
    assert sessions[0].landing_url == "https://shop.example.com/old"


def test_a_cancelled_request_does_not_stop_the_writer(db: Session) -> None:
    account, _, _ = make_owner(db)
    from app.db import get_engine

    writer = GroupCommitWriter(get_engine)
    gate = threading.Event()
    slow_engine = get_engine

    def engine_after_gate():  # type: ignore[no-untyped-def]
        gate.wait(10)
        return slow_engine()

    writer._engine_factory = engine_after_gate  # hold the first group until all three are queued
    rows = [ingest.prepare([event()], _ctx(account.id))[1] for _ in range(3)]
    futures = [writer.submit(account.id, r) for r in rows]
    assert futures[1].cancel()  # the client of request 2 went away
    gate.set()
    assert futures[0].result(10) == (1, 0) and futures[2].result(10) == (1, 0)
    later = writer.submit(account.id, ingest.prepare([event()], _ctx(account.id))[1])
    assert later.result(10) == (1, 0)
    writer.stop()
    assert len(db.exec(select(Event)).all()) == 4  # the cancelled one was written too; a retry is a duplicate


def test_events_are_answered_before_derivation_and_the_writer_derives_them_after(db: Session) -> None:
    """The writer answers once the events are committed, then derives them in one pass after its delay; every
    event counts once in its visitor and session, and the flag that queued it is cleared."""
    account, _, _ = make_owner(db)
    from app.db import get_engine

    writer = GroupCommitWriter(get_engine, derive_delay=60)
    rows = ingest.prepare([event(visitor_id="v", session_id="s", utm_campaign="spring") for _ in range(3)],
                          _ctx(account.id))[1]  # fmt: skip
    assert writer.submit(account.id, rows).result(10) == (3, 0)
    pending = db.exec(select(Event).where(col(Event.derive_pending).is_not(None))).all()
    assert len(pending) == 3 and db.exec(select(VisitSession)).first() is None
    assert derived_up_to(db, account.id) == min(e.received_at for e in pending)
    writer.stop()  # a clean stop derives what is left (else the pass comes after derive_delay)
    db.expire_all()
    assert db.exec(select(VisitSession)).one().event_count == 3
    assert db.exec(select(Visitor)).one().event_count == 3
    assert len(db.exec(select(Touch)).all()) == 1
    assert db.exec(select(Event).where(col(Event.derive_pending).is_not(None))).first() is None
    assert derived_up_to(db, account.id) is None


def test_the_writer_derives_on_its_own_within_its_delay(db: Session) -> None:
    account, _, _ = make_owner(db)
    from app.db import get_engine

    writer = GroupCommitWriter(get_engine, derive_delay=0)
    rows = ingest.prepare([event(visitor_id="v", session_id="s")], _ctx(account.id))[1]
    writer.submit(account.id, rows).result(10)
    deadline = time.monotonic() + 30  # not a timing assertion: waits for the pass, however slow the machine
    while derived_up_to(db, account.id) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    db.expire_all()
    assert db.exec(select(VisitSession)).one().event_count == 1
    writer.stop()


def test_events_a_crash_left_underived_are_derived_once_by_the_job(db: Session) -> None:
    """Committed events whose pass never ran (the process died after the answer) are derived by derive_visits,
    once: a second run, or a pass racing it, finds nothing left. Events a live writer is about to derive are left
    to it."""
    account, _, _ = make_owner(db)
    other, _, _ = make_owner(db)
    from app.jobs.derive_visits import derive_visits

    for acc, n in ((account, 4), (other, 2)):
        rows = ingest.prepare([event(visitor_id="v", session_id=None, timestamp=_at(k)) for k in range(n)],
                              _ctx(acc.id))[1]  # fmt: skip
        ingest.write_rows(db, acc.id, rows)  # the writer's transaction, without its pass
        db.commit()
        assert derive_visits() is None  # just stored: the writer's pass is due within its delay
    db.exec(update(Event).values(received_at=datetime.now(UTC) - timedelta(minutes=1)))  # the crash was a minute ago
    db.commit()

    assert derive_visits() == "6 event(s) derived"
    assert derive_visits() is None and ingest.catch_up() == 0
    sessions = db.exec(select(VisitSession).order_by(col(VisitSession.account_id))).all()
    assert [(s.account_id, s.event_count, s.inferred) for s in sessions] == [(account.id, 4, True), (other.id, 2, True)]
    # Inferred session keys are written back to the events, as when they were inferred before the insert.
    keys = {e.session_key for e in db.exec(select(Event).where(Event.account_id == account.id))}
    assert keys == {sessions[0].session_key}


def test_an_event_that_cannot_be_derived_does_not_hold_up_the_others(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass that fails is retried event by event: the one that fails alone is logged and left out (its flag
    cleared), every other event is derived, and later passes run as before."""
    account, _, _ = make_owner(db)
    from app.services import sessions as session_service

    rows = ingest.prepare([event(visitor_id=v, session_id=v) for v in ("a", "poison", "b")], _ctx(account.id))[1]
    ingest.write_rows(db, account.id, rows)
    db.commit()
    real = session_service.apply_events

    def failing(session: Session, account_id: int, events: list[Any]) -> None:
        if any(e.visitor_id == "poison" for e in events):
            raise ValueError("cannot derive this one")
        real(session, account_id, events)

    monkeypatch.setattr(session_service, "apply_events", failing)
    assert ingest.catch_up() == 3  # handled: two derived, one left out
    assert sorted(s.visitor_key for s in db.exec(select(VisitSession))) == ["a", "b"]
    assert derived_up_to(db, account.id) is None
    monkeypatch.setattr(session_service, "apply_events", real)
    ingest.ingest_now([event(visitor_id="c", session_id="c")], _ctx(account.id))
    assert sorted(s.visitor_key for s in db.exec(select(VisitSession))) == ["a", "b", "c"]


def test_a_sessions_fields_take_the_first_value_each_gets_in_time_order(db: Session) -> None:
    """One pass, one session, events sent out of time order: each copied field keeps the first value it got
    (an empty one counts as none), later events fill only what is still empty."""
    account, _, _ = make_owner(db)
    ingest_now(
        [
            event(session_id="s", timestamp=_at(2), utm_source="second", gclid="G-late", fbp="fb.1.2.late"),
            event(session_id="s", timestamp=_at(0), utm_campaign="", url="https://shop.example.com/landing"),
            event(session_id="s", timestamp=_at(1), utm_source="first", utm_campaign="spring"),
            event(session_id="s", timestamp=_at(3), utm_medium="cpc", utm_source="third"),
        ],
        _ctx(account.id),
    )
    row = db.exec(select(VisitSession)).one()
    assert (row.utm_source, row.utm_campaign, row.utm_medium, row.gclid, row.fbp) == (
        "first",
        "spring",
        "cpc",
        "G-late",
        "fb.1.2.late",
    )
    assert row.landing_url == "https://shop.example.com/landing" and row.event_count == 4


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Sao_Paulo", "Australia/Lord_Howe"])
def test_a_pass_marks_the_local_days_of_its_sessions(zone: str) -> None:
    """The days a pass marks for the traffic rollups: the local days of every session's start and last event,
    whether the pass spans seconds across a midnight or several days."""
    from zoneinfo import ZoneInfo

    from app.services import rollups
    from app.services.sessions import _days_of

    tz = ZoneInfo(zone)
    midnight = datetime(2026, 10, 25, tzinfo=tz).astimezone(UTC)
    for spread in (timedelta(seconds=3), timedelta(hours=22, minutes=59), timedelta(hours=30), timedelta(days=6)):
        sessions = [
            {
                "started_at": midnight - spread / 2 + spread * k / 7,
                "last_event_at": midnight - spread / 2 + spread * k / 6,
            }
            for k in range(7)
        ]
        expected = {rollups.local_day(s["started_at"], tz) for s in sessions}
        expected |= {rollups.local_day(s["last_event_at"], tz) for s in sessions}
        assert _days_of(sessions, tz) == expected
    assert _days_of([], tz) == set()
