"""Our API in a process of its own, for crash tests: ``python -m tests.utils.webhook_worker PORT [MARKER]``.

With MARKER, the process stops dead in the middle of the first transaction that records a Stripe event: the
event and its effect are flushed but not committed; it writes MARKER and waits to be killed.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import uvicorn
from sqlalchemy import event
from sqlmodel import Session

from app.api.factory import build_api
from app.services.stripe_webhooks import WebhookWriter


def _pause_before_commit(marker: Path) -> None:
    @event.listens_for(Session, "before_commit")
    def _hang(session: Session) -> None:
        # The webhook writer's transactions claim and apply deliveries (app/services/stripe_webhooks/delivery.py;
        # its statements run on the driver's cursor, not through the ORM's execute events).
        if threading.current_thread().name == WebhookWriter.thread_name:
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
