"""Live views: the install check and the overview refresh themselves while their page is open."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict, TypeVar

import reflex as rx
from sqlmodel import Session

from app.db import session_scope
from app.models.base import utcnow
from app.services import accounts as account_service
from app.services import events as event_service
from app.services import install as install_service
from app.services import sessions as session_service
from app.services.errors import ServiceError
from app.services.permissions import Permission, require
from app.state.base import AppState
from app.state.format import format_time
from app.state.toasts import toast

POLL_SECONDS = 1.5
# A forgotten tab stops polling after this long; reloading the page starts it again.
MAX_WATCH_SECONDS = 30 * 60

T = TypeVar("T")


class EventItem(TypedDict):
    event_id: str
    type: str
    time: str  # when it was received: what the list is sorted by
    event_time: str  # when it happened, if that reads differently ("" otherwise)
    source: str
    url: str
    visitor: str
    campaign: str


def campaign_label(view: dict[str, Any]) -> str:
    """What the event's session matched: "Spring sale v2", "unmatched" (UTM or click ids no campaign took),
    "direct", or "—" (no session: test events)."""
    match = view.get("campaign_match")
    if match == "matched":
        number = view.get("campaign_version_number")
        return f"{view.get('campaign_name', '')} v{number}" if number else str(view.get("campaign_name", ""))
    return str(match) if match else "—"


def _event_time(occurred: str, received: str) -> str:
    """The event's own time when it differs from its receipt (to the second): the time alone on the same day."""
    if occurred == received:
        return ""
    return occurred[11:] if occurred[:10] == received[:10] else occurred


def event_items(views: list[dict[str, Any]], timezone: str) -> list[EventItem]:
    items = []
    for v in views:
        received = format_time(datetime.fromisoformat(v["received_at"]), timezone, seconds=True)
        occurred = format_time(datetime.fromisoformat(v["timestamp"]), timezone, seconds=True)
        items.append(
            EventItem(
                event_id=v["event_id"],
                type=v["type"],
                time=received,
                event_time=_event_time(occurred, received),
                source=v.get("source", ""),
                url=v.get("url", ""),
                visitor=v.get("visitor_id", ""),
                campaign=campaign_label(v),
            )
        )
    return items


# --- what a live page shows: plain functions of (session, account, timezone), run in a worker thread when polling ---


@dataclass(frozen=True)
class InstallData:
    received: bool
    first_event: dict[str, str] | None
    recent: list[EventItem] = field(default_factory=list)


def read_install(session: Session, account_id: int, timezone: str) -> InstallData:
    real = install_service.first_real_event(session=session, account_id=account_id)
    recent = event_service.list_events(session=session, account_id=account_id, limit=10)
    first = event_items([real], timezone)[0] if real else None
    return InstallData(
        received=first is not None,
        first_event={k: str(v) for k, v in first.items()} if first else None,
        recent=event_items(recent.events, timezone),
    )


@dataclass(frozen=True)
class OverviewData:
    events: int
    visitors: int
    sessions: int
    recent: list[EventItem] = field(default_factory=list)
    derived_lag: str = ""  # how far visitors and sessions trail the stored events


def derived_lag(up_to: datetime | None, now: datetime) -> str:
    """The overview's note on derivation: visitors and sessions are derived from events a moment after they are
    stored (services/sessions.py), so their counts may trail the events'."""
    if up_to is None:
        return "Visitors and sessions: up to date"
    return f"Visitors and sessions: events up to {max(0, int((now - up_to).total_seconds()))} s ago still to derive"


def read_overview(session: Session, account_id: int, timezone: str) -> OverviewData:
    counts = event_service.today_counts(session=session, account_id=account_id, timezone=timezone)
    recent = event_service.list_events(session=session, account_id=account_id, limit=20)
    lag = derived_lag(session_service.derived_up_to(session, account_id), utcnow())
    return OverviewData(counts.events, counts.visitors, counts.sessions, event_items(recent.events, timezone), lag)


def poll_live(
    token_hash: str, read: Callable[[Session, int, str], T]
) -> tuple[account_service.SessionContext | None, T | None]:
    """Blocking (the poller runs it with ``asyncio.to_thread``): the session's context, re-resolved from the database
    since roles and sessions may change any time, and what ``read`` returns for its account in the account's timezone.
    No data when the session has ended."""
    with session_scope() as session:
        context = account_service.resolve_session(session=session, token_hash=token_hash)
        if context is None or context.actor is None or context.active is None:
            return context, None
        return context, read(session, context.actor.account_id, context.active.timezone)


