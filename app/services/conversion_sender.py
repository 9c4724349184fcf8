"""Sending the conversion outbox: claim due deliveries with a per-delivery lease, send them to their providers in
batches where the provider allows it (Meta 1,000 events per request, the Data Manager API 2,000, GA4 the events of
one buyer) with a concurrency limit per provider, record every attempt, and retry with exponential backoff and jitter.

A delivery is sent by one holder at a time: the claim is one conditional UPDATE, and every result is written only
while the holder still owns the lease. The attempt row is committed before the request leaves, so a process killed
mid-send leaves an attempt without an answer; the next holder marks it ``interrupted`` and sends again (the
provider's dedup key, ``event_id`` or ``transaction_id``, keeps that one resend from counting twice). Each delivery
keeps its own truth inside a batch: its attempt stores its own part of the request, and its status, attempts and
backoff are its own.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlmodel import Session, col, select

from app import runtime
from app.db import get_engine, writing
from app.integrations import ga4, google_ads, meta_capi, outbound, signed_webhook
from app.integrations.conversion import Conversion, ConversionProvider, stored_conversion
from app.integrations.outbound import Answer, Outbound, Refused, Skip
from app.models import AttemptOutcome, ConversionDelivery, DeliveryAttempt, DeliveryStatus, Pixel, Provider
from app.models.base import table_of, utcnow
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


def send_due(*, holder: str, limit: int | None = None) -> SendReport:
    """Claim due deliveries (``CONVERSIONS_CLAIM_LIMIT``) and send them, ``CONVERSIONS_CONCURRENCY`` requests at a
    time per provider, deliveries of one pixel sharing requests where the provider allows it.

    Three kinds of write, each one transaction under the process's write lock and none holding a connection while
    waiting for it (see ``app.db``): the pass's start (skips, deferrals, and one attempt per delivery to send,
    committed before any request leaves), then the answers as they come in (every batch's outcome whole in one
    transaction; batches answered while one is being recorded share the next).
    """
    settings = get_settings()
    ids = claim(holder=holder, limit=limit or settings.conversions_claim_limit)
    report = SendReport(claimed=len(ids))
    if not ids:
        return report
    plan = _plan(ids, holder)
    with Session(get_engine()) as session, writing(session):
        report.outcomes.update(_start(session, plan, holder))
        session.commit()
    batches = [batch for batch in plan.batches if batch[0].attempt_id]
    if not batches:
        return report
    per_provider = settings.conversions_concurrency
    gates = {provider: threading.Semaphore(per_provider) for provider in {b[0].delivery.provider for b in batches}}
    answers: queue.Queue[list[_Result] | _Failed] = queue.Queue()

    def one(batch: list[_Part]) -> None:
        try:
            with gates[batch[0].delivery.provider]:
                answers.put(_send_batch(batch, quota_taken=True))
        except BaseException as error:  # the batch must come back, or send_due would wait for it forever
            answers.put(_Failed(batch, error))

    workers = max(1, min(len(batches), per_provider * len(gates)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conversions") as pool:
        for batch in batches:
            pool.submit(one, batch)
        # A pass may outlast the lease (thousands of GA4 requests, slow answers): while it runs, the leases of the
        # deliveries not yet recorded are renewed every third of the lease; a process that dies stops renewing.
        unanswered = {part.delivery.id or 0 for batch in batches for part in batch}
        every = settings.conversions_lease_seconds / 3
        renew_at = time.monotonic() + every
        while unanswered:
            try:
                arrived = [answers.get(timeout=max(0.0, renew_at - time.monotonic()))]
            except queue.Empty:
                arrived = []
            while True:
                try:
                    arrived.append(answers.get_nowait())
                except queue.Empty:
                    break
            for item in arrived:
                done = item.batch if isinstance(item, _Failed) else [p for result in item for p in result.parts]
                unanswered.difference_update(part.delivery.id or 0 for part in done)
            if arrived:
                report.outcomes.update(_record_arrived(arrived, holder))
            if unanswered and time.monotonic() >= renew_at:
                _renew_leases(unanswered, holder)
                renew_at = time.monotonic() + every
    return report


def _renew_leases(ids: set[int], holder: str) -> None:
    """Extend this holder's leases of ``ids`` by ``CONVERSIONS_LEASE_SECONDS`` from now."""
    until = utcnow() + timedelta(seconds=get_settings().conversions_lease_seconds)
    with Session(get_engine()) as session, writing(session):
        session.exec(
            update(ConversionDelivery)
            .where(col(ConversionDelivery.id).in_(ids), col(ConversionDelivery.lease_holder) == holder)
            .values(lease_until=until)
        )
        session.commit()


