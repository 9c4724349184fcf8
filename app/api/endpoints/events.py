"""``/api/v1/events``: record events (browsers with a publishable key, servers with a secret key) and list them."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime
from sqlmodel import Session

from app.api.body import loads, read_body
from app.api.cors import allow_origin, expose_error
from app.api.deps import SecretKeyDep, SessionDep, resolve_browser_or_server_key
from app.api.errors import error_response, service_error_response
from app.api.params import Cursor, Limit, choice, day
from app.api.schemas import ErrorResponse, EventList, IngestResponse, self_contained
from app.db import get_engine
from app.models import KeyKind
from app.services import events as event_service
from app.services import ingest
from app.services.errors import ServiceError
from app.services.events_schema import EventBatch
from app.services.keys import KeyIdentity
from app.settings import get_settings

router = APIRouter(tags=["events"])
_SOURCES = (ingest.Source.BROWSER, ingest.Source.SERVER, ingest.Source.TEST)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


@router.post(
    "/events",
    response_model=IngestResponse,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": self_contained(EventBatch)},
                "text/plain": {"schema": {"type": "string"}},
            }
        }
    },
    responses={k: {"model": ErrorResponse} for k in (401, 403, 413, 415, 422, 429)},
)
async def record_events(request: Request) -> JSONResponse:
    """Record one event or a batch of up to 500. Browsers: CORS-simple ``text/plain`` POST with ``?key=ps_pk_…``.

    Good events are accepted even when others in the batch are rejected; each rejected index is listed.
    The answer comes only after the accepted events are committed.
    """
    origin = request.headers.get("origin")
    identity: KeyIdentity | None = None
    try:
        body = await read_body(request, max_bytes=get_settings().ingest_max_body_bytes)
        batch = ingest.validate_batch(body)  # a batch of good events, checked in one call
        if batch is None:  # anything else: read as before, each event checked on its own
            raw_events, body_key = ingest.split_payload(loads(body) if body.strip() else {})
        else:
            raw_events, body_key = list(batch.events), batch.key
        # No per-request session dependency: with the key cached, the ingest path never touches the database
        # before the writer (and the session below never begins a transaction to commit).
        with Session(get_engine(), expire_on_commit=False) as session:
            identity = resolve_browser_or_server_key(request, session, body_key)
            if session.in_transaction():  # the key was read (and perhaps re-hashed): not cached
                session.commit()
        source = ingest.Source.BROWSER if identity.kind is KeyKind.PUBLISHABLE else ingest.Source.SERVER
        ctx = ingest.IngestContext(
            account_id=identity.account_id,
            source=source,
            key_id=identity.key_id,
            user_agent=request.headers.get("user-agent", ""),
            ip=_client_ip(request),
            origin=origin or "",
        )
        result, rows = ingest.prepare(raw_events, ctx, validated=batch is not None)
        if rows:
            try:
                outcome = await asyncio.wrap_future(ingest.submit(identity.account_id, rows))
            except ServiceError:
                raise
            except Exception:
                # Not stored: a JSON 500 the pixel can read, so it retries the batch later.
                response = error_response(500, "internal_error", "The events could not be stored; retry later.")
                expose_error(response, origin)
                return response
            ingest.settle(result, outcome)
            request.state.usage_events = result.accepted  # counted by the usage middleware
        response = JSONResponse(result.as_dict())
    except ServiceError as error:
        response = service_error_response(error)
        expose_error(response, origin)
        return response
    allow_origin(response, origin, identity)
    return response


@router.get("/events", response_model=EventList, responses={k: {"model": ErrorResponse} for k in (401, 422)})
def list_events(
    identity: SecretKeyDep,
    session: SessionDep,
    type: Annotated[str | None, Query(max_length=40)] = None,
    visitor_id: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, choice(_SOURCES, pattern=f"^({'|'.join(_SOURCES)})$")] = None,
    since: Annotated[AwareDatetime | None, day("events at or after this time (ISO 8601 with a timezone)")] = None,
    until: Annotated[AwareDatetime | None, day("events before this time")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> EventList:
    """Most recent events first; pass ``next_cursor`` as ``cursor`` for the next page."""
    page = event_service.list_events(
        session=session,
        account_id=identity.account_id,
        type=type,
        visitor_id=visitor_id,
        source=source,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return EventList(events=page.events, next_cursor=page.next_cursor)
