"""The public HTTP API as a FastAPI app (mounted into Reflex with ``api_transformer``): routers, docs, and the
JSON answer for every other path under ``/api``."""

from __future__ import annotations

import functools
import re
from importlib.resources import files

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route, compile_path
from starlette.types import Receive, Scope, Send

from app import routes
from app.api.docs_site import router as docs_site_router
from app.api.endpoints import (
    campaigns,
    checkout,
    conversions,
    events,
    health,
    keys,
    metrics,
    orders,
    overview_kpis,
    pixel,
    spend,
    stripe_reconciliation,
    stripe_webhook,
)
from app.api.errors import error_response, install_error_handlers
from app.api.middleware import CountApiUsage
from app.security_headers import allow_own_inline_scripts
from app.services.health import app_version

# Swagger UI 5 (it reads OpenAPI 3.1, which FastAPI writes), as the files the fastapi-offline package ships.
SWAGGER_UI_FILES = files("fastapi_offline") / "static"


def build_api() -> FastAPI:
    """The API app: every router under /api/v1, pixel.js, the OpenAPI document and its docs page."""
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
    # Stripe's deliveries first: routes are tried in order (each a regex, several times per request), and the
    # webhook, the busiest route after the events', would otherwise be tried after ~50 others (tens of µs each).
    v1.include_router(stripe_webhook.router)
    v1.include_router(health.router)
    v1.include_router(keys.router)
    v1.include_router(events.router)
    v1.include_router(campaigns.router)
    v1.include_router(checkout.router)
    v1.include_router(orders.router)
    v1.include_router(conversions.router)
    v1.include_router(metrics.router)
    v1.include_router(spend.router)
    v1.include_router(stripe_reconciliation.router)
    api.include_router(v1)
    api.include_router(pixel.router)
    api.include_router(overview_kpis.router)  # internal: the overview's early KPI cards (backoffice session)
    api.include_router(docs_site_router)  # the documentation site at /help/

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
