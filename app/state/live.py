"""Live views: the install check and the overview refresh themselves while their page is open."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import reflex as rx

from app.db import session_scope
from app.services import events as event_service
from app.services import install as install_service
from app.services.errors import ServiceError
from app.state.base import AppState
from app.state.format import format_time

POLL_SECONDS = 1.5
# A forgotten tab stops polling after this long; reloading the page starts it again.
MAX_WATCH_SECONDS = 30 * 60


class EventItem(TypedDict):
    event_id: str
    type: str
    time: str
    source: str
    url: str
    visitor: str
    campaign: str


def event_items(views: list[dict[str, Any]], timezone: str) -> list[EventItem]:
    from datetime import datetime

    return [
        EventItem(
            event_id=v["event_id"],
            type=v["type"],
            time=format_time(datetime.fromisoformat(v["timestamp"]), timezone, seconds=True),
            source=v.get("source", ""),
            url=v.get("url", ""),
            visitor=v.get("visitor_id", ""),
            campaign=v.get("utm_campaign", ""),
        )
        for v in views
    ]


class LiveState(AppState):
    """Polls while its page is open (a background event), and stops when the visitor leaves the page."""

    watching: bool = False
    _watch_path: str = ""

    def _refresh_live(self, account_id: int) -> None:  # pragma: no cover - overridden
        raise TypeError("subclasses refresh their own data")

    def _load_live(self) -> None:
        with session_scope() as session:
            actor = self._actor(session)
        self._refresh_live(actor.account_id)

    async def _watch(self) -> None:
        """Poll until the page changes. Each subclass wraps it in its own background event: a handler
        inherited from a parent state would run on the parent's instance."""
        async with self:
            if self.watching:
                return
            self.watching = True
            path = self._watch_path = self.router.url.path
        try:
            for _ in range(int(MAX_WATCH_SECONDS / POLL_SECONDS)):
                await asyncio.sleep(POLL_SECONDS)
                async with self:
                    if self.router.url.path != path or not self.is_authenticated:
                        return
                    try:
                        self._load_live()
                    except ServiceError:
                        return
        finally:
            async with self:
                self.watching = False


class InstallState(LiveState):
    snippet: str = ""
    publishable_key: str = ""
    origins: list[str] = []
    received: bool = False
    first_event: dict[str, str] = {}
    recent: list[EventItem] = []
    sending_test: bool = False

    def _refresh_live(self, account_id: int) -> None:
        with session_scope() as session:
            real = event_service.list_events(session=session, account_id=account_id, exclude_source="test", limit=1)
            recent = event_service.list_events(session=session, account_id=account_id, limit=10)
        self.received = bool(real.events)
        if real.events:
            item = event_items(real.events, self.account_timezone)[0]
            self.first_event = {k: str(v) for k, v in item.items()}
        self.recent = event_items(recent.events, self.account_timezone)

    @rx.event
    def load_install(self) -> Any:
        with session_scope() as session:
            actor = self._actor(session)
            key = install_service.first_publishable_key(session=session, account_id=actor.account_id)
            self.origins = install_service.allowed_origins(session=session, account_id=actor.account_id)
        self.publishable_key = key or ""
        self.snippet = install_service.install_snippet(publishable_key=key)
        self._refresh_live(actor.account_id)
        return InstallState.watch

    @rx.event(background=True)
    async def watch(self) -> None:
        await self._watch()

    @rx.event
    def send_test_event(self) -> Any:
        with session_scope() as session:
            actor = self._actor(session)
        event_id = install_service.record_test_event(
            account_id=actor.account_id, user_agent=self.router.headers.user_agent
        )
        self._refresh_live(actor.account_id)
        return rx.toast.success(f"Test event {event_id[:8]}… recorded through the ingest pipeline.")


class OverviewState(LiveState):
    events_today: int = 0
    visitors_today: int = 0
    sessions_today: int = 0
    has_events: bool = False
    recent: list[EventItem] = []

    def _refresh_live(self, account_id: int) -> None:
        with session_scope() as session:
            counts = event_service.today_counts(session=session, account_id=account_id, timezone=self.account_timezone)
            recent = event_service.list_events(session=session, account_id=account_id, limit=20)
        self.events_today, self.visitors_today, self.sessions_today = counts.events, counts.visitors, counts.sessions
        self.recent = event_items(recent.events, self.account_timezone)
        self.has_events = bool(self.recent)

    @rx.event
    def load_overview(self) -> Any:
        self._load_live()
        return OverviewState.watch

    @rx.event(background=True)
    async def watch(self) -> None:
        await self._watch()
