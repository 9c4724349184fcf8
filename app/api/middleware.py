"""The API's ASGI middleware: per-account request counting (inside the API), JSON for every ``/api`` error
(around Reflex's whole app, see app/app.py), and the direct paths of the tracking events and Stripe's webhooks
(``IngestFastPath``)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import MutableMapping
from http import HTTPStatus
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import routes
from app.api.endpoints.events import record_events
from app.api.endpoints.stripe_webhook import stripe_webhook
from app.api.errors import code_for_status, error_response
from app.services.usage import count_api_request

log = logging.getLogger("paidsignal.api")
_API_PREFIX = "/api/"


def route_template(scope: Scope) -> str | None:
    """The matched route's path with its parameters (``/api/v1/orders/{order_id}``), never the URL (ids stay out);
    None before routing or when no route of ours matched."""
    # FastAPI 0.165 keeps an included route's own path relative to its router (``/events``) in scope["route"]; the
    # full template is on the effective route context it records (tests/api/test_usage_api.py checks the result).
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    return getattr(context, "path_format", None) or getattr(scope.get("route"), "path", None) or None


def _endpoint(scope: Scope) -> str:
    """``METHOD /route/template``."""
    return f"{scope.get('method', '?')} {route_template(scope) or '?'}"


def _count_usage(state: MutableMapping[str, Any], scope: Scope, status: int) -> None:
    """Count one answered request against the account its key authenticated (nothing when none did)."""
    try:
        usage_key = state.get("usage_key")
        if usage_key is None:
            return
        account_id, key_id = usage_key
        count_api_request(account_id, key_id, _endpoint(scope), status, int(state.get("usage_events") or 0))
    except Exception:  # counting must never fail a request
        log.exception("counting an API request failed")


class _ApiMiddleware(ABC):
    """Pure ASGI middleware that acts on HTTP requests under ``/api/`` (``handle``); others pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(_API_PREFIX):
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    @abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """What the middleware does with an ``/api/`` request."""


