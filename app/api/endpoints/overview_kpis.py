"""``GET /api/internal/overview-kpis`` (a backoffice session token, internal): the overview's KPI cards for the
range of ``/``'s query string, as the page's state shows them.

The page's first script (``app/components/early_figures.py``) asks for them at navigation, with the session token
the browser keeps in local storage, so the cards show as soon as React mounts instead of after Reflex's websocket,
hydration and ``on_load`` (docs/performance.md, "The dashboard's first paint"). The session is checked as
``DashboardState.load_home`` checks it (``resolve_session``: unknown, expired or revoked is 401, and so is a user
without an account), the account is the session's active one, and the figures come from the same service
(``services.dashboard.overview``) and presenter (``presenters.metrics.overview_cards``) in the account's locale.
Not part of the public API (no API key opens it; it is left out of the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app import routes
from app.api.deps import SessionDep
from app.presenters.metrics import overview_cards
from app.presenters.ranges import range_choice
from app.services import accounts as account_service
from app.services import dashboard
from app.services.errors import AuthenticationFailed

router = APIRouter()

SIGNED_OUT = "Your session has ended; log in again."


def _session_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Send the backoffice session's token as 'Authorization: Bearer …'.")
    return token.strip()


@router.get(routes.API_OVERVIEW_KPIS, include_in_schema=False)
def overview_kpis(request: Request, session: SessionDep) -> JSONResponse:
    """``{"kpis": [KpiItem, …]}``: the cards ``/`` shows for this query string; an empty list where the page shows
    no cards (an account without any data gets the "get started" card). A range that does not resolve is the
    service's 4xx, as the page shows its message instead of cards."""
    token_hash = account_service.session_token_hash(_session_token(request))
    context = account_service.resolve_session(session=session, token_hash=token_hash)
    if context is None or context.actor is None or context.active is None:
        raise AuthenticationFailed(SIGNED_OUT)
    choice = range_choice(request.query_params)
    found = dashboard.overview(session=session, account_id=context.actor.account_id, choice=choice.dashboard_range())
    cards = overview_cards(found, context.active.locale)
    body: dict[str, Any] = {"account": context.active.public_id, "kpis": cards.kpis if cards.has_data else []}
    # The figures of one signed-in user: never kept by a cache between the browser and here.
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
