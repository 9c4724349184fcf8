"""Our API in a process of its own, for crash tests: ``python -m tests.utils.webhook_worker PORT [MARKER]``.

With MARKER, the process stops dead in the middle of the first transaction that records a Stripe event: the
event and its effect are flushed but not committed; it writes MARKER and waits to be killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import uvicorn
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState
from sqlmodel import Session

from app.api.factory import build_api
from app.models import StripeEvent
from app.models.base import table_of


def _pause_before_commit(marker: Path) -> None:
    @event.listens_for(Session, "do_orm_execute")
    def _seen(state: ORMExecuteState) -> None:
        # The claim is an INSERT … ON CONFLICT on the event table (app/services/stripe_webhooks/delivery.py).
        if state.is_insert and getattr(state.statement, "table", None) is table_of(StripeEvent):
            state.session.info["stripe_event"] = True

    @event.listens_for(Session, "before_commit")
    def _hang(session: Session) -> None:
        if session.info.get("stripe_event"):
            marker.write_text("received, not committed")
            while True:
                time.sleep(1)


def main() -> None:
    port = int(sys.argv[1])
    if len(sys.argv) > 2:
        _pause_before_commit(Path(sys.argv[2]))
    uvicorn.run(build_api(), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