class CountApiUsage(_ApiMiddleware):
    """After each ``/api/`` response, count it per account, key, route and day in memory
    (the runtime's api_usage: a dict increment; the flush_api_usage job writes the counts). The account and key
    come from ``request.state.usage_key``, set where the key checked out (api/deps.py) or by the Stripe webhook once
    its signature did; the events endpoint sets ``request.state.usage_events``. 4xx and 5xx count as errors."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A state of this request's own: what a route sets is never read for another request, and nothing from the
        # server's lifespan state can pose as an authenticated key.
        state: dict[str, Any] = {k: v for k, v in (scope.get("state") or {}).items() if not k.startswith("usage_")}
        scope["state"] = state
        counted = False

        # Counted as the response starts (the route has set the state by then), before the client can see it.
        async def send_counting(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                counted = True
                _count_usage(state, scope, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            if not counted:  # an exception escaping the app: Starlette's outermost middleware answers 500
                _count_usage(state, scope, 500)


class JsonApiErrors(_ApiMiddleware):
    """Outermost ASGI wrapper, around Reflex's whole app (app/app.py): an error answer under ``/api/`` that is not
    JSON becomes our JSON error with the same status and headers. Such answers come from outside our routes: Reflex's
    own router, whose catch-all mount cannot match a path with a newline (``/api/v1/campaigns/a%0Ab``) and answers
    a plain "Not Found", and Starlette's last-resort "Internal Server Error"."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        replaced: tuple[int, MutableHeaders] | None = None
        plain = bytearray()

        async def send_json(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                if status >= 400 and not headers.get("content-type", "").startswith("application/json"):
                    replaced = (status, headers)
                    return
            elif replaced is not None:
                # The plain body is read (it is short: "Disallowed CORS origin") so its words can be kept.
                if len(plain) < _PLAIN_ERROR_MAX:
                    plain.extend(message.get("body", b"")[:_PLAIN_ERROR_MAX])
                if not message.get("more_body", False):
                    await _send_json_error(send, scope, *replaced, plain.decode("utf-8", "replace"))
                return
            await send(message)

        await self.app(scope, receive, send_json)


_PLAIN_ERROR_MAX = 300


async def _send_json_error(send: Send, scope: Scope, status: int, headers: MutableHeaders, plain: str) -> None:
    if status == 404:
        path = scope.get("path", "")
        response = error_response(
            404, "not_found", f"No API endpoint {scope.get('method')} {path!r}; see {routes.API_DOCS}."
        )
    elif status >= 500:  # the plain text of a crash is not for clients
        response = error_response(status, "internal_error", "Something failed on our side; retry later.")
    else:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        words = " ".join(plain.split())[:200]
        response = error_response(status, code_for_status(status), f"{phrase}: {words}" if words else phrase)
    for name in ("content-type", "content-length"):
        del headers[name]
    body = bytes(response.body)
    raw = [*headers.raw, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


_EVENTS_PATH = f"{routes.API_V1}/events"


class _Template:
    """What ``route_template`` reads of a matched route: its path template."""

    def __init__(self, path: str) -> None:
        self.path = path


class IngestFastPath:
    """``POST /api/v1/events`` straight to its endpoint, around the app (Reflex's in the web role, the API's in the
    api role; inside ``JsonApiErrors``): the busiest route skips the routing every other request goes through
    (Reflex's context and CORS layers, FastAPI's router trying each route, its middleware stack), which cost it as
    much server CPU as its own work (docs/performance.md, Ingest).

    What those layers did for it is done here: usage counted per account and key (``CountApiUsage``, with the same
    route template, which the request metrics use too), and an unexpected error answered as the JSON 500 it would
    have become. The endpoint does its own CORS headers, errors and body limit; every other method and path (the
    CORS preflight, ``GET /api/v1/events``) takes the usual way.

    Stripe's deliveries (``POST /api/v1/stripe/webhook/{account_id}``) go the same way, for the same reason (the
    layers cost a delivery about as much CPU as verifying it and checking its shape; docs/performance.md, Stripe
    webhooks): the endpoint reads its body with its own limit and answers its own errors; Stripe sends no
    ``Origin``, so Reflex's CORS layer had nothing to add."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._events = CountApiUsage(self._record_events)
        self._route = _Template(_EVENTS_PATH)
        self._webhooks = CountApiUsage(self._stripe_webhook)
        self._webhook_route = _Template(_WEBHOOK_TEMPLATE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST":
            path = scope.get("path", "")
            if path == _EVENTS_PATH:
                scope["route"] = self._route
                await self._events(scope, receive, send)
                return
            if path.startswith(_WEBHOOK_PREFIX) and _webhook_account(path) is not None:
                scope["route"] = self._webhook_route
                await self._webhooks(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _record_events(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await record_events(Request(scope, receive))
        except Exception:
            log.exception("POST %s failed", _EVENTS_PATH)
            response = error_response(500, "internal_error", "Something failed on our side; retry later.")
        await response(scope, receive, send)

    @staticmethod
    async def _stripe_webhook(scope: Scope, receive: Receive, send: Send) -> None:
        account = _webhook_account(scope.get("path", "")) or ""
        try:
            response = await stripe_webhook(account, Request(scope, receive))
        except Exception:
            log.exception("POST %s failed", _WEBHOOK_TEMPLATE)
            response = error_response(500, "internal_error", "Something failed on our side; retry later.")
        await response(scope, receive, send)


_WEBHOOK_PREFIX = f"{routes.API_V1}/stripe/webhook/"
_WEBHOOK_TEMPLATE = _WEBHOOK_PREFIX + "{account_id}"


def _webhook_account(path: str) -> str | None:
    """The account id of a webhook path, as the route's ``{account_id}`` matches it (one non-empty segment)."""
    account = path[len(_WEBHOOK_PREFIX) :]
    return account if account and "/" not in account else None
