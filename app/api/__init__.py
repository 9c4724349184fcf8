"""The public HTTP API, a FastAPI app mounted into Reflex with ``api_transformer``."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
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
from app.api.errors import error_response, install_error_handlers
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


class CountApiUsage:
    """Pure ASGI middleware: after each ``/api/`` response, count it per account, key, route and day in memory
    (services/usage.api_usage: a dict increment; the flush_api_usage job writes the counts). The account and key
    come from ``request.state.usage_key``, set where the key checked out (api/deps.py) or by the Stripe webhook once
    its signature did; the events endpoint sets ``request.state.usage_events``. 4xx and 5xx count as errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(_API_PREFIX):
            await self.app(scope, receive, send)
            return
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

    # Without this, Reflex's frontend fallback would answer unknown /api paths with an HTML page.
    @api.api_route("/api/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def unknown_api_path(request: Request, path: str) -> JSONResponse:
        return error_response(404, "not_found", f"No API endpoint {request.method} /api/{path}; see {routes.API_DOCS}.")

    return api
