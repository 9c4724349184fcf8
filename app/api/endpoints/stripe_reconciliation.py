"""``/api/v1/stripe/reconciliation``: PaidSignal's gross, refunds and disputes against Stripe's balance transactions,
per day and currency, with every difference (secret key). See docs/stripe.md#reconciliation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.api.deps import SecretKeyDep, SessionDep
from app.api.schemas import ErrorResponse
from app.services.stripe_sync import reconcile as reconcile_service

router = APIRouter(tags=["stripe"])
_ERRORS: dict[int | str, dict[str, Any]] = {k: {"model": ErrorResponse} for k in (401, 409, 422, 503)}


class ReconciliationItem(BaseModel):
    """A Stripe object or PaidSignal payment; amounts in minor units of ``currency`` (the order's)."""

    kind: str
    day: date
    currency: str
    stripe_id: str
    order_id: str
    paidsignal_amount: int | None
    stripe_amount: int | None
    note: str


class ReconciliationDay(BaseModel):
    day: date
    currency: str
    paidsignal_gross: int
    stripe_gross: int
    paidsignal_refunds: int
    stripe_refunds: int
    paidsignal_disputes: int
    stripe_disputes: int
    differences: int


class ReconciliationOut(BaseModel):
    start: date
    end: date
    timezone: str
    reconciled: bool
    reconciled_through: date | None
    summary: str
    days: list[ReconciliationDay]
    differences: list[ReconciliationItem]
    outside: list[ReconciliationItem]
    waiting: list[ReconciliationItem]
    settlement: list[ReconciliationItem]
    fees: dict[str, int]
    checked_at: datetime | None


@router.get("/stripe/reconciliation", response_model=ReconciliationOut, responses=_ERRORS)
def get_reconciliation(
    identity: SecretKeyDep,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=reconcile_service.MAX_DAYS, description="days back, today included")] = 30,
) -> ReconciliationOut:
    """Reconcile the last ``days`` days with Stripe now (it lists the balance transactions): per day and currency,
    the differences (each with its Stripe object and PaidSignal order), charges made outside PaidSignal, payments
    still waiting for their balance transaction, settlements in another currency, and fees (never subtracted)."""
    report = reconcile_service.reconcile(session=session, account_id=identity.account_id, days=days)
    data = report.as_json()
    data["reconciled"] = report.reconciled
    return ReconciliationOut.model_validate(data)
