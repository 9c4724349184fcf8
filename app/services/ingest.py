"""The ingestion pipeline: parse → gatekeeper (rate) → enrich (bot check, click ids) → record (group commit).

Each dropped or rejected event gets an explicit reason. Key and origin checks happen before (app.services.keys).
The group-commit writer lets concurrent requests share one transaction; a request is answered only after its
events are committed, and the unique (account_id, event_id) means nothing is stored twice. Visitors, sessions and
touches are derived after that commit, off the request path: the writer runs a pass (services/sessions.py) within
INGEST_DERIVE_DELAY_SECONDS, so the events of many requests share it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from crawlerdetect import CrawlerDetect
from pydantic import ValidationError
from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app import runtime
from app.models import Event, EventSource
from app.models.base import table_of, utcnow
from app.observability import metrics
from app.services import ratelimit, usage
from app.services import sessions as session_service
from app.services.errors import ValidationFailed
from app.services.events_schema import MAX_BATCH, EventBatch, EventIn
from app.services.group_commit import GroupCommit
from app.services.usage.drops import count_drops
from app.settings import get_settings

log = logging.getLogger("paidsignal.ingest")
Source = EventSource  # the name the pipeline's callers use


@dataclass(frozen=True)
class Rejected:
    index: int
    code: str
    message: str
    field: str | None = None  # the event's field at fault, as in ``properties`` or ``items.0.quantity``


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    dropped: int = 0
    errors: list[Rejected] = field(default_factory=list)
    dropped_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "dropped": self.dropped,
            "dropped_reasons": self.dropped_reasons,
            "errors": [{"index": e.index, "code": e.code, "message": e.message, "field": e.field} for e in self.errors],
        }


@dataclass(frozen=True)
class IngestContext:
    account_id: int
    source: str
    key_id: int | None = None
    user_agent: str = ""
    ip: str = ""
    origin: str = ""  # the browser's Origin header (counted with dropped events)


# --- parse ------------------------------------------------------------------------------------------------------


def split_payload(payload: object) -> tuple[list[Any], str | None]:
    """The list of raw events and an optional body key, from ``{"events": [...]}``, one event, or a list."""
    if isinstance(payload, dict) and "events" in payload:
        extra = set(payload) - {"events", "key"}
        if extra:
            raise ValidationFailed(f"Unknown top-level field(s): {', '.join(sorted(extra))}.", field=sorted(extra)[0])
        events, key = payload["events"], payload.get("key")
        if not isinstance(events, list):
            raise ValidationFailed("events must be a list of event objects.", field="events")
    elif isinstance(payload, dict):
        key = payload.pop("key", None) if "key" in payload else None
        events = [payload]
    elif isinstance(payload, list):
        events, key = payload, None
    else:
        raise ValidationFailed('Send {"events": [...]} or one event object.')
    if not events:
        raise ValidationFailed("events is empty; send at least one event.", field="events")
    if len(events) > MAX_BATCH:
        raise ValidationFailed(f"A batch holds at most {MAX_BATCH} events; got {len(events)}.", field="events")
    if key is not None and not isinstance(key, str):
        raise ValidationFailed("key must be a string.", field="key")
    return events, key


def validate_batch(body: bytes) -> EventBatch | None:
    """The body as ``{"events": [...]}`` of events that are all valid, checked in one pydantic-core call on its bytes
    (no Python per event but our validators); None when it is anything else (another shape, a bad event, bad JSON):
    then the caller reads it with ``split_payload`` and ``parse_events`` checks each event, which says what is wrong.

    Whatever passes here passes there too, with the same values (tests/api/test_events_batch_parse.py)."""
    try:
        return EventBatch.model_validate_json(body)
    except ValidationError:
        return None


def parse_events(
    raw_events: list[Any], *, now: datetime, result: IngestResult, validated: bool = False
) -> list[tuple[int, EventIn]]:
    """Each event checked (unless ``validated``: already ``EventIn``, from ``validate_batch``) and its time window."""
    parsed: list[tuple[int, EventIn]] = []
    for index, raw in enumerate(raw_events):
        if validated:
            event = raw
        else:
            try:
                event = EventIn.model_validate(raw)
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ()))
                result.errors.append(
                    Rejected(
                        index,
                        "validation_failed",
                        f"{where}: {first['msg']}" if where else str(first["msg"]),
                        where or None,
                    )
                )
                continue
        problem = event.check_time(now)
        if problem:
            result.errors.append(Rejected(index, "invalid_timestamp", problem, "timestamp"))
            continue
        parsed.append((index, event))
    result.rejected = len(result.errors)
    return parsed


# --- gatekeeper: rate limit per key ------------------------------------------------------------------------------


def check_rate(key_id: int) -> None:
    """Requests per key per process (``INGEST_RATE_LIMIT``); 429 with Retry-After beyond it."""
    ratelimit.hit(
        get_settings().ingest_rate_limit,
        "ingest",
        str(key_id),
        message="Too many requests for this key (limit {limit}); retry after {retry_after} s.",
    )


# --- enrich ------------------------------------------------------------------------------------------------------

_crawlers = CrawlerDetect()


@functools.lru_cache(maxsize=4096)
def is_bot(user_agent: str) -> bool:
    """Bots by user agent: empty ones, headless browsers and the crawlerdetect list (see docs/api/events.md, Bots)."""
    ua = user_agent.strip()
    if not ua or "headless" in ua.lower():
        return True
    return bool(_crawlers.isCrawler(ua))


def build_fbc(fbclid: str, at: datetime) -> str:
    """Meta's fbc: ``fb.1.{creation_ms}.{fbclid}`` — milliseconds, and fbclid exactly as received."""
    return f"fb.1.{int(at.timestamp() * 1000)}.{fbclid}"


