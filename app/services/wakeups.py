"""Waking a job in the other processes of a cluster: PostgreSQL's ``LISTEN``/``NOTIFY``.

A webhook handled by an api process enqueues conversions that the jobs process sends: the api process notifies
after its commit, and every process that schedules the sender listens and runs it at once instead of at its next
interval (``CONVERSIONS_SEND_SECONDS``). On SQLite and libSQL there is no such channel: a single process wakes its
own sender in memory (app/runtime.py), and separate processes find the work on their interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.db import get_engine

log = logging.getLogger("paidsignal.wakeups")

CHANNEL = "paidsignal_wake"
_RECONNECT_SECONDS = 2.0


def supported() -> bool:
    """Whether the database carries notifications between processes (PostgreSQL)."""
    return get_engine().dialect.name == "postgresql"


def notify(job_name: str) -> None:
    """Wake ``job_name`` in every listening process. Never raises: a missed wake-up only delays the job to its
    next interval."""
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT pg_notify(:channel, :job)"), {"channel": CHANNEL, "job": job_name})
            connection.commit()
    except Exception:
        log.warning("could not notify %s; it runs on its interval", job_name, exc_info=True)


class WakeListener:
    """A thread holding one connection of its own that listens on CHANNEL and calls ``on_wake(job_name)`` for each
    notification, reconnecting after a failure."""

    def __init__(self, on_wake: Callable[[str], None]) -> None:
        self._on_wake = on_wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set once LISTEN is in place (tests wait for it)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="paidsignal-wake-listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        import psycopg

        url = make_url(get_engine().url.render_as_string(hide_password=False)).set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for note in connection.notifies(timeout=1.0):
                            self._on_wake(note.payload)
            except Exception:
                self.listening.clear()
                log.warning("the wake-up listener lost its connection; reconnecting", exc_info=True)
                self._stop.wait(_RECONNECT_SECONDS)
