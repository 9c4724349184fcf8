"""The sender's batches, over real HTTP to the recording server: deliveries of one pixel share a request up to the
provider's limit, each keeping its own attempt, status and part of the request; a batch's outcome is one
transaction; Meta's refusal of a whole batch for one bad event is halved down to that event; the Data Manager API's
request rate is kept per project; GA4's distinct buyers go in parallel requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from app.db import get_engine
from app.integrations import google_ads, meta_capi
from app.models import DeliveryAttempt
from app.services import pixels
from app.settings import get_settings
from tests.utils.ad_platforms import AdPlatforms
from tests.utils.conversions import META_PIXEL, META_TOKEN, deliveries, drain, make_pixels, pay, send_as_job
from tests.utils.payments import Shop, make_shop
from tests.utils.stripe_fakes import StripeRecorder

pytestmark = pytest.mark.usefixtures("strict_lock_order")


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def _meta_only(db: Session, shop: Shop) -> None:
    pixels.create_pixel(session=db, actor=shop.actor, provider="meta", name="Meta", settings={"pixel_id": META_PIXEL},
                        credentials={"access_token": META_TOKEN}, events=["purchase"], is_default=True)  # fmt: skip
    db.commit()


def _attempts(db: Session) -> dict[int, list[DeliveryAttempt]]:
    with Session(db.get_bind()) as session:
        rows = session.exec(select(DeliveryAttempt).order_by(DeliveryAttempt.id)).all()  # type: ignore[arg-type]
    out: dict[int, list[DeliveryAttempt]] = {}
    for row in rows:
        out.setdefault(row.delivery_id, []).append(row)
    return out


@pytest.fixture
def commits() -> Iterator[list[int]]:
    """Counts the database commits while the test runs (one entry per commit)."""
    seen: list[int] = []

    def count(_connection: Any) -> None:
        seen.append(1)

    engine = get_engine()
    event.listen(engine, "commit", count)
    yield seen
    event.remove(engine, "commit", count)


# --- (1) batches with per-delivery truth ------------------------------------------------------------------------------


def test_one_request_per_pixel_carries_every_due_event_each_delivery_keeps_its_own_part(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    orders = [pay(shop, db, ga_client_id=f"{n}00.1732000000") for n in range(1, 6)]
    report = send_as_job()
    assert report.outcomes == {"sent": 20}
    # Meta and the Data Manager API take the five events in one request each; GA4 one request per buyer, the
    # webhook one per conversion (it is signed).
    [meta] = ad_platforms.bodies("/v26.0/")
    assert [e["custom_data"]["order_id"] for e in meta["data"]] == orders
    [google] = ad_platforms.bodies("/v1/events:ingest")
    assert [e["transactionId"] for e in google["events"]] == orders
    assert len(ad_platforms.requests_to("/mp/collect")) == 5 and len(ad_platforms.requests_to("/hooks/")) == 5
    attempts = _attempts(db)
    for delivery in deliveries(db):
        [attempt] = attempts[delivery.id or 0]
        assert (delivery.status, delivery.attempts, attempt.outcome, attempt.number) == ("sent", 1, "sent", 1)
        if delivery.provider not in {"meta", "google_ads"}:
            continue
        # The attempt stores the part of the request that was this delivery's own, and where it sat.
        index = orders.index(delivery.conversion["order_id"])
        own = meta["data"][index] if delivery.provider == "meta" else google["events"][index]
        items = attempt.request["body"]["data" if delivery.provider == "meta" else "events"]
        assert items == [own] and attempt.request["batch"] == {"events": 5, "index": index}
        assert "one of 5 events in the request" in attempt.message
        assert attempt.response_status == 200
        if delivery.provider == "meta":
            assert attempt.request["url"].endswith("access_token=[redacted]")
        else:
            assert attempt.request["headers"]["Authorization"] == "[redacted]"
    assert "events_received=5" in next(d for d in deliveries(db) if d.provider == "meta").reason


def test_a_batch_never_exceeds_the_providers_limit(
    shop: Shop, db: Session, ad_platforms: AdPlatforms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(meta_capi, "BATCH_LIMIT", 2)
    _meta_only(db, shop)
    for _ in range(5):
        pay(shop, db)
    send_as_job()
    assert [len(b["data"]) for b in ad_platforms.bodies("/v26.0/")] in ([2, 2, 1], [2, 1, 2], [1, 2, 2])
    assert {d.status for d in deliveries(db)} == {"sent"}


def test_a_batchs_outcome_is_recorded_in_one_transaction(
    shop: Shop, db: Session, ad_platforms: AdPlatforms, commits: list[int]
) -> None:
    _meta_only(db, shop)
    for _ in range(6):
        pay(shop, db)
    commits.clear()
    send_as_job()
    # The claim (its reads end, then its UPDATE), the pass's start (six attempts written before the request leaves),
    # the batch's six outcomes: one commit each, however many deliveries.
    assert len(commits) == 4
    assert len(ad_platforms.requests_to("/v26.0/")) == 1 and {d.status for d in deliveries(db)} == {"sent"}


def test_a_refused_batch_retries_each_delivery_with_its_own_attempt_and_retry_after(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    _meta_only(db, shop)
    for _ in range(3):
        pay(shop, db)
    ad_platforms.fail_next("/v26.0/", 503, headers={"Retry-After": "1"})
    send_as_job()
    rows = deliveries(db)
    assert {d.status for d in rows} == {"retrying"} and {d.attempts for d in rows} == {1}
    assert all("Retry-After 1 s" in d.reason and "one of 3 events" in d.reason for d in rows)
    drain()
    rows = deliveries(db)
    assert {(d.status, d.attempts) for d in rows} == {("sent", 2)}
    assert [[a.outcome for a in attempts] for attempts in _attempts(db).values()] == [["retry", "sent"]] * 3


def test_a_refused_oauth_refresh_is_asked_once_per_pixel_and_pass(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    ad_platforms.revoked_tokens.add("1//refresh-token-0123")
    for _ in range(3):
        pay(shop, db)
    send_as_job()
    google = [d for d in deliveries(db) if d.provider == "google_ads"]
    assert {d.status for d in google} == {"dead"} and all("Reconnect Google" in d.reason for d in google)
    assert len(ad_platforms.requests_to("/token")) == 1 and not ad_platforms.requests_to("/v1/events:ingest")


def test_a_pass_longer_than_the_lease_keeps_its_deliveries(
    shop: Shop, db: Session, ad_platforms: AdPlatforms, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass renews the leases of what it has not recorded yet, so no other sender takes them meanwhile."""
    monkeypatch.setenv("CONVERSIONS_LEASE_SECONDS", "5")
    monkeypatch.setenv("CONVERSIONS_TIMEOUT_SECONDS", "20")  # Meta holds the request longer than the lease
    get_settings.cache_clear()
    try:
        _meta_only(db, shop)
        pay(shop, db)
        ad_platforms.held_paths = ("/v26.0/",)
        ad_platforms.arrived_held.clear()
        ad_platforms.hold.set()
        slow = threading.Thread(target=send_as_job, args=("slow",))
        slow.start()
        try:
            assert ad_platforms.arrived_held.wait(20)
            time.sleep(6.5)  # longer than the lease
            assert send_as_job("other").claimed == 0
        finally:
            ad_platforms.hold.clear()
            ad_platforms.held_paths = ()
            slow.join(30)
        [meta] = deliveries(db)
        assert (meta.status, meta.attempts) == ("sent", 1)
        assert len(ad_platforms.requests_to("/v26.0/")) == 1
    finally:
        get_settings.cache_clear()