class LiveState(AppState):
    """Polls while its page is open (a background event), and stops when the visitor leaves the page."""

    watching: bool = False
    _watch_path: str = ""

    @staticmethod
    def _read_live(session: Session, account_id: int, timezone: str) -> Any:  # pragma: no cover - overridden
        raise TypeError("subclasses read their own data")

    def _show_live(self, data: Any) -> None:  # pragma: no cover - overridden
        raise TypeError("subclasses show their own data")

    def _load_live(self) -> bool:
        """Read and show the live data now; False (and nothing shown) when the visitor is not signed in."""
        read = self._read_live

        def load(session: Session) -> Any:
            actor = self._actor(session)  # also refreshes account_timezone
            return read(session, actor.account_id, self.account_timezone)

        data, error = self._run(load)
        if error or data is None:
            return False
        self._show_live(data)
        return True

    async def _watch(self) -> None:
        """Poll until the page changes. Each subclass wraps it in its own background event: a handler
        inherited from a parent state would run on the parent's instance.

        The state is locked (``async with self``) only to read the token and to show the result: the database work
        runs in a worker thread, so a poll never blocks the event loop (every tab of every visitor polls)."""
        async with self:
            if self.watching:
                return
            self.watching = True
            path = self._watch_path = self.router.url.path
            # Through the instance: in a background task ``self`` is a StateProxy, so type(self) is not the state.
            read = self._read_live
        try:
            for _ in range(int(MAX_WATCH_SECONDS / POLL_SECONDS)):
                await asyncio.sleep(POLL_SECONDS)
                async with self:
                    if self.router.url.path != path or not self.is_authenticated:
                        return
                    token_hash = self._session_token_hash()
                try:
                    context, data = await asyncio.to_thread(poll_live, token_hash, read)
                except ServiceError:
                    return
                async with self:
                    if self.router.url.path != path:
                        return
                    if self._session_token_hash() != token_hash:
                        continue  # logged out or in again meanwhile: this answer is for the old session
                    self._apply_context(context)
                    if data is None:
                        return
                    self._show_live(data)
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

    _read_live = staticmethod(read_install)

    def _show_live(self, data: InstallData) -> None:
        self.received = data.received
        if data.first_event is not None:
            self.first_event = data.first_event
        self.recent = data.recent

    @rx.event
    def load_install(self) -> Any:
        def load(session: Session) -> tuple[str | None, list[str]]:
            account_id = self._actor(session).account_id
            return (
                install_service.first_publishable_key(session=session, account_id=account_id),
                install_service.allowed_origins(session=session, account_id=account_id),
            )

        result, error = self._run(load)
        if error or result is None:
            return None  # signed out: check_login, queued before this, sends the visitor to the login page
        key, self.origins = result
        self.publishable_key = key or ""
        self.snippet = install_service.install_snippet(publishable_key=key)
        if not self._load_live():
            return None
        return InstallState.watch

    @rx.event(background=True)
    async def watch(self) -> None:
        await self._watch()

    @rx.event
    def send_test_event(self) -> Any:
        """Record a test event through the ingest pipeline; marketers and up (viewers only look)."""
        user_agent = self.router.headers.user_agent

        def send(session: Session) -> str:
            actor = self._actor(session)
            require(actor, Permission.EDIT_MARKETING)
            return install_service.record_test_event(account_id=actor.account_id, user_agent=user_agent)

        event_id, error = self._run(send)
        if error or event_id is None:
            return toast.error(error or "The test event could not be recorded.")
        self._load_live()
        return toast.success(f"Test event {event_id[:8]}… recorded through the ingest pipeline.")


class OverviewState(LiveState):
    events_today: int = 0
    visitors_today: int = 0
    sessions_today: int = 0
    has_events: bool = False
    recent: list[EventItem] = []
    derived_lag: str = ""

    _read_live = staticmethod(read_overview)

    def _show_live(self, data: OverviewData) -> None:
        self.events_today, self.visitors_today, self.sessions_today = data.events, data.visitors, data.sessions
        self.derived_lag = data.derived_lag
        self.recent = data.recent
        self.has_events = bool(self.recent)

    @rx.event
    def load_overview(self) -> Any:
        if not self._load_live():
            return None  # signed out: check_login, queued before this, sends the visitor to the login page
        return OverviewState.watch

    @rx.event(background=True)
    async def watch(self) -> None:
        await self._watch()