@dataclass
class _Part:
    """One claimed delivery in this pass, with its own request (its part of a batch)."""

    delivery: ConversionDelivery
    request: Outbound | None = None
    number: int = 0
    attempt_id: int = 0
    # What the attempt stores as its request: the part of the request that was this delivery's own.
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Result:
    """The answer to one request that carried ``parts``; ``note`` says how the batch came to be this request."""

    parts: list[_Part]
    answer: Answer
    note: str = ""


@dataclass
class _Failed:
    batch: list[_Part]
    error: BaseException


@dataclass
class _Plan:
    skips: list[tuple[ConversionDelivery, str]] = field(default_factory=list)
    defers: list[tuple[ConversionDelivery, datetime]] = field(default_factory=list)
    refused: list[tuple[_Part, Answer]] = field(default_factory=list)  # sending could not start: an attempt each
    batches: list[list[_Part]] = field(default_factory=list)  # one request each


def _plan(ids: list[int], holder: str) -> _Plan:
    """Read the claimed deliveries and their pixels, decide which are skipped or wait, build each one's request and
    group them into batches. No writes; the provider's OAuth refresh (Google) happens here, with no connection held.
    """
    plan = _Plan()
    now = utcnow()
    with Session(get_engine(), autoflush=False, expire_on_commit=False) as session:
        rows = session.exec(
            select(ConversionDelivery)
            .where(col(ConversionDelivery.id).in_(ids), ConversionDelivery.lease_holder == holder)
            .order_by(col(ConversionDelivery.id))
        ).all()
        pixel_ids = {d.pixel_id for d in rows if d.pixel_id}
        pixels = {p.id: p for p in session.exec(select(Pixel).where(col(Pixel.id).in_(pixel_ids))).all()}
        to_build: list[tuple[ConversionDelivery, Pixel]] = []
        for delivery in rows:
            pixel = pixels.get(delivery.pixel_id) if delivery.pixel_id else None
            if pixel is None:
                plan.skips.append((delivery, "The pixel was deleted before this conversion could be sent."))
                continue
            if not pixel.enabled:
                plan.skips.append((delivery, "The pixel is disabled."))
                continue
            reason = consent_skip(delivery.provider, delivery.conversion.get("consent") or {})
            if reason:
                plan.skips.append((delivery, reason))
                continue
            if delivery.kind == "refund":
                gate = _refund_gate(session, delivery)
                if gate == "wait":
                    # A refund must not reach the provider before the sale it refunds, nor before an earlier refund.
                    plan.defers.append((delivery, now + timedelta(seconds=1)))
                    continue
                if gate:
                    plan.skips.append((delivery, gate))
                    continue
            to_build.append((delivery, pixel))
    credentials: dict[int, dict[str, str]] = {}
    refusals: dict[int, Refused] = {}  # a pixel whose OAuth refresh failed is not asked again in this pass
    groups: dict[tuple[str, ...], list[_Part]] = {}
    for delivery, pixel in to_build:
        pixel_id = pixel.id or 0
        if pixel_id not in credentials:
            credentials[pixel_id] = pixel_credentials(pixel)
        part = _Part(delivery, number=delivery.attempts + 1)
        try:
            if pixel_id in refusals:
                raise refusals[pixel_id]
            part.request = PROVIDERS[delivery.provider].build(
                stored_conversion(delivery.conversion), dict(pixel.settings), credentials[pixel_id],
                test=delivery.test, now=now, delivery_id=delivery.public_id,
            )  # fmt: skip
        except Skip as skip:
            plan.skips.append((delivery, str(skip)))
            continue
        except Refused as refused:
            # Sending could not start (an OAuth refresh failed): an attempt with the token endpoint's answer.
            refusals[pixel_id] = refused
            part.record = {"step": "oauth token refresh"}
            plan.refused.append((part, Answer(refused.outcome, refused.status, refused.body, str(refused), 0)))
            continue
        part.record = part.request.record
        key = outbound.batch_key(part.request)
        if key is None:
            plan.batches.append([part])
        else:
            groups.setdefault((delivery.provider, *key), []).append(part)
    for group in groups.values():
        size = group[0].request.batch_limit if group[0].request else 1
        plan.batches.extend(group[start : start + size] for start in range(0, len(group), size))
    # A provider's request quota (the Data Manager API's): a batch over it waits for its slot, unsent.
    sending = []
    for batch in plan.batches:
        wait = _take_quota(batch[0].request)
        if wait:
            plan.defers.extend((part.delivery, now + timedelta(seconds=wait)) for part in batch)
        else:
            sending.append(batch)
    plan.batches = sending
    for batch in sending:
        if len(batch) > 1:
            for index, part in enumerate(batch):
                part.record = {**part.record, "batch": {"events": len(batch), "index": index}}
    return plan


