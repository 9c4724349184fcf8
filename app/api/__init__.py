"""The public HTTP API, a FastAPI app mounted into Reflex with ``api_transformer``."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import MutableMapping
from http import HTTPStatus
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.routing import Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import routes
from app.api.endpoints import (
    campaigns,
    checkout,
    conversions,
    events,
    health,
    keys,
    metrics,
    orders,
    pixel,
    spend,
    stripe_webhook,
)
from app.api.errors import code_for_status, error_response, install_error_handlers
from app.security_headers import allow_own_inline_scripts
from app.services.health import app_version
from app.services.usage import api_usage

log = logging.getLogger("paidsignal.api")
_API_PREFIX = "/api/"
# Swagger UI 5 (it reads OpenAPI 3.1, which FastAPI writes), as the files the fastapi-offline package ships.
SWAGGER_UI_FILES = files("fastapi_offline") / "static"


def _endpoint(scope: Scope) -> str:
    """``METHOD /route/template``: the matched route's path with its parameters, never the URL (ids stay out)."""
    # FastAPI 0.165 keeps an included route's own path relative to its router (``/events``) in scope["route"]; the
    # full template is on the effective route context it records (tests/api/test_usage_api.py checks the result).
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    template = getattr(context, "path_format", None) or getattr(scope.get("route"), "path", None) or "?"
    return f"{scope.get('method', '?')} {template}"


def _count_usage(state: MutableMapping[str, Any], scope: Scope, status: int) -> None:
    """Count one answered request against the account its key authenticated (nothing when none did)."""
    try:
        usage_key = state.get("usage_key")
        if usage_key is None:
            return
        account_id, key_id = usage_key
        api_usage.count(account_id, key_id, _endpoint(scope), status, int(state.get("usage_events") or 0))
    except Exception:  # counting must never fail a request
        log.exception("counting an API request failed")


class _ApiMiddleware:
    """Pure ASGI middleware that acts on HTTP requests under ``/api/`` (``handle``); others pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(_API_PREFIX):
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class CountApiUsage(_ApiMiddleware):
    """After each ``/api/`` response, count it per account, key, route and day in memory
    (services/usage.api_usage: a dict increment; the flush_api_usage job writes the counts). The account and key
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


def build_api() -> FastAPI:
    api = FastAPI(
        title="PaidSignal API",
        version=app_version(),
        openapi_url=routes.API_OPENAPI,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(api)
    api.add_middleware(CountApiUsage)

    v1 = APIRouter(prefix=routes.API_V1)
    v1.include_router(health.router)
    v1.include_router(keys.router)
    v1.include_router(events.router)
    v1.include_router(campaigns.router)
    v1.include_router(checkout.router)
    v1.include_router(orders.router)
    v1.include_router(conversions.router)
    v1.include_router(metrics.router)
    v1.include_router(spend.router)
    v1.include_router(stripe_webhook.router)
    api.include_router(v1)
    api.include_router(pixel.router)

    # Swagger UI from files in a Python package: FastAPI's default loads them from a CDN, unreachable offline.
    api.mount(routes.API_DOCS_ASSETS, StaticFiles(directory=str(SWAGGER_UI_FILES)), name="swagger-assets")

    @api.get(routes.API_DOCS, include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=routes.API_OPENAPI,
            title="PaidSignal API",
            swagger_js_url=f"{routes.API_DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{routes.API_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{routes.API_DOCS_ASSETS}/favicon.png",
        )
        return allow_own_inline_scripts(page)  # its inline script starts Swagger UI

    # Every other method and path under /api, answered here: Reflex's frontend fallback, mounted after our routes,
    # would answer them with an HTML page or a plain-text 404 (and a method a route lacks with 404, not 405).
    allowed_methods = functools.cache(lambda: _method_table(api))

    async def unknown_api_path(scope: Scope, receive: Receive, send: Send) -> None:
        response = _unknown_api_answer(scope["method"], scope["path"], allowed_methods())
        await response(scope, receive, send)

    # A mount, not a route: it takes every method, even ones no route names (TRACE, QUERY, …).
    api.mount("/api", unknown_api_path, name="unknown-api-path")
    return api


def _unknown_api_answer(method: str, path: str, table: list[tuple[re.Pattern[str], tuple[str, ...]]]) -> JSONResponse:
    """405 with ``Allow`` when ``path`` is a route's and only the method is wrong; otherwise 404."""
    allowed = next((methods for pattern, methods in table if pattern.match(path)), None)
    if allowed:
        return error_response(
            405,
            "method_not_allowed",
            f"{method} is not allowed on {path}; use {', '.join(allowed)}.",
            headers={"Allow": ", ".join(allowed)},
        )
    return error_response(404, "not_found", f"No API endpoint {method} {path}; see {routes.API_DOCS}.")


def _method_table(api: FastAPI) -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
    """(path pattern, methods) of every API route: the OpenAPI document's paths (routers' routes, prefixes
    included) and the app's own routes outside it (the document itself, the docs page)."""
    table: dict[str, set[str]] = {}
    for path, operations in api.openapi().get("paths", {}).items():
        table.setdefault(path, set()).update(method.upper() for method in operations)
    for route in api.routes:
        if isinstance(route, Route) and route.methods:
            table.setdefault(route.path, set()).update(route.methods)
    return [(compile_path(path)[0], tuple(sorted(methods))) for path, methods in table.items()]


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
