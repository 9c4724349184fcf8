"""The public HTTP API, a FastAPI app mounted into Reflex with ``api_transformer``."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

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
from app.services.health import app_version


def build_api() -> FastAPI:
    api = FastAPI(
        title="PaidSignal API",
        version=app_version(),
        openapi_url=routes.API_OPENAPI,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(api)

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
    api.mount(routes.API_DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-assets")

    @api.get(routes.API_DOCS, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=routes.API_OPENAPI,
            title="PaidSignal API",
            swagger_js_url=f"{routes.API_DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{routes.API_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{routes.API_DOCS_ASSETS}/favicon-32x32.png",
        )

    # Without this, Reflex's frontend fallback would answer unknown /api paths with an HTML page.
    @api.api_route("/api/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def unknown_api_path(request: Request, path: str) -> JSONResponse:
        return error_response(404, "not_found", f"No API endpoint {request.method} /api/{path}; see {routes.API_DOCS}.")

    return api
