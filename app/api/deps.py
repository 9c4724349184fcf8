"""Annotated dependencies for routes: a database session per request and the caller's API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.db import get_session
from app.services import keys as key_service
from app.services.errors import AuthenticationFailed, ValidationFailed
from app.services.keys import KeyIdentity

SessionDep = Annotated[Session, Depends(get_session)]


def attribute_usage(request: Request, identity: KeyIdentity) -> KeyIdentity:
    """Count this request against the key's account: the usage middleware (app/api) reads it after the response.
    Only a key that checked out is attributed; a request with a bad key is counted nowhere."""
    request.state.usage_key = (identity.account_id, identity.key_id)
    return identity


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        alt = request.headers.get("x-paidsignal-key", "")
        if alt:
            return alt
        raise AuthenticationFailed("Send a secret API key as 'Authorization: Bearer ps_sk_…'.")
    return token.strip()


def secret_key(request: Request, session: SessionDep) -> KeyIdentity:
    """Server-to-server callers: a secret key in a header only, never in the URL (URLs end up in logs)."""
    for name in ("key", "api_key", "access_token"):
        if request.query_params.get(name, "").startswith(key_service.SECRET_PREFIX):
            raise ValidationFailed(
                "Secret keys are not accepted in the URL; send 'Authorization: Bearer ps_sk_…'. "
                "Revoke this key: it may now be in logs.",
                field=name,
            )
    return attribute_usage(request, key_service.authenticate_secret_key(session=session, raw=_bearer(request)))


SecretKeyDep = Annotated[KeyIdentity, Depends(secret_key)]


def resolve_browser_or_server_key(request: Request, session: Session, body_key: str | None) -> KeyIdentity:
    """Browser calls carry a publishable key in ``?key=`` or the body; servers may use a secret key header."""
    header = request.headers.get("authorization", "") or request.headers.get("x-paidsignal-key", "")
    if header:
        return secret_key(request, session)
    raw = request.query_params.get("key") or body_key or ""
    if raw.startswith(key_service.SECRET_PREFIX):
        raise ValidationFailed(
            "Secret keys are not accepted in the URL or body; send 'Authorization: Bearer ps_sk_…'.", field="key"
        )
    identity = key_service.authenticate_publishable_key(session=session, raw=raw, origin=request.headers.get("origin"))
    return attribute_usage(request, identity)
