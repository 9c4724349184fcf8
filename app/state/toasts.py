"""Toasts a handler sends, shown without eval(): ``return toast.error("…")`` where one would write ``rx.toast.error``.

Reflex delivers a toast returned by a backend handler as a script string the browser runs with eval(), which the
Content-Security-Policy refuses (see app/security_headers.py). Here the handler's toast is an event of ToastState
instead: it lists the toast as pending, the page's overlay (app/components/toasts.py) mounts one element per pending
toast whose on_mount calls the toaster from code compiled into the page, and tells the server it was shown.
"""

from __future__ import annotations

from typing import TypedDict

import reflex as rx
from reflex.event import EventSpec

LEVELS = ("error", "warning", "success", "info")
# A page that never acknowledges (closed mid-way) cannot grow the list for ever.
MAX_PENDING = 10


class PendingToast(TypedDict):
    id: int
    level: str
    message: str


class ToastState(rx.State):
    """The toasts handlers sent that the page has not shown yet."""

    pending: list[PendingToast] = []
    _last_id: int = 0

    @rx.event
    def send(self, level: str, message: str) -> None:
        """Queue a toast (the event ``toast.error(...)`` and its siblings make)."""
        self._last_id += 1
        item = PendingToast(id=self._last_id, level=level if level in LEVELS else "info", message=str(message))
        self.pending = [*self.pending, item][-MAX_PENDING:]

    @rx.event
    def shown(self, toast_id: int) -> None:
        """The page showed the toast: it is no longer pending (a page opened later does not show it again)."""
        self.pending = [item for item in self.pending if item["id"] != toast_id]


class toast:  # noqa: N801  (named like rx.toast, which it replaces in handlers)
    """``toast.error(message)``, ``toast.warning``, ``toast.success``, ``toast.info``: events a handler returns."""

    @staticmethod
    def error(message: str) -> EventSpec:
        return _send("error", message)

    @staticmethod
    def warning(message: str) -> EventSpec:
        return _send("warning", message)

    @staticmethod
    def success(message: str) -> EventSpec:
        return _send("success", message)

    @staticmethod
    def info(message: str) -> EventSpec:
        return _send("info", message)


def _send(level: str, message: str) -> EventSpec:
    event = ToastState.send(level, message)
    # A handler called with all its arguments is an EventSpec (Reflex's annotations call it an EventCallback).
    assert isinstance(event, EventSpec)
    return event