def _take_quota(request: Outbound | None) -> float:
    """Count one request against its provider's quota: 0.0, or the seconds until it has room (nothing counted)."""
    if request is None or request.quota_key is None:
        return 0.0
    per_minute = get_settings().google_datamanager_requests_per_minute
    return runtime.current().rate_limiter.take(f"{per_minute}/minute", "conversions", request.quota_key)


def _start(session: Session, plan: _Plan, holder: str) -> Counter[str]:
    """The pass's first write, one transaction: earlier holders' unanswered attempts marked interrupted, skips and
    deferrals recorded, and an attempt written for every delivery to send (``attempt_id`` set on its part)."""
    outcomes: Counter[str] = Counter()
    parts = [part for batch in plan.batches for part in batch]
    every = [d for d, _ in plan.skips] + [d for d, _ in plan.defers] + [p.delivery for p, _ in plan.refused]
    every += [part.delivery for part in parts]
    held = _still_held(session, [d.id or 0 for d in every], holder)
    if len(held) < len(every):
        outcomes["lost"] = len(every) - len(held)
    session.exec(
        update(DeliveryAttempt)
        .where(col(DeliveryAttempt.delivery_id).in_(held), col(DeliveryAttempt.outcome) == AttemptOutcome.IN_FLIGHT)
        .values(
            outcome=AttemptOutcome.INTERRUPTED,
            message="The sending process stopped before the answer was recorded; the request may have arrived.",
        )
    )
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for delivery, reason in plan.skips:
        if delivery.id in held:
            rows.append(_row(delivery, DeliveryStatus.SKIPPED, reason, now=now))
            outcomes[DeliveryStatus.SKIPPED.value] += 1
    for delivery, at in plan.defers:
        if delivery.id in held:
            rows.append({"id": delivery.id, "next_attempt_at": at, "lease_holder": None, "lease_until": None})
            outcomes["deferred"] += 1
    _bulk_update(session, table_of(ConversionDelivery), rows)
    starting = [part for part in parts + [p for p, _ in plan.refused] if part.delivery.id in held]
    if starting:
        inserted = session.execute(
            insert(DeliveryAttempt).returning(col(DeliveryAttempt.id), sort_by_parameter_order=True),
            [
                {"delivery_id": part.delivery.id, "account_id": part.delivery.account_id, "number": part.number,
                 "holder": holder, "started_at": now, "request": part.record, "response_body": "",
                 "outcome": AttemptOutcome.IN_FLIGHT, "message": ""}
                for part in starting
            ],
        ).scalars().all()  # fmt: skip
        for part, attempt_id in zip(starting, inserted, strict=True):
            part.attempt_id = attempt_id
        _bulk_update(
            session,
            table_of(ConversionDelivery),
            [{"id": part.delivery.id, "attempts": part.number} for part in starting],
        )
    refused = [_Result([part], answer) for part, answer in plan.refused if part.attempt_id]
    if refused:
        outcomes.update(_record(session, refused, holder))
    return outcomes


