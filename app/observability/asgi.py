"""One pure ASGI middleware around each server role (web: app/app.py, api: app/asgi_api.py): the request metrics,
the access log line, the ``X-Request-ID`` header, the websocket's events, and the internal endpoints under
``/_ops/`` (liveness, readiness, Prometheus metrics) that the proxy never forwards."""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.middleware import route_template
from app.observability import logs, metrics
from app.services.health import check_readiness
from app.settings import get_settings

access_log = logging.getLogger(logs.ACCESS_LOG)

OPS_PREFIX = "/_ops/"
OPS_LIVE = "/_ops/live"
OPS_READY = "/_ops/ready"
OPS_METRICS = "/_ops/metrics"
# A request id from the proxy is kept when it looks like one (nginx's $request_id: 32 hex digits).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
# Paths of the web role that no route of ours matches, as metric labels (anything else: a page or a static file).
_KNOWN_PATHS = ("/_event", "/ping", "/_upload", "/_health", "/_all_routes")


def route_label(scope: Scope) -> str:
    """The label a request is counted under: its route template, or a fixed name (never the URL itself)."""
    template = route_template(scope)
    if template and template != "/":
        return template
    path: str = scope.get("path", "")
    for known in _KNOWN_PATHS:
        if path.startswith(known):
            return known
    if path.startswith("/api/"):
        return "/api/*"
    return "/*"  # a page or a static file of the frontend


def ops_answer(path: str, role: str, with_database: bool) -> tuple[int, str, bytes] | None:
    """(status, content type, body) of an ``/_ops/`` endpoint, or None for an unknown path. Shared by the ASGI
    middleware and the jobs process's small HTTP server (app/jobs/worker.py)."""
    if path == OPS_LIVE:
        body = {"status": "ok", "role": role, "pid": os.getpid()}
        return 200, "application/json", json.dumps(body).encode()
    if path == OPS_READY:
        ready = check_readiness()
        body = {"status": "ok" if ready.ready else "unavailable", "role": role, "database": ready.database,
                "redis": ready.redis}  # fmt: skip
        return (200 if ready.ready else 503), "application/json", json.dumps(body).encode()
    if path == OPS_METRICS and get_settings().metrics_enabled:
        text, content_type = metrics.exposition(with_database=with_database)
        return 200, content_type, text
    return None


def _socket_event_name(text: str) -> str | None:
    """The handler name of a Socket.IO EVENT packet (``42/_event,["event",{"name": …}]``); None for other packets.
    Only the name: the payload may hold what a user typed."""
    if not text.startswith("42"):
        return None
    try:
        packet = json.loads(text[text.index("[") :])
        payload = packet[1] if len(packet) > 1 else None
        if isinstance(payload, str):
            payload = json.loads(payload)
        name = payload.get("name") if isinstance(payload, dict) else None
    except (ValueError, IndexError, AttributeError):
        return None
    return str(name)[:200] if name else None


class Observe:
    """Counts and times every HTTP answer, logs it as a JSON line (``LOG_FORMAT=json``), answers ``/_ops/``."""

    def __init__(self, app: ASGIApp, *, role: str, with_database: Callable[[], bool] = lambda: False) -> None:
        self.app = app
        self.role = role
        self.with_database = with_database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.app(scope, self._counting_events(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(OPS_PREFIX):
            await self._ops(path, send)
            return
        started = time.perf_counter()
        supplied = MutableHeaders(scope=scope).get("x-request-id", "")
        request_id = supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message).setdefault("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route, method = route_label(scope), scope.get("method", "?")
        metrics.REQUESTS.labels(self.role, route, method, str(status)).inc()
        metrics.REQUEST_SECONDS.labels(self.role, route, method).observe(seconds)
        if logs.access_logging():
            usage_key = (scope.get("state") or {}).get("usage_key")
            access_log.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "request_id": request_id,
                    "account_id": usage_key[0] if usage_key else None,
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )

    def _counting_events(self, receive: Receive) -> Receive:
        async def receive_counted() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive" and message.get("text"):
                name = _socket_event_name(message["text"])
                if name is not None:
                    metrics.WEBSOCKET_EVENTS.inc()
                    if logs.access_logging():
                        access_log.info("websocket event %s", name, extra={"route": "/_event", "event": name})
            return message

        return receive_counted

    async def _ops(self, path: str, send: Send) -> None:
        import anyio

        # The readiness check and the database gauges block: off the event loop.
        answer = await anyio.to_thread.run_sync(ops_answer, path, self.role, self.with_database())
        status, content_type, body = answer or (404, "application/json", b'{"status": "not found"}')
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                   (b"cache-control", b"no-store")]  # fmt: skip
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
