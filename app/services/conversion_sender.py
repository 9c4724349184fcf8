"""Sending the conversion outbox: claim due deliveries with a per-delivery lease, send each to its provider with a
concurrency limit per provider, record every attempt, and retry with exponential backoff and jitter.

A delivery is sent by one holder at a time: the claim is one conditional UPDATE, and every result is written only
while the holder still owns the lease. The attempt row is committed before the request leaves, so a process killed
mid-send leaves an attempt without an answer; the next holder marks it ``interrupted`` and sends again (the
provider's dedup key, ``event_id`` or ``transaction_id``, keeps that one resend from counting twice).
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.db import get_engine, write_lock, writing
from app.integrations import ga4, google_ads, meta_capi, outbound, signed_webhook
from app.integrations.conversion import Conversion, ConversionProvider, stored_conversion
from app.integrations.outbound import Answer, Refused, Skip
from app.models import AttemptOutcome, ConversionDelivery, DeliveryAttempt, DeliveryStatus, Pixel, Provider
from app.models.base import utcnow
from app.services.conversion_checks import consent_skip
from app.services.conversions import DUE
from app.services.permissions import Actor
from app.services.pixels import TestResult, pixel_credentials
from app.settings import get_settings

log = logging.getLogger(__name__)

PROVIDERS: dict[str, ConversionProvider] = {
    Provider.META.value: meta_capi,
    Provider.GA4.value: ga4,
    Provider.GOOGLE_ADS.value: google_ads,
    Provider.WEBHOOK.value: signed_webhook,
}


@dataclass
class SendReport:
    claimed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def __str__(self) -> str:
        if not self.claimed:
            return ""
        parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items()))
        return f"{self.claimed} deliveries: {parts}"


def backoff_seconds(attempts: int, *, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (half to full of base·2ⁿ, capped); a provider's ``Retry-After`` wins when
    it asks for longer."""
    settings = get_settings()
    doubled = settings.conversions_retry_base_seconds * 2.0 ** (attempts - 1)
    ceiling = min(settings.conversions_retry_max_seconds, doubled)
    delay = ceiling * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.conversions_retry_max_seconds))
    return delay


def claim(*, holder: str, limit: int = 200, now: datetime | None = None) -> list[int]:
    """Lease up to ``limit`` due deliveries for ``holder``; the ids it now owns."""
    now = now or utcnow()
    until = now + timedelta(seconds=get_settings().conversions_lease_seconds)
    free = (col(ConversionDelivery.lease_until).is_(None)) | (col(ConversionDelivery.lease_until) < now)
    with Session(get_engine()) as session:
        candidates = session.exec(
            select(ConversionDelivery.id)
            .where(col(ConversionDelivery.status).in_(DUE), col(ConversionDelivery.next_attempt_at) <= now, free)
            .order_by(col(ConversionDelivery.next_attempt_at))
            .limit(limit)
        ).all()
        if not candidates:
            return []
        with writing(session):
            session.exec(
                update(ConversionDelivery)
                .where(col(ConversionDelivery.id).in_(candidates), col(ConversionDelivery.status).in_(DUE), free)
                .values(lease_holder=holder, lease_until=until)
            )
            session.commit()
        leased = session.exec(
            select(ConversionDelivery.id).where(
                col(ConversionDelivery.id).in_(candidates),
                ConversionDelivery.lease_holder == holder,
                ConversionDelivery.lease_until == until,
            )
        ).all()
        return [delivery_id for delivery_id in leased if delivery_id is not None]


