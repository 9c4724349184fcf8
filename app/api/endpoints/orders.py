"""``/api/v1/orders``: order status and timeline (secret key; the buyer's browser may read its own order)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from app.api.cors import allow_origin, expose_error
from app.api.deps import SecretKeyDep, SessionDep, resolve_browser_or_server_key
from app.api.errors import service_error_response
from app.api.params import Cursor, Limit, choice, day
from app.api.schemas import ErrorResponse, OrderList, OrderListItem, OrderOut, OrderPaymentOut, OrderTimelineEntry
from app.models import KeyKind
from app.services import orders as order_service
from app.services.errors import ServiceError
from app.services.orders import OrderDetail

router = APIRouter(tags=["orders"])


def _out(detail: OrderDetail, *, full: bool) -> OrderOut:
    row = detail.row
    return OrderOut(
        order_id=row.order_id,
        status=row.status,
        mode=row.mode,
        currency=row.currency,
        amount=row.amount,
        amount_paid=detail.amount_paid,
        amount_refunded=row.amount_refunded,
        items=detail.items,
        campaign=row.campaign,
        campaign_version=row.campaign_version,
        created_at=row.created_at,
        paid_at=row.paid_at,
        subscription_status=detail.subscription_status,
        disputed=detail.disputed,
        event_id=detail.event_id,
        attribution=detail.attribution if full else None,
        payments=[OrderPaymentOut.model_validate(p, from_attributes=True) for p in detail.payments] if full else None,
        timeline=[OrderTimelineEntry.model_validate(e, from_attributes=True) for e in detail.timeline],
        imported=row.imported,
    )


@router.get("/orders", response_model=OrderList, responses={k: {"model": ErrorResponse} for k in (401, 404, 422)})
def list_orders(
    identity: SecretKeyDep,
    session: SessionDep,
    status: Annotated[str | None, choice(order_service.OrderStatus, max_length=24)] = None,
    since: Annotated[date | None, day("first day, in the account's timezone")] = None,
    until: Annotated[date | None, day("last day (inclusive), in the account's timezone")] = None,
    campaign: Annotated[
        str | None,
        Query(max_length=32, description="campaign id (cmp_…), or `imported` for orders imported from Stripe"),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> OrderList:
    """Newest orders first; pass ``next_cursor`` as ``cursor`` for the next page."""
    start, end = order_service.day_range(session=session, account_id=identity.account_id, since=since, until=until)
    page = order_service.list_orders(
        session=session,
        account_id=identity.account_id,
        status=status,
        since=start,
        until=end,
        campaign_public_id=campaign,
        limit=limit,
        cursor=cursor,
    )
    return OrderList(
        orders=[OrderListItem.model_validate(row, from_attributes=True) for row in page.orders],
        total=page.total,
        next_cursor=page.next_cursor,
    )


@router.get(
    "/orders/{order_id}", response_model=OrderOut, responses={k: {"model": ErrorResponse} for k in (401, 403, 404)}
)
def get_order(order_id: str, request: Request, session: SessionDep) -> JSONResponse:
    """An order's status, amounts and Stripe timeline.

    With a secret key: everything, including the attribution snapshot. With a publishable key (the buyer's
    browser on the thank-you page): only when ``visitor_id`` is the order's visitor, and without attribution.
    """
    origin = request.headers.get("origin")
    identity = None
    try:
        identity = resolve_browser_or_server_key(request, session, None)
        full = identity.kind is KeyKind.SECRET
        if full:
            detail = order_service.order_detail(
                session=session, account_id=identity.account_id, order_public_id=order_id
            )
        else:
            detail = order_service.buyer_order(
                session=session,
                account_id=identity.account_id,
                order_public_id=order_id,
                visitor_id=request.query_params.get("visitor_id"),
            )
    except ServiceError as error:
        response = service_error_response(error)
        expose_error(response, origin)
        return response
    response = JSONResponse(_out(detail, full=full).model_dump(mode="json"))
    allow_origin(response, origin, identity)
    return response
