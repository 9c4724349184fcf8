"""``/api/v1/stripe/webhook/{account_id}``: Stripe's signed events for one account."""

from __future__ import annotations

import asyncio
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
        result = await asyncio.wrap_future(queued)
    except ServiceError as error:
        metrics.WEBHOOKS.labels(f"refused_{error.code}").inc()
        return service_error_response(error)
    metrics.WEBHOOKS.labels(str(result.outcome)).inc()
    if owner is not None:
        request.state.usage_key = (owner, 0)  # counted by the usage middleware; no API key
    return JSONResponse(
        WebhookAck(received=True, event_id=result.event_id, outcome=result.outcome, message=result.message).model_dump()
    )