# --- (2) Meta refuses a whole batch for one bad event: halve until it is alone ---------------------------------------


def test_a_bad_event_is_isolated_by_halving_and_the_others_are_sent_once(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    _meta_only(db, shop)
    for _ in range(8):
        pay(shop, db)
    bad = deliveries(db)[5]
    ad_platforms.bad_event_ids.add(bad.conversion["event_id"])
    send_as_job()
    rows = deliveries(db)
    assert [d.status for d in rows] == ["sent"] * 5 + ["dead"] + ["sent"] * 2
    bad = rows[5]
    assert bad.attempts == 1 and "has an invalid parameter" in bad.reason
    assert "resent in halves" in bad.reason
    requests = [[e["event_id"] for e in body["data"]] for body in ad_platforms.bodies("/v26.0/")]
    # 8 refused, its halves (4 sent, 4 refused), those halves (2 sent, 2 refused), then 1 sent and the bad one alone.
    assert sorted(len(r) for r in requests) == [1, 1, 2, 2, 4, 4, 8]
    accepted = [event_id for r in requests if bad.conversion["event_id"] not in r for event_id in r]
    good = [d.conversion["event_id"] for d in rows if d.status == "sent"]
    assert sorted(accepted) == sorted(good)  # each good event in exactly one accepted request
    assert [bad.conversion["event_id"]] in requests  # the bad event alone, and marked
    attempts = _attempts(db)
    assert all(len(attempts[d.id or 0]) == 1 for d in rows)


def test_a_token_error_refuses_the_batch_whole_without_halving(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    _meta_only(db, shop)
    for _ in range(4):
        pay(shop, db)
    ad_platforms.bad_tokens.add(META_TOKEN)
    send_as_job()
    assert len(ad_platforms.requests_to("/v26.0/")) == 1
    assert {d.status for d in deliveries(db)} == {"dead"}
    assert all("Invalid OAuth access token" in d.reason for d in deliveries(db))


# --- (3) the Data Manager API's request rate per project ----------------------------------------------------------


def test_data_manager_requests_keep_to_the_rate_per_project(
    shop: Shop, db: Session, ad_platforms: AdPlatforms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(google_ads, "BATCH_LIMIT", 1)  # one event per request, so four requests are due
    monkeypatch.setenv("GOOGLE_DATAMANAGER_REQUESTS_PER_MINUTE", "2")
    get_settings.cache_clear()
    try:
        make_pixels(db, shop, ad_platforms)
        for _ in range(4):
            pay(shop, db)
        send_as_job()
        assert len(ad_platforms.requests_to("/v1/events:ingest")) == 2
        google = [d for d in deliveries(db) if d.provider == "google_ads"]
        waiting = [d for d in google if d.status == "pending"]
        # The two over the rate wait, unsent and without an attempt, for the minute's window to make room.
        assert len(waiting) == 2 and all(d.attempts == 0 and d.lease_holder is None for d in waiting)
        assert not any(d.id in _attempts(db) for d in waiting)
        assert send_as_job().claimed == 0  # not due yet
        assert len(ad_platforms.requests_to("/v1/events:ingest")) == 2
    finally:
        get_settings.cache_clear()


# --- (4) GA4: one buyer per request, distinct buyers in parallel --------------------------------------------------


def test_ga4_sends_distinct_buyers_in_parallel_requests(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    make_pixels(db, shop, ad_platforms)
    for n in range(1, 5):
        pay(shop, db, ga_client_id=f"{n}11.1732000000")
    ad_platforms.held_paths = ("/mp/collect",)
    ad_platforms.hold.set()
    sender = threading.Thread(target=send_as_job)
    sender.start()
    try:
        # Four buyers' requests are at GA4 at once (CONVERSIONS_CONCURRENCY is 4), none answered yet.
        held = ad_platforms.wait_for(lambda rs: sum(r.path == "/mp/collect" for r in rs) == 4, timeout=20)
    finally:
        ad_platforms.hold.clear()
        ad_platforms.held_paths = ()
        sender.join(30)
    clients = {r.json()["client_id"] for r in held if r.path == "/mp/collect"}
    assert clients == {f"{n}11.1732000000" for n in range(1, 5)}
    assert {d.status for d in deliveries(db)} == {"sent"}


def test_ga4_sends_one_buyers_events_of_one_moment_in_one_request(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    paid_at = int(time.time()) - 60
    first, second = (pay(shop, db, ga_client_id="777.1732000000", created=paid_at) for _ in range(2))
    other = pay(shop, db, ga_client_id="888.1732000000", created=paid_at)
    send_as_job()
    bodies = ad_platforms.bodies("/mp/collect")
    by_client = {b["client_id"]: [e["params"]["transaction_id"] for e in b["events"]] for b in bodies}
    assert len(bodies) == 2 and by_client == {"777.1732000000": [first, second], "888.1732000000": [other]}
