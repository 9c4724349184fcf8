from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import wrapt
from reflex.state import State
from sqlmodel import Session, select

from app import runtime
from app.models import CampaignVersion, Event, Role
from app.services import accounts, campaigns, ingest, keys
from app.services import install as install_service
from app.services.ingest import IngestContext, Source, ingest_now
from app.state import live
from app.state.format import format_time
from app.state.live import InstallState, OverviewState, poll_live, read_install, read_overview
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import add_member, make_owner
from tests.utils.states import sign_in, substate

SPRING = {"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": "spring"}]}]}


def test_install_shows_snippet_waits_then_receives(root: State, db: Session) -> None:
    account, owner_user, owner = make_owner(db)
    key = keys.create_key(session=db, actor=owner, kind="publishable", origins=["https://shop.example.com"])
    db.commit()
    sign_in(root, db, owner_user)
    install = substate(root, InstallState)
    install.load_install()
    assert key.plaintext in install.snippet and "pixel.js" in install.snippet
    assert install.origins == ["https://shop.example.com"]
    assert install.received is False

    install.send_test_event()  # a test event does not count as the shop's first event
    assert install.received is False
    assert [e["source"] for e in install.recent] == ["test"]
    assert db.exec(select(Event)).one().source == "test"

    ingest_now(
        [event(url="https://shop.example.com/p")],
        IngestContext(account_id=account.id, source=Source.BROWSER, user_agent=DESKTOP_UA),
    )
    install._load_live()
    assert install.received is True and install.first_event["url"] == "https://shop.example.com/p"


def test_overview_counts_today_for_any_role(root: State, db: Session) -> None:
    account, _, _ = make_owner(db)
    viewer, _ = add_member(db, account, Role.VIEWER)
    ctx = IngestContext(account_id=account.id, source=Source.BROWSER, user_agent=DESKTOP_UA)
    ingest_now(
        [
            event(visitor_id="a", session_id="s1"),
            event(visitor_id="a", session_id="s1"),
            event(visitor_id="b", session_id="s2"),
        ],
        ctx,
    )
    sign_in(root, db, viewer)
    overview = substate(root, OverviewState)
    overview.load_overview()
    assert (overview.events_today, overview.visitors_today, overview.sessions_today) == (3, 2, 2)
    assert overview.has_events and len(overview.recent) == 3
    assert overview.derived_lag == "Visitors and sessions: up to date"


def test_overview_shows_how_far_visitors_and_sessions_trail_the_events(root: State, db: Session) -> None:
    """Events the writer committed but has not derived yet: the counts trail them, and the overview says so."""
    account, owner, _ = make_owner(db)
    rows = ingest.prepare([event(visitor_id="a", session_id="s1")], IngestContext(
        account_id=account.id, source=Source.BROWSER, user_agent=DESKTOP_UA))[1]  # fmt: skip
    ingest.write_rows(db, account.id, rows)  # the writer's transaction; its pass has not run yet
    db.commit()
    sign_in(root, db, owner)
    overview = substate(root, OverviewState)
    overview.load_overview()
    assert (overview.events_today, overview.sessions_today) == (1, 0)
    assert overview.derived_lag.startswith("Visitors and sessions: events up to ")
    ingest.catch_up()
    overview.load_overview()
    assert (overview.events_today, overview.sessions_today) == (1, 1)
    assert overview.derived_lag == "Visitors and sessions: up to date"


def test_live_pages_stay_quiet_for_a_signed_out_visitor(root: State, db: Session) -> None:
    # The layout queues check_login (which redirects) and then the page's on_load: that one must not raise.
    install = substate(root, InstallState)
    assert install.load_install() is None and install.snippet == ""
    assert "error" in str(install.send_test_event().args)
    overview = substate(root, OverviewState)
    assert overview.load_overview() is None and not overview.is_authenticated
    assert db.exec(select(Event)).first() is None


def test_viewer_cannot_send_a_test_event(root: State, db: Session) -> None:
    account, _, _ = make_owner(db)
    viewer, _ = add_member(db, account, Role.VIEWER)
    sign_in(root, db, viewer)
    install = substate(root, InstallState)
    install.load_install()
    assert install.can_edit_marketing is False
    toast = str(install.send_test_event().args)
    assert '"error"' in toast and "Your role (viewer) cannot edit campaigns and pixels" in toast
    assert db.exec(select(Event)).first() is None


