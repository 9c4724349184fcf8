"""Apply the Stripe events whose webhook never arrived, and run the history imports shops asked for
(services/stripe_sync). Leased: one process at a time."""

from __future__ import annotations

from sqlmodel import Session

from app.db import get_engine
from app.services.stripe_sync.catchup import catch_up_all


def catch_up_stripe() -> str | None:
    with Session(get_engine(), expire_on_commit=False) as session:
        return catch_up_all(session=session)