def _still_held(session: Session, ids: list[int], holder: str) -> set[int]:
    """Which of ``ids`` this holder still leases (locked until the transaction ends, where the database can)."""
    if not ids:
        return set()
    held = session.exec(
        select(ConversionDelivery.id)
        .where(col(ConversionDelivery.id).in_(ids), ConversionDelivery.lease_holder == holder)
        .with_for_update()
    ).all()
    return {delivery_id for delivery_id in held if delivery_id is not None}


def _send_batch(batch: list[_Part], *, quota_taken: bool = False, note: str = "") -> list[_Result]:
    """Send one batch as one request. When the provider refuses a request of several events in a way one event can
    cause (``Outbound.split_on``), send its halves again, and theirs, until the bad event is alone: it gets the
    refusal, the others their answers."""
    requests = [part.request for part in batch if part.request is not None]
    request = outbound.merge(requests)
    if not quota_taken:
        while wait := _take_quota(request):
            time.sleep(min(wait, 1.0))
    answer = outbound.send(request, timeout=get_settings().conversions_timeout_seconds)
    if len(batch) > 1 and answer.outcome == "dead" and request.split_on is not None and request.split_on(answer):
        middle = len(batch) // 2
        why = f"{batch[0].delivery.provider} refused a request of {len(batch)} events ({answer.message[:300]})"
        note = note or f"{why}; resent in halves until the refused event was alone"
        return _send_batch(batch[:middle], note=note) + _send_batch(batch[middle:], note=note)
    return [_Result(batch, answer, note)]


def _record_arrived(arrived: list[list[_Result] | _Failed], holder: str) -> Counter[str]:
    """Record the answers that arrived, every batch's whole in one transaction; a batch that failed unexpectedly
    is released as it is (its attempts stay unanswered and are marked interrupted by the next pass)."""
    outcomes: Counter[str] = Counter()
    results = [result for item in arrived if not isinstance(item, _Failed) for result in item]
    failed = [item for item in arrived if isinstance(item, _Failed)]
    with Session(get_engine()) as session, writing(session):
        if results:
            outcomes.update(_record(session, results, holder))
        for item in failed:
            log.error("sending a batch of %d deliveries failed unexpectedly", len(item.batch), exc_info=item.error)
            ids = [part.delivery.id or 0 for part in item.batch]
            session.exec(
                update(ConversionDelivery)
                .where(col(ConversionDelivery.id).in_(ids), col(ConversionDelivery.lease_holder) == holder)
                .values(lease_holder=None, lease_until=None)
            )
            outcomes["error"] += len(ids)
        session.commit()
    return outcomes