def test_the_poller_reads_in_a_plain_function(db: Session) -> None:
    """What the background poll runs in a worker thread: no state, only the session's key (its token's hash)."""
    account, owner_user, _ = make_owner(db)
    token = accounts.start_session(session=db, user=owner_user)
    db.commit()
    ingest_now(
        [event(visitor_id="a", session_id="s1")],
        IngestContext(account_id=account.id, source=Source.BROWSER, user_agent=DESKTOP_UA),
    )
    context, data = poll_live(accounts.session_token_hash(token), read_overview)
    assert context is not None and context.email == owner_user.email
    assert data is not None and (data.events, data.visitors, data.sessions) == (1, 1, 1) and len(data.recent) == 1
    assert poll_live(accounts.session_token_hash("not-a-token"), read_install) == (None, None)
    assert poll_live("", read_install) == (None, None)


class _BackgroundProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """Stands in for Reflex's StateProxy (also a wrapt proxy): ``async with self`` around every state access."""

    async def __aenter__(self) -> _BackgroundProxy:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


def test_the_watch_polls_off_the_event_loop_and_shows_new_events(
    root: State, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    install = substate(root, InstallState)
    install.load_install()
    assert install.received is False
    ingest_now(
        [event(url="https://shop.example.com/p")],
        IngestContext(account_id=account.id, source=Source.BROWSER, user_agent=DESKTOP_UA),
    )
    threads: list[str] = []
    real_poll = live.poll_live

    def poll(token: str, read: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real_poll(token, read)

    monkeypatch.setattr(live, "poll_live", poll)
    monkeypatch.setattr(live, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(live, "MAX_WATCH_SECONDS", 0.02)  # two polls
    # In a thread of its own: after the browser tests, Playwright's sync API keeps a loop running in this one.
    runner = threading.Thread(target=lambda: asyncio.run(InstallState._watch(_BackgroundProxy(install))))
    runner.start()
    runner.join(30)
    assert len(threads) == 2 and runner.name not in threads  # read in worker threads, not on the event loop
    assert install.received is True and install.first_event["url"] == "https://shop.example.com/p"
    assert install.watching is False


def test_latest_events_show_the_receipt_time_they_are_sorted_by_and_the_matched_campaign(
    root: State, db: Session
) -> None:
    account, owner_user, owner = make_owner(db)
    made = campaigns.create_campaign(session=db, actor=owner, name="Spring sale", channel="meta", config=SPRING)
    campaigns.publish_draft(session=db, actor=owner, campaign_public_id=made.public_id)
    campaigns.save_draft(session=db, actor=owner, campaign_public_id=made.public_id, config=SPRING | {"notes": "B"})
    campaigns.publish_draft(session=db, actor=owner, campaign_public_id=made.public_id)
    for version in db.exec(select(CampaignVersion)):  # live since before the late event (v1, then v2)
        version.published_at = datetime.now(UTC) - timedelta(minutes=60 if version.number == 1 else 30)
        db.add(version)
    db.commit()
    runtime.current().campaign_matchers.clear()
    ctx = IngestContext(account_id=account.id, source=Source.BROWSER, user_agent=DESKTOP_UA)
    sent_late = datetime.now(UTC) - timedelta(minutes=3)  # a batch the browser kept while offline
    ingest_now([event(visitor_id="ann", session_id="s1", utm_campaign="spring", timestamp=sent_late.isoformat())], ctx)
    ingest_now([event(visitor_id="bob", session_id="s2", utm_campaign="winter")], ctx)  # no campaign takes it
    ingest_now([event(visitor_id="cy", session_id="s3")], ctx)  # no UTM, no click id
    install_service.record_test_event(account_id=account.id, user_agent=DESKTOP_UA)
    sign_in(root, db, owner_user)
    overview = substate(root, OverviewState)
    overview.load_overview()

    recent = overview.recent
    assert [e["visitor"] for e in recent] == ["paidsignal-test", "cy", "bob", "ann"]  # newest received first
    stored = {e.visitor_id: e for e in db.exec(select(Event))}
    for item in recent:  # the time shown is the receipt time the list is sorted by
        assert item["time"] == format_time(stored[item["visitor"]].received_at, "Europe/Paris", seconds=True)
    by_visitor = {e["visitor"]: e for e in recent}
    ann = by_visitor["ann"]
    assert ann["campaign"] == "Spring sale v2"  # the matched campaign and version, not the raw utm_campaign
    assert ann["event_time"] == format_time(sent_late, "Europe/Paris", seconds=True)[11:]  # its own time, below
    assert by_visitor["cy"]["event_time"] == ""  # received as it happened: one time only
    assert (by_visitor["bob"]["campaign"], by_visitor["cy"]["campaign"]) == ("unmatched", "direct")
    assert (by_visitor["paidsignal-test"]["campaign"], by_visitor["paidsignal-test"]["source"]) == ("—", "test")
