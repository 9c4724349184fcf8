"""``/api/v1/whoami``: which account a key belongs to. The install check calls it from the shop's pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from app.api.body import parse_body
from app.api.cors import allow_origin
from app.api.deps import SecretKeyDep, SessionDep, resolve_browser_or_server_key
from app.api.schemas import ErrorResponse, WhoAmI, WhoAmIRequest

router = APIRouter(tags=["keys"])

_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}}


@router.get("/whoami", response_model=WhoAmI, responses=_ERRORS)
def whoami(identity: SecretKeyDep) -> WhoAmI:
    """Server-to-server: the account of the secret key in ``Authorization: Bearer ps_sk_…``."""
    return WhoAmI(account_id=identity.account_public_id, key_kind=identity.kind.value)


@router.post("/whoami", response_model=WhoAmI, responses=_ERRORS)
async def whoami_from_browser(request: Request, response: Response, session: SessionDep) -> WhoAmI:
    """Browser (CORS-simple): ``text/plain`` JSON body, publishable key in ``?key=`` or the body."""
    body = await parse_body(request, WhoAmIRequest, max_bytes=4096)
    identity = resolve_browser_or_server_key(request, session, body.key)
    allow_origin(response, request.headers.get("origin"), identity)
    return WhoAmI(account_id=identity.account_public_id, key_kind=identity.kind.value)