def _record(session: Session, results: list[_Result], holder: str) -> Counter[str]:
    """Each delivery's attempt and new status from the answer to its request, for the deliveries this holder still
    leases (a lost lease leaves its attempt unanswered, as a killed process would)."""
    outcomes: Counter[str] = Counter()
    held = _still_held(session, [part.delivery.id or 0 for result in results for part in result.parts], holder)
    attempts: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    now = utcnow()
    for result in results:
        answer = result.answer
        outcome = AttemptOutcome(answer.outcome)
        size = len(result.parts)
        for part in result.parts:
            delivery = part.delivery
            if delivery.id not in held:
                log.warning("lost the lease of delivery %s before recording its answer", delivery.id)
                outcomes["lost"] += 1
                continue
            message = answer.message
            if size > 1:
                message += f" (one of {size} events in the request)"
            if result.note:
                message += f" [{result.note}]"
            attempts.append({"id": part.attempt_id, "duration_ms": answer.duration_ms,
                             "response_status": answer.status, "response_body": answer.body,
                             "message": message[:2000], "outcome": outcome})  # fmt: skip
            row = _verdict(delivery, part.number, answer, message, now)
            deliveries.append(row)
            outcomes[row["status"].value] += 1
    _bulk_update(session, table_of(DeliveryAttempt), attempts)
    _bulk_update(session, table_of(ConversionDelivery), deliveries)
    return outcomes


def _bulk_update(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """UPDATE each row by its ``id`` with its other keys, as one executemany per set of keys (Core: the ORM's bulk
    UPDATE costs more than the database here)."""
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_keys.setdefault(tuple(sorted(row)), []).append(row)
    for keys, group in by_keys.items():
        values: dict[str, Any] = {key: bindparam(f"v_{key}") for key in keys if key != "id"}
        statement = update(table).where(table.c.id == bindparam("v_id")).values(values)
        session.connection().execute(statement, [{f"v_{k}": v for k, v in row.items()} for row in group])


def _verdict(
    delivery: ConversionDelivery, attempts: int, answer: Answer, message: str, now: datetime
) -> dict[str, Any]:
    """The delivery's row after ``answer``: sent, dead, or retrying after a backoff unless that would pass the
    provider's age limit."""
    if answer.outcome == "sent":
        return _row(delivery, DeliveryStatus.SENT, message, now=now, attempts=attempts, sent_at=now)
    if answer.outcome == "dead":
        return _row(delivery, DeliveryStatus.DEAD, message, now=now, attempts=attempts)
    delay = backoff_seconds(attempts, retry_after=answer.retry_after)
    next_at = now + timedelta(seconds=delay)
    if next_at - age_start(delivery) > PROVIDERS[delivery.provider].MAX_AGE:
        reason = (f"Gave up after {attempts} attempts (the conversion would be too old for {delivery.provider}): "
                  f"{message}")  # fmt: skip
        return _row(delivery, DeliveryStatus.DEAD, reason, now=now, attempts=attempts)
    wait = f" (Retry-After {answer.retry_after:g} s)" if answer.retry_after is not None else ""
    reason = f"{message} — next try in {delay:.0f} s{wait}."
    return _row(delivery, DeliveryStatus.RETRYING, reason, now=now, attempts=attempts, next_attempt_at=next_at)


def _row(
    delivery: ConversionDelivery,
    status: DeliveryStatus,
    reason: str,
    *,
    now: datetime,
    attempts: int | None = None,
    sent_at: datetime | None = None,
    next_attempt_at: datetime | None = None,
) -> dict[str, Any]:
    """A delivery's new status and reason, its lease released (for an ORM bulk UPDATE by primary key)."""
    row: dict[str, Any] = {"id": delivery.id, "status": status, "reason": reason[:2000], "lease_holder": None,
                           "lease_until": None, "updated_at": now}  # fmt: skip
    if attempts is not None:
        row["attempts"] = attempts
    if sent_at is not None:
        row["sent_at"] = sent_at
    if next_attempt_at is not None:
        row["next_attempt_at"] = next_attempt_at
    return row


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


def age_start(delivery: ConversionDelivery) -> datetime:
    """Where the provider's age limit starts: the conversion's time, or for Google Ads the ad click."""
    if delivery.provider == Provider.GOOGLE_ADS.value:
        return google_ads.age_start(delivery.conversion, delivery.event_time)
    return delivery.event_time


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
