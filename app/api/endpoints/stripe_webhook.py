"""``/api/v1/stripe/webhook/{account_id}``: Stripe's signed events for one account."""

from __future__ import annotations

import asyncio
import threading
import weakref
from concurrent.futures import Future

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.errors import error_response, service_error_response
from app.api.schemas import ErrorResponse, WebhookAck
from app.db import session_scope
from app.observability import metrics
from app.services import stripe_webhooks
from app.services.errors import ServiceError
from app.services.stripe_connection import webhook_target
from app.settings import get_settings

router = APIRouter(tags=["stripe"])
# Stripe events are far smaller; a bigger body is not from Stripe.
MAX_BODY = 2 * 1024 * 1024
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


def _limiter() -> anyio.CapacityLimiter:
    """WEBHOOK_CONCURRENCY threads for deliveries, apart from the API's shared ones (one limiter per event loop)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(get_settings().webhook_concurrency)
    return limiter


class _Answers:
    """The webhook writer's answers handed to one event loop in one wake-up per batch: ``asyncio.wrap_future`` costs
    a ``call_soon_threadsafe`` (a write to the loop's self-pipe, and a wake-up) per delivery, and a group commit
    answers many deliveries at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._done: list[
            tuple[Future[stripe_webhooks.WebhookResult], asyncio.Future[stripe_webhooks.WebhookResult]]
        ] = []

    def wait(self, queued: Future[stripe_webhooks.WebhookResult]) -> asyncio.Future[stripe_webhooks.WebhookResult]:
        waiter: asyncio.Future[stripe_webhooks.WebhookResult] = self._loop.create_future()
        queued.add_done_callback(lambda done: self._completed(done, waiter))
        return waiter

    def _completed(
        self, done: Future[stripe_webhooks.WebhookResult], waiter: asyncio.Future[stripe_webhooks.WebhookResult]
    ) -> None:
        """On the writer's thread (or this loop's, when already done): queue the answer, wake the loop once."""
        with self._lock:
            self._done.append((done, waiter))
            first = len(self._done) == 1
        if first:
            self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            done, self._done = self._done, []
        for future, waiter in done:
            if waiter.done():  # the request was cancelled (client gone): its delivery is committed all the same
                continue
            error = future.exception() if not future.cancelled() else asyncio.CancelledError()
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(future.result())


_answers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Answers] = weakref.WeakKeyDictionary()


def _answer_of(queued: Future[stripe_webhooks.WebhookResult]) -> asyncio.Future[stripe_webhooks.WebhookResult]:
    loop = asyncio.get_running_loop()
    answers = _answers.get(loop)
    if answers is None:
        answers = _answers[loop] = _Answers(loop)
    return answers.wait(queued)


def _submit(
    account_id: str, payload: bytes, signature: str | None
) -> tuple[Future[stripe_webhooks.WebhookResult], int | None]:
    """Verify the delivery and queue it for the webhook writer; also the account's id once its signature checked
    out (for the usage counts)."""
    with session_scope() as session:
        result = stripe_webhooks.submit_webhook(
            session=session, account_public_id=account_id, payload=payload, signature=signature
        )
        try:
            owner: int | None = webhook_target(session, account_id).account_id  # cached by the verification
        except ServiceError:  # disconnected meanwhile: the delivery still counts as applied
            owner = None
        return result, owner


@router.post(
    "/stripe/webhook/{account_id}",
    response_model=WebhookAck,
    responses={k: {"model": ErrorResponse} for k in (400, 404, 413)},
)
async def stripe_webhook(account_id: str, request: Request) -> JSONResponse:
    """Register this URL in Stripe (Developers → Webhooks) with the events listed in Settings → Stripe.

    The ``Stripe-Signature`` header is verified on the raw body with the account's signing secret (300 s
    tolerance). Each event id is applied once; a repeated delivery answers 200 with outcome ``duplicate``.
    """
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_BODY:
            return error_response(413, "payload_too_large", f"The body is larger than {MAX_BODY} bytes.")
    payload, signature = bytes(raw), request.headers.get("stripe-signature")
    try:
        # Verified here when that needs neither the database nor Stripe (the account's secret is cached, the event
        # needs nothing fetched): a thread hop costs more than the verification. Else on a thread; a burst (a
        # sale, a renewal day) queues for one holding no thread and no database connection (app/db.py).
        cached = stripe_webhooks.submit_cached_webhook(
            account_public_id=account_id, payload=payload, signature=signature
        )
        queued, owner = (
            cached
            if cached is not None
            else await anyio.to_thread.run_sync(_submit, account_id, payload, signature, limiter=_limiter())
        )
        # Answered once its group's transaction has committed; waiting takes no thread either.
        result = await _answer_of(queued)
    except ServiceError as error:
        metrics.WEBHOOKS.labels(f"refused_{error.code}").inc()
        return service_error_response(error)
    metrics.WEBHOOKS.labels(str(result.outcome)).inc()
    if owner is not None:
        request.state.usage_key = (owner, 0)  # counted by the usage middleware; no API key
    return JSONResponse(
        WebhookAck(received=True, event_id=result.event_id, outcome=result.outcome, message=result.message).model_dump()
    )