def send_due(*, holder: str, limit: int = 200) -> SendReport:
    """Claim due deliveries and send them, ``CONVERSIONS_CONCURRENCY`` at a time per provider."""
    ids = claim(holder=holder, limit=limit)
    report = SendReport(claimed=len(ids))
    if not ids:
        return report
    with Session(get_engine()) as session:
        providers = dict(
            session.exec(
                select(ConversionDelivery.id, ConversionDelivery.provider).where(col(ConversionDelivery.id).in_(ids))
            ).all()
        )
    per_provider = get_settings().conversions_concurrency
    gates: dict[str, threading.Semaphore] = defaultdict(lambda: threading.Semaphore(per_provider))
    for name in set(providers.values()):
        gates[name] = threading.Semaphore(per_provider)

    def one(delivery_id: int) -> str:
        with gates[providers[delivery_id]]:
            try:
                return send_one(delivery_id, holder=holder)
            except Exception:
                log.exception("sending delivery %s failed unexpectedly", delivery_id)
                with write_lock:
                    _release(delivery_id, holder)
                return "error"

    workers = max(1, min(len(ids), per_provider * len(gates)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conversions") as pool:
        for outcome in pool.map(one, ids):
            report.outcomes[outcome] += 1
    return report


def send_one(delivery_id: int, *, holder: str) -> str:
    """Send one leased delivery and record the attempt; returns the delivery's new status.

    Reads happen outside the process's write lock, every write inside it, taken after the reads ended so that no
    connection is held while waiting for it (see ``app.db``), and the request to the provider with no lock and no
    transaction open.
    """
    engine = get_engine()
    now = utcnow()
    with Session(engine, autoflush=False, expire_on_commit=False) as session:
        delivery = session.get(ConversionDelivery, delivery_id)
        if delivery is None or delivery.lease_holder != holder:
            return "lost"
        pixel = session.get(Pixel, delivery.pixel_id) if delivery.pixel_id else None
        reason = None
        if pixel is None:
            reason = "The pixel was deleted before this conversion could be sent."
        elif not pixel.enabled:
            reason = "The pixel is disabled."
        else:
            reason = consent_skip(delivery.provider, delivery.conversion.get("consent") or {})
        if reason:
            with writing(session):
                _interrupted(session, delivery)
                return _finish(session, delivery, holder, DeliveryStatus.SKIPPED, reason)
        assert pixel is not None
        if delivery.kind == "refund":
            gate = _refund_gate(session, delivery)
            if gate == "wait":
                # A refund must not reach the provider before the sale it refunds, nor before an earlier refund.
                with writing(session):
                    return _defer(session, delivery, holder)
            if gate:
                with writing(session):
                    _interrupted(session, delivery)
                    return _finish(session, delivery, holder, DeliveryStatus.SKIPPED, gate)
        module = PROVIDERS[delivery.provider]
        number = delivery.attempts + 1
        try:
            request = module.build(
                stored_conversion(delivery.conversion), dict(pixel.settings), pixel_credentials(pixel),
                test=delivery.test, now=now, delivery_id=delivery.public_id,
            )  # fmt: skip
        except Skip as skip:
            with writing(session):
                _interrupted(session, delivery)
                return _finish(session, delivery, holder, DeliveryStatus.SKIPPED, str(skip))
        except Refused as refused:
            # Sending could not start (an OAuth refresh failed): an attempt with the token endpoint's answer.
            answer = Answer(refused.outcome, refused.status, refused.body, str(refused), 0)
            with writing(session):
                _interrupted(session, delivery)
                attempt = _start_attempt(session, delivery, number, holder, {"step": "oauth token refresh"})
                return _record(session, delivery, attempt, holder, answer)
        with writing(session):
            _interrupted(session, delivery)
            attempt = _start_attempt(session, delivery, number, holder, request.record)
        # The attempt is committed before the request leaves (see the module docstring).
        answer = outbound.send(request, timeout=get_settings().conversions_timeout_seconds)
        with writing(session):
            return _record(session, delivery, attempt, holder, answer)


def _refund_gate(session: Session, delivery: ConversionDelivery) -> str:
    """``"wait"`` while the order's sales or earlier refunds for this pixel are still due; for Google Ads, why the
    refund cannot be sent (its sale was never recorded there: an adjustment whose transactionId matches no
    conversion would create a new one); else ``""``."""
    others = session.exec(
        select(
            ConversionDelivery.id, ConversionDelivery.kind, ConversionDelivery.status, ConversionDelivery.conversion
        ).where(
            ConversionDelivery.order_id == delivery.order_id,
            ConversionDelivery.pixel_id == delivery.pixel_id,
            col(ConversionDelivery.id) != delivery.id,
        )
    ).all()
    for other_id, kind, status, _ in others:
        earlier_refund = kind == "refund" and (other_id or 0) < (delivery.id or 0)
        if status in DUE and (kind in {"purchase", "renewal"} or earlier_refund):
            return "wait"
    if delivery.provider != Provider.GOOGLE_ADS.value:
        return ""
    transaction = delivery.conversion.get("transaction_id")
    sale = next(
        (status for _, kind, status, conversion in others
         if kind in {"purchase", "renewal"} and conversion.get("transaction_id") == transaction),
        None,
    )  # fmt: skip
    if sale == DeliveryStatus.SENT.value:
        return ""
    return (
        f"The sale {transaction} was not recorded in Google Ads by this pixel ({sale or 'never sent'}): an adjustment "
        "with its transactionId would create a new conversion instead of restating it."
    )


def _defer(session: Session, delivery: ConversionDelivery, holder: str) -> str:
    session.exec(
        update(ConversionDelivery)
        .where(col(ConversionDelivery.id) == delivery.id, col(ConversionDelivery.lease_holder) == holder)
        .values(next_attempt_at=utcnow() + timedelta(seconds=1), lease_holder=None, lease_until=None)
    )
    session.commit()
    return "deferred"


def _interrupted(session: Session, delivery: ConversionDelivery) -> None:
    """An attempt still in flight from an earlier holder means that process died mid-send."""
    stale = session.exec(
        select(DeliveryAttempt).where(
            DeliveryAttempt.delivery_id == delivery.id, DeliveryAttempt.outcome == AttemptOutcome.IN_FLIGHT
        )
    ).all()
    for attempt in stale:
        attempt.outcome = AttemptOutcome.INTERRUPTED
        attempt.message = "The sending process stopped before the answer was recorded; the request may have arrived."
        session.add(attempt)


def _start_attempt(
    session: Session, delivery: ConversionDelivery, number: int, holder: str, request: dict[str, object]
) -> DeliveryAttempt:
    attempt = DeliveryAttempt(
        delivery_id=delivery.id,  # type: ignore[arg-type]  # a stored row's id is set; the column is Optional only before insert
        account_id=delivery.account_id,
        number=number,
        holder=holder,
        started_at=utcnow(),
        request=request,
    )
    delivery.attempts = number
    session.add(attempt)
    session.add(delivery)
    session.commit()
    return attempt


def _record(
    session: Session, delivery: ConversionDelivery, attempt: DeliveryAttempt, holder: str, answer: Answer
) -> str:
    attempt.duration_ms = answer.duration_ms
    attempt.response_status = answer.status
    attempt.response_body = answer.body
    attempt.message = answer.message[:2000]
    attempt.outcome = AttemptOutcome(answer.outcome)
    session.add(attempt)
    if answer.outcome == "sent":
        delivery.sent_at = utcnow()
        return _finish(session, delivery, holder, DeliveryStatus.SENT, answer.message)
    if answer.outcome == "dead":
        return _finish(session, delivery, holder, DeliveryStatus.DEAD, answer.message)
    delay = backoff_seconds(delivery.attempts, retry_after=answer.retry_after)
    next_at = utcnow() + timedelta(seconds=delay)
    max_age = PROVIDERS[delivery.provider].MAX_AGE
    if next_at - age_start(delivery) > max_age:
        return _finish(
            session, delivery, holder, DeliveryStatus.DEAD,
            f"Gave up after {delivery.attempts} attempts (the conversion would be too old for {delivery.provider}): "
            f"{answer.message}",
        )  # fmt: skip
    delivery.next_attempt_at = next_at
    wait = f" (Retry-After {answer.retry_after:g} s)" if answer.retry_after is not None else ""
    return _finish(
        session, delivery, holder, DeliveryStatus.RETRYING, f"{answer.message} — next try in {delay:.0f} s{wait}."
    )


def age_start(delivery: ConversionDelivery) -> datetime:
    """Where the provider's age limit starts: the conversion's time, or for Google Ads the ad click."""
    if delivery.provider == Provider.GOOGLE_ADS.value:
        return google_ads.age_start(delivery.conversion, delivery.event_time)
    return delivery.event_time


def _finish(session: Session, delivery: ConversionDelivery, holder: str, status: DeliveryStatus, reason: str) -> str:
    """Write the outcome only if we still hold the lease, and release it."""
    session.flush()
    result = session.exec(
        update(ConversionDelivery)
        .where(col(ConversionDelivery.id) == delivery.id, col(ConversionDelivery.lease_holder) == holder)
        .values(
            status=status.value,
            reason=reason[:2000],
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            sent_at=delivery.sent_at,
            lease_holder=None,
            lease_until=None,
            updated_at=utcnow(),
        )
    )
    if result.rowcount != 1:
        session.rollback()
        log.warning("lost the lease of delivery %s before recording %s", delivery.id, status)
        return "lost"
    session.commit()
    return status.value


def _release(delivery_id: int, holder: str) -> None:
    with Session(get_engine()) as session:
        session.exec(
            update(ConversionDelivery)
            .where(col(ConversionDelivery.id) == delivery_id, col(ConversionDelivery.lease_holder) == holder)
            .values(lease_holder=None, lease_until=None)
        )
        session.commit()


def send_test(*, session: Session, actor: Actor, pixel_public_id: str) -> TestResult:
    """Send a sample purchase to a pixel in the provider's test mode and say what the provider answered.

    GA4 goes to the debug endpoint (validated, not recorded), Google Ads with ``validateOnly``, Meta only with the
    pixel's test event code (it then shows under Test events, and Meta still records it in the pixel's data:
    the sample says "PaidSignal test" everywhere it can), a webhook with ``"test": true``. Nothing is stored.
    """
    from app.services.pixels import check_pixel, get_pixel

    checked = check_pixel(session=session, actor=actor, pixel_public_id=pixel_public_id)
    if not checked.ok:
        return checked
    pixel = get_pixel(session, actor.account_id, pixel_public_id)
    now = utcnow()
    conversion = sample_conversion(now)
    try:
        request = PROVIDERS[pixel.provider].build(
            conversion, dict(pixel.settings), pixel_credentials(pixel), test=True, now=now,
            delivery_id="cvd_test",
        )  # fmt: skip
    except Skip as skip:
        return TestResult(False, str(skip))
    except Refused as refused:
        return TestResult(False, str(refused))
    answer = outbound.send(request, timeout=get_settings().conversions_timeout_seconds)
    if answer.outcome == "sent":
        meta = pixel.provider == Provider.META.value
        note = f" Meta records it in this pixel's data as a {TEST_LABEL} Purchase." if meta else ""
        return TestResult(
            True, f"{pixel.name}: test purchase accepted in {answer.duration_ms} ms. {answer.message}{note}"
        )
    return TestResult(False, f"{pixel.name}: {answer.message}")


# Every name and id of the sample says what it is, so it cannot pass for a sale where a provider keeps it.
TEST_LABEL = "PaidSignal test event (not a sale)"


def sample_conversion(now: datetime) -> Conversion:
    """A made-up 1.00 EUR purchase for test sends (no real buyer data), named as a test everywhere."""
    stamp = int(now.timestamp())
    return {
        "kind": "purchase",
        "order_id": f"paidsignal-test-{stamp}",
        "event_id": f"paidsignal-test-{stamp}",
        "transaction_id": f"paidsignal-test-{stamp}",
        "event_time": now.isoformat(),
        "amount": 100,
        "value": 1.0,
        "currency": "EUR",
        "content_name": TEST_LABEL,
        "items": [
            {
                "id": "paidsignal-test",
                "product_id": "paidsignal-test",
                "name": TEST_LABEL,
                "quantity": 1,
                "unit_amount": 100,
                "price": 1.0,
            }
        ],
        "partial": False,
        "event_source_url": get_settings().public_url,
        "visitor_id": "paidsignal-test",
        "user": {"email": "test@example.com", "hashed": {}, "ip": "127.0.0.1", "user_agent": "PaidSignal test"},
        "ga": {"client_id": "1234567890.1234567890", "session_id": str(stamp), "checkout_at": now.isoformat()},
        "clicks": {"gclid": "TeSt-GcLiD-0123456789"},
        "click_at": now.isoformat(),
        "consent": {"ad_user_data": True, "ad_personalization": True},
        "campaign": {},
        "credits": {},
    }
