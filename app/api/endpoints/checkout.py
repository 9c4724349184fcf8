"""``/api/v1/checkout/sessions``: start a Stripe Checkout for the shop's buyer (browsers, CORS-simple)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app.api.body import read_json
from app.api.cors import allow_origin, expose_error
from app.api.deps import resolve_browser_or_server_key
from app.api.errors import service_error_response
from app.api.schemas import CheckoutCreated, ErrorResponse, self_contained
from app.db import session_scope
from app.models import KeyKind
from app.services import checkout
from app.services.errors import ServiceError
from app.services.keys import KeyIdentity

router = APIRouter(tags=["checkout"])
MAX_BODY = 64 * 1024


def _start(request: Request, payload: object) -> tuple[KeyIdentity, checkout.CheckoutStarted]:
    parsed = checkout.parse_request(payload)
    ip = request.client.host if request.client else ""
    with session_scope() as session:
        identity = resolve_browser_or_server_key(request, session, parsed.key)
        checkout.check_rate(identity.key_id, ip)
        browser = identity.kind is KeyKind.PUBLISHABLE
        started = checkout.start_checkout(
            session=session,
            identity=identity,
            request=parsed,
            user_agent=request.headers.get("user-agent", "") if browser else "",
            ip=ip if browser else "",
        )
    return identity, started


@router.post(
    "/checkout/sessions",
    response_model=CheckoutCreated,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": self_contained(checkout.CheckoutRequest)},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
    responses={k: {"model": ErrorResponse} for k in (401, 403, 409, 413, 415, 422, 429, 503)},
)
async def create_checkout_session(request: Request) -> JSONResponse:
    """Create an order and its Stripe Checkout Session; send the buyer to ``checkout_url``.

    Browsers: CORS-simple ``text/plain`` POST with ``?key=ps_pk_…``; ``success_url`` and ``cancel_url`` must be on
    the key's allowed origins. ``event_id`` names one checkout attempt: sent again, it returns the same order
    and Checkout Session; sent with another cart, mode, return URL or e-mail it is a 409.
    """
    origin = request.headers.get("origin")
    try:
        payload = await read_json(request, max_bytes=MAX_BODY)
        identity, started = await run_in_threadpool(_start, request, payload)
    except ServiceError as error:
        response = service_error_response(error)
        expose_error(response, origin)
        return response
    response = JSONResponse(
        CheckoutCreated(
            order_id=started.order_id, checkout_url=started.checkout_url, event_id=started.event_id
        ).model_dump()
    )
    allow_origin(response, origin, identity)
    return response