def enrich(
    parsed: list[tuple[int, EventIn]], ctx: IngestContext, *, now: datetime, result: IngestResult
) -> list[dict[str, Any]]:
    dropped: Counter[str] = Counter()
    if ctx.source == Source.BROWSER and is_bot(ctx.user_agent):
        dropped["bot"] += len(parsed)
        parsed = []
    rows: list[dict[str, Any]] = []
    for _index, event in parsed:
        if event.consent is not None and event.consent.analytics is False:
            dropped["consent_denied"] += 1
            continue
        occurred = event.timestamp or now
        # The fields that have values, as model_dump(exclude_none=True) gives them, at a third of its cost.
        data = {name: value for name, value in event.__dict__.items() if value is not None and name not in _NOT_STORED}
        if event.items is not None:
            data["items"] = [item.model_dump(exclude_none=True) for item in event.items]
        if event.consent is not None:
            data["consent"] = event.consent.model_dump(exclude_none=True)
        if event.user_data is not None:
            data["user_data"] = {k: v for k, v in event.user_data.model_dump().items() if v}
        if event.fbclid and not event.fbc:
            data["fbc"] = build_fbc(event.fbclid, occurred)
        data.update(_ad_ids_from_url(event))
        # Only the columns that have values (the insert leaves the others out, so they are NULL).
        data.update(account_id=ctx.account_id, occurred_at=occurred, received_at=now, source=ctx.source)
        if event.session_id:
            data["session_key"] = event.session_id
        data.update((name, value) for name, value in _client(event, ctx).items() if value)
        rows.append(data)
    result.dropped = sum(dropped.values())
    result.dropped_reasons = dict(dropped)
    if dropped:
        count_drops(ctx.account_id, dict(dropped), ctx.origin)
    return rows


# What an event carries that is not stored as its own column (the time is ``occurred_at``, the session id
# ``session_key``, a server sender's client details ``user_agent`` / ``ip``).
_NOT_STORED = frozenset({"timestamp", "session_id", "client_user_agent", "client_ip"})


def _ad_ids_from_url(event: EventIn) -> dict[str, str]:
    """``utm_id`` and ``gad_campaignid`` from the page URL when the event did not carry them (server senders, a
    pixel.js cached from before it sent them): the platform campaign ids that map reports to campaigns."""
    url = event.url or ""
    if "utm_id=" not in url and "gad_campaignid=" not in url:
        return {}
    query = parse_qs(urlsplit(url).query)
    found = {}
    for name, limit in (("utm_id", 200), ("gad_campaignid", 64)):
        if getattr(event, name) is None and query.get(name) and query[name][0].strip():
            found[name] = query[name][0].strip()[:limit]
    return found


def _client(event: EventIn, ctx: IngestContext) -> dict[str, str | None]:
    """The buyer's browser: what the browser itself sent us, or what a server sender reports it saw. A server's
    own user agent and address are not the buyer's, and a browser cannot claim someone else's."""
    if ctx.source == Source.BROWSER:
        agent, ip = ctx.user_agent, ctx.ip
    elif ctx.source == Source.SERVER:
        agent, ip = event.client_user_agent or "", event.client_ip or ""
    else:
        agent, ip = event.client_user_agent or ctx.user_agent, event.client_ip or ctx.ip
    return {"user_agent": agent[:512] or None, "ip": ip[:64] or None}


