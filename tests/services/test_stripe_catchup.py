"""The events catch-up against the recording Stripe API (real HTTP on 127.0.0.1, Stripe's list shapes and pages):
an event whose webhook never arrived is applied once, whichever of the catch-up and a late webhook comes first."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, func, select

from app.jobs.runner import JobSpec, default_jobs, run_job
from app.models import JobOutcome, Payment, StripeConnection, StripeEvent, StripeSync
from app.models.base import utcnow
from app.services import orders as order_service
from app.services.stripe_connection import WEBHOOK_EVENTS
from app.services.stripe_sync.access import MissingPermission
from app.services.stripe_sync.catchup import catch_up_account, check_stripe_now
from tests.utils.payments import Shop, deliver, make_shop, session_of, start_checkout
from tests.utils.stripe_fakes import StripeRecorder, random_id, stripe_error, stripe_event, stripe_object

pytestmark = pytest.mark.usefixtures("strict_lock_order")


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def _event(type_: str, obj: dict[str, Any], *, created: int | None = None) -> tuple[dict[str, Any], bytes]:
    """An event as Stripe lists it and the exact bytes its webhook would carry."""
    body = stripe_event(type_, obj, created=created)
    return json.loads(body), body


def _paid_order(shop: Shop, db: Session) -> tuple[str, dict[str, Any], bytes]:
    order_id = start_checkout(shop, db)
    completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], amount_total=4_900, currency="eur")
    event, body = _event("checkout.session.completed", completed)
    return order_id, event, body


def _status(shop: Shop, db: Session, order_id: str) -> str:
    db.expire_all()
    return order_service.get_order(db, shop.account.id or 0, order_id).status


def test_an_event_the_webhook_missed_is_applied_once_even_if_its_webhook_arrives_later(shop: Shop, db: Session) -> None:
    order_id, event, body = _paid_order(shop, db)
    shop.recorder.add_history("events", event)

    first = catch_up_account(session=db, account_id=shop.account.id or 0)
    db.expire_all()
    assert db.exec(select(StripeConnection.last_webhook_at)).one() is None  # no webhook arrived: none is shown
    late_webhook = deliver(shop, db, "", {}, payload=body)
    again = catch_up_account(session=db, account_id=shop.account.id or 0)

    assert (first.listed, first.applied, first.known) == (1, 1, 0)
    assert late_webhook.outcome == "duplicate"
    assert (again.applied, again.known) == (0, 1)
    assert _status(shop, db, order_id) == "paid"
    assert db.exec(select(func.count()).select_from(Payment)).one() == 1
    [row] = db.exec(select(StripeEvent)).all()
    assert row.deliveries == 2  # the catch-up's and the late webhook's; the second catch-up skipped it
    request = shop.recorder.requests_to("/v1/events")[0]
    assert sorted(request.params["types"]) == sorted(WEBHOOK_EVENTS) and len(request.params["types"]) <= 20
    assert int(request.params["created"]["gte"]) <= event["created"]


def test_an_event_the_webhook_delivered_is_not_applied_again(shop: Shop, db: Session) -> None:
    order_id, event, body = _paid_order(shop, db)
    assert deliver(shop, db, "", {}, payload=body).outcome == "applied"
    shop.recorder.add_history("events", event)

    result = catch_up_account(session=db, account_id=shop.account.id or 0)

    assert (result.applied, result.known) == (0, 1)
    assert db.exec(select(StripeEvent.deliveries)).one() == 1
    assert _status(shop, db, order_id) == "paid"


def test_the_catch_up_follows_pages_and_applies_events_oldest_first(shop: Shop, db: Session) -> None:
    now = int(time.time())
    product = random_id("prod_", 14)
    for n in range(105):  # two pages of 100
        obj = stripe_object("product", id=product, name=f"Name {n}", updated=now - 200 + n)
        shop.recorder.add_history("events", _event("product.updated", obj, created=now - 200 + n)[0])
    order_id, event, _ = _paid_order(shop, db)
    shop.recorder.add_history("events", event)

    result = catch_up_account(session=db, account_id=shop.account.id or 0)

    assert (result.listed, result.applied) == (106, 106)
    pages = shop.recorder.requests_to("/v1/events")
    newest_first = sorted(shop.recorder.history["events"], key=lambda e: (e["created"], e["id"]), reverse=True)
    assert len(pages) == 2 and "starting_after" not in pages[0].params
    assert pages[1].params["starting_after"] == newest_first[99]["id"]
    from app.models import StripeProduct

    assert db.exec(select(StripeProduct.name).where(StripeProduct.stripe_id == product)).one() == "Name 104"
    assert _status(shop, db, order_id) == "paid"


def test_a_restricted_key_without_events_read_is_told_which_permission_to_add(shop: Shop, db: Session) -> None:
    message = (
        "The provided key 'rk_test_***abcd' does not have the required permissions for this endpoint on account "
        "'acct_1TestPaidSignal01'. Having the 'rak_event_read' permission would allow this request to continue."
    )
    shop.recorder.fail_next("/v1/events", 403, stripe_error(403, message, type="invalid_request_error"))

    with pytest.raises(MissingPermission) as raised:
        check_stripe_now(session=db, actor=shop.actor)

    assert "set “Events” to Read" in raised.value.message and "rak_event_read" in raised.value.message
    row = db.exec(select(StripeSync)).one()
    assert not row.catchup_ok and "Events" in row.catchup_message


def test_a_stretch_older_than_the_retention_is_reported_as_a_gap(shop: Shop, db: Session) -> None:
    row = db.exec(select(StripeSync)).one()  # made when Stripe was connected
    row.events_checked_from = int(time.time()) - 40 * 86_400
    db.add(row)
    db.commit()
    old_order, old_event, _ = _paid_order(shop, db)
    old_event["created"] = int(time.time()) - 35 * 86_400
    shop.recorder.add_history("events", old_event)  # Stripe no longer lists it

    result = catch_up_account(session=db, account_id=shop.account.id or 0)

    assert result.ok and result.listed == 0
    assert result.gap_from is not None and result.gap_to is not None
    assert result.gap_to - result.gap_from > timedelta(days=9)
    assert "import the history" in result.message
    assert int(shop.recorder.requests_to("/v1/events")[0].params["created"]["gte"]) >= time.time() - 30 * 86_400
    assert _status(shop, db, old_order) == "created"
    db.expire_all()
    row = db.exec(select(StripeSync)).one()
    assert row.gap_from is not None and row.events_checked_from and row.events_checked_from > time.time() - 3600


def test_the_leased_job_runs_the_catch_up_for_every_connected_account(shop: Shop, db: Session) -> None:
    order_id, event, _ = _paid_order(shop, db)
    shop.recorder.add_history("events", event)
    [spec] = [s for s in default_jobs() if s.name == "catch_up_stripe"]
    assert spec.leased
    db.commit()  # the test's reads end: the job's thread is this one (app/db.py lock order)

    assert run_job(JobSpec(spec.name, spec.func, spec.every_seconds, quiet=False)) == JobOutcome.OK

    assert _status(shop, db, order_id) == "paid"
    assert db.exec(select(StripeSync.catchup_at)).one() is not None
    assert utcnow() - db.exec(select(StripeSync.catchup_at)).one() < timedelta(minutes=5)  # type: ignore[operator]
