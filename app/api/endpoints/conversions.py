"""``/api/v1/conversions``: the conversion deliveries to Meta, GA4, Google Ads and webhooks, their diagnostics,
replays, and the Google Ads offline click-conversion CSV (secret key)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from app.api.deps import SecretKeyDep, SessionDep
from app.api.params import Cursor, Limit, choice, day
from app.api.schemas import (
    ConversionAttempt,
    ConversionCheck,
    ConversionItem,
    ConversionList,
    ConversionOut,
    ErrorResponse,
)
from app.services import conversions as conversion_service
from app.services import orders as order_service
from app.services.permissions import key_actor

router = APIRouter(tags=["conversions"])
_ERRORS: dict[int | str, dict[str, Any]] = {k: {"model": ErrorResponse} for k in (401, 404, 422)}
_ERROR_REF = "#/components/schemas/ErrorResponse"


def _out(detail: conversion_service.DeliveryDetail) -> ConversionOut:
    return ConversionOut(
        delivery=ConversionItem.model_validate(detail.row, from_attributes=True),
        conversion=detail.conversion,
        attempts=[ConversionAttempt.model_validate(a, from_attributes=True) for a in detail.attempts],
        checklist=[ConversionCheck.model_validate(c, from_attributes=True) for c in detail.checklist],
    )


@router.get("/conversions", response_model=ConversionList, responses=_ERRORS)
def list_conversions(
    identity: SecretKeyDep,
    session: SessionDep,
    provider: Annotated[str | None, choice(conversion_service.Provider)] = None,
    status: Annotated[str | None, choice(conversion_service.DeliveryStatus)] = None,
    campaign: Annotated[str | None, Query(max_length=32, description="campaign id (cmp_…)")] = None,
    order: Annotated[str | None, Query(max_length=32, description="order id (ord_…)")] = None,
    since: Annotated[date | None, day("first day created, in the account's timezone")] = None,
    until: Annotated[date | None, day("last day created (inclusive), in the account's timezone")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ConversionList:
    """Newest deliveries first, with the count per status under the same filters in ``totals``."""
    start, end = order_service.day_range(session=session, account_id=identity.account_id, since=since, until=until)
    page = conversion_service.list_deliveries(
        session=session, account_id=identity.account_id, provider=provider, status=status,
        campaign_public_id=campaign, order_public_id=order, since=start, until=end, limit=limit, cursor=cursor,
    )  # fmt: skip
    return ConversionList(
        conversions=[ConversionItem.model_validate(row, from_attributes=True) for row in page.rows],
        total=page.total,
        totals=page.totals,
        next_cursor=page.next_cursor,
    )


class CsvResponse(PlainTextResponse):
    media_type = "text/csv"


@router.get(
    "/conversions/google-ads.csv",
    response_class=CsvResponse,
    # Declared without ``model``: FastAPI would file the errors' schema under the route's text/csv.
    responses={
        k: {"description": "error", "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}}} for k in _ERRORS
    },
)
def google_ads_csv(
    identity: SecretKeyDep,
    session: SessionDep,
    since: Annotated[date, day("first day paid, in the account's timezone")],
    until: Annotated[date, day("last day paid (inclusive), in the account's timezone")],
    conversion_name: Annotated[
        str, Query(max_length=100, pattern=r"\S", description="the conversion action's name")
    ] = "Purchase",
) -> CsvResponse:
    """Paid orders with a Google click id, in the CSV Google Ads → Conversions → Uploads accepts."""
    start, end = order_service.day_range(session=session, account_id=identity.account_id, since=since, until=until)
    assert start is not None and end is not None
    text = conversion_service.google_ads_csv(
        session=session, account_id=identity.account_id, since=start, until=end, conversion_name=conversion_name
    )
    filename = f"google-ads-conversions-{since}-{until}.csv"
    return CsvResponse(text, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/conversions/{delivery_id}", response_model=ConversionOut, responses=_ERRORS)
def get_conversion(delivery_id: str, identity: SecretKeyDep, session: SessionDep) -> ConversionOut:
    """One delivery: the conversion, every attempt (request with secrets redacted, answer, timing) and the
    diagnostics checklist."""
    return _out(
        conversion_service.delivery_detail(
            session=session, account_id=identity.account_id, delivery_public_id=delivery_id
        )
    )


@router.post("/conversions/{delivery_id}/replay", response_model=ConversionItem, responses=_ERRORS)
def replay_conversion(delivery_id: str, identity: SecretKeyDep, session: SessionDep) -> ConversionItem:
    """Queue a dead or retrying delivery to be sent again now (after fixing the pixel's credentials)."""
    row = conversion_service.replay(
        session=session, actor=key_actor(identity.account_id), delivery_public_id=delivery_id
    )
    return ConversionItem.model_validate(row, from_attributes=True)