# --- record: the group-commit writer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteRequest:
    account_id: int
    rows: list[dict[str, Any]]


def write_rows(session: Session, account_id: int, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Insert the rows that are new (queued for derivation); return (accepted, duplicates). No commit."""
    return write_requests(session, account_id, [rows])[0]


def write_requests(session: Session, account_id: int, requests: list[list[dict[str, Any]]]) -> list[tuple[int, int]]:
    """Several requests of one account in one pass: one duplicate check, one insert, one usage count.

    Statements per group stay constant however many requests it holds; that is what makes group commit pay.
    Returns (accepted, duplicates) per request; a repeat of an id earlier in the group is a duplicate.
    """
    ids = {row["event_id"] for rows in requests for row in rows}
    seen = set(session.execute(_STORED_IDS, {"account_id": account_id, "ids": list(ids)}).scalars())
    fresh: list[dict[str, Any]] = []
    outcomes: list[tuple[int, int]] = []
    for rows in requests:
        accepted = 0
        for row in rows:
            if row["event_id"] in seen:
                continue
            seen.add(row["event_id"])
            fresh.append(row)
            accepted += 1
        outcomes.append((accepted, len(rows) - accepted))
    if fresh:
        # Test events are stored (and listed, marked) but derive no visitor, session or touch, so no figure built
        # on those (rollups, raw metrics, alerts, the assistant) and no usage count ever includes them. Tracked
        # events are derived after this commit (services/sessions.derive_pending), off the request path.
        received = []
        for row in fresh:
            if row.get("source") != Source.TEST:
                row["derive_pending"] = True
                received.append(row["received_at"])
        session_service.insert_rows(session, table_of(Event), fresh)
        usage.count_stored_events(session, account_id, received)
    return outcomes


_events = table_of(Event)
# Built once (a Core statement: the ORM's select cost as much as the rest of a small group's writes).
_STORED_IDS = sa_select(_events.c.event_id).where(
    _events.c.account_id == bindparam("account_id"), _events.c.event_id.in_(bindparam("ids", expanding=True))
)


class GroupCommitWriter(GroupCommit[WriteRequest, tuple[int, int]]):
    """One writer thread per process. Requests that arrive while a transaction commits share the next one."""

    thread_name = "paidsignal-ingest-writer"

    def __init__(
        self, engine_factory: Callable[[], Engine], *, max_rows: int = 20_000, derive_delay: float | None = None
    ) -> None:
        super().__init__(engine_factory, max_weight=max_rows)
        self._derive_delay = derive_delay
        self._derive_due: float | None = None  # when the events committed since the last pass are to be derived

    def submit(self, account_id: int, rows: list[dict[str, Any]]) -> Future[tuple[int, int]]:
        return self.submit_item(WriteRequest(account_id, rows))

    def weight(self, item: WriteRequest) -> int:
        return len(item.rows)

    def write_group(self, session: Session, items: list[WriteRequest]) -> list[tuple[int, int]]:
        by_account: dict[int, list[int]] = {}
        for index, request in enumerate(items):
            by_account.setdefault(request.account_id, []).append(index)
        results: list[tuple[int, int]] = [(0, 0)] * len(items)
        # Accounts in one order in every process: each takes its accounts' event-count rows in the same order, so
        # two writers (two workers on PostgreSQL) cannot deadlock on them.
        for account_id, indexes in sorted(by_account.items()):
            outcomes = write_requests(session, account_id, [items[i].rows for i in indexes])
            for index, outcome in zip(indexes, outcomes, strict=True):
                results[index] = outcome
        return results

    def queued(self) -> None:
        metrics.INGEST_QUEUE.inc()

    def dequeued(self, count: int) -> None:
        metrics.INGEST_QUEUE.dec(count)

    @property
    def derive_delay(self) -> float:
        if self._derive_delay is None:
            return get_settings().ingest_derive_delay_seconds
        return self._derive_delay

    # Derive what was committed once it has waited derive_delay (events that arrive in that time share one pass),
    # between groups on the writer's thread.

    def wait_seconds(self) -> float | None:
        return None if self._derive_due is None else max(0.0, self._derive_due - time.monotonic())

    def between_groups(self) -> None:
        if self._derive_due is not None and time.monotonic() >= self._derive_due:
            self._derive()

    def committed(self) -> None:
        if self._derive_due is None:
            self._derive_due = time.monotonic() + self.derive_delay

    def stopping(self) -> None:
        """At a clean stop: derive what this writer committed (a crash leaves it to the derive_visits job)."""
        if self._derive_due is not None:
            self._derive()

    def _derive(self) -> None:
        """Derive everything committed so far (in passes of sessions.DERIVE_BATCH events, one transaction each). On
        failure the events stay flagged: the next pass (or the derive_visits job) derives them."""
        self._derive_due = None
        try:
            catch_up(engine=self._engine_factory())
        except Exception:
            log.exception("deriving visitors and sessions failed; retrying after the next delay")
            self._derive_due = time.monotonic() + max(self.derive_delay, 1.0)

    def written(self, requests: int, weight: int, seconds: float) -> None:
        metrics.INGEST_GROUP_REQUESTS.observe(requests)
        metrics.INGEST_GROUP_ROWS.observe(weight)
        metrics.INGEST_COMMIT_SECONDS.observe(seconds)


def catch_up(*, engine: Engine | None = None, account_id: int | None = None, visitor_key: str | None = None) -> int:
    """Derive every stored event still waiting (all, an account's, or one visitor's), a transaction per pass of
    sessions.DERIVE_BATCH events; returns how many were derived. Safe to call from any thread or process: passes
    run one at a time."""
    from app.db import get_engine

    total = 0
    with Session(engine or get_engine()) as session:
        while True:
            try:
                done = session_service.derive_pending(session, account_id=account_id, visitor_key=visitor_key)
                session.commit()
            except Exception:
                session.rollback()
                log.exception("a derivation pass failed; deriving its events one by one")
                done = _derive_one_by_one(session, account_id=account_id, visitor_key=visitor_key)
            total += done
            if done < session_service.DERIVE_BATCH:
                return total


def _derive_one_by_one(session: Session, *, account_id: int | None, visitor_key: str | None) -> int:
    """After a failed pass: its events one per transaction, so one that cannot be derived (it is logged and left
    out of visitors and sessions, its flag cleared) cannot hold up every later event. Returns how many it handled."""
    for handled in range(session_service.DERIVE_BATCH):
        try:
            if not session_service.derive_pending(session, account_id=account_id, visitor_key=visitor_key, limit=1):
                return handled
            session.commit()
        except OperationalError:
            session.rollback()
            raise  # the database is locked or gone: nothing wrong with the event, the next pass retries it
        except Exception:
            session.rollback()
            event_pk = session_service.skip_oldest_pending(session, account_id=account_id, visitor_key=visitor_key)
            session.commit()
            log.exception("event %s cannot be derived: stored, left out of visitors and sessions", event_pk)
    return session_service.DERIVE_BATCH


def submit(account_id: int, rows: list[dict[str, Any]]) -> Future[tuple[int, int]]:
    """Queue ``rows`` for this process's group-commit writer (app/runtime.py); the future is (accepted,
    duplicates) once they are committed."""
    return runtime.current().writer.submit(account_id, rows)


# --- the whole pipeline -----------------------------------------------------------------------------------------


def prepare(
    raw_events: list[Any], ctx: IngestContext, *, validated: bool = False
) -> tuple[IngestResult, list[dict[str, Any]]]:
    """Parse and enrich; the rows still need recording. Raises RateLimited before any work when over the limit.
    ``validated``: the events are ``EventIn`` already (``validate_batch``)."""
    if ctx.key_id is not None:
        check_rate(ctx.key_id)
    now = utcnow()
    result = IngestResult()
    parsed = parse_events(raw_events, now=now, result=result, validated=validated)
    rows = enrich(parsed, ctx, now=now, result=result)
    return result, rows


def settle(result: IngestResult, outcome: tuple[int, int]) -> IngestResult:
    result.accepted, result.duplicates = outcome
    return result


def ingest_now(raw_events: list[Any], ctx: IngestContext, *, timeout: float = 30) -> IngestResult:
    """Blocking form for in-process callers (the install page's test event, the CLI, tests): returns once the
    events are committed and the account's visitors, sessions and touches include them."""
    result, rows = prepare(raw_events, ctx)
    if not rows:
        return result
    settle(result, submit(ctx.account_id, rows).result(timeout))
    catch_up(account_id=ctx.account_id)
    return result
