"""API keys: create, list, revoke, authenticate, and last-used times kept in memory and flushed in batches."""

from __future__ import annotations

import hmac
import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import event, update
from sqlmodel import Session, col, select

from app import runtime
from app.models import Account, ApiKey, KeyKind
from app.models.base import new_public_id, utcnow
from app.services.crypto import KeyPurpose, hmac_hex, previous_subkeys, sha256_hex
from app.services.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed
from app.services.permissions import Actor, Permission, require
from app.services.usage.drops import count_drops
from app.settings import get_settings

# Prefixes that cannot be mistaken for Stripe's (pk_/sk_/rk_).
PUBLISHABLE_PREFIX = "ps_pk_"
SECRET_PREFIX = "ps_sk_"
_LOOKUP_LENGTH = len(SECRET_PREFIX) + 8
_ALPHABET = string.ascii_letters + string.digits
MAX_ORIGINS = 20


@dataclass(frozen=True)
class KeyRow:
    public_id: str
    kind: str
    label: str
    display: str  # the whole publishable key, or the secret key's prefix followed by an ellipsis
    allowed_origins: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


@dataclass(frozen=True)
class CreatedKey:
    row: KeyRow
    plaintext: str  # shown once for secret keys


@dataclass(frozen=True)
class KeyIdentity:
    """Who a request is, once its key checks out: the account comes only from the key."""

    key_id: int
    account_id: int
    account_public_id: str
    kind: KeyKind
    allowed_origins: tuple[str, ...]


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def normalize_origin(value: str) -> str:
    """``https://shop.example.com`` form: scheme, host and optional port, nothing else."""
    raw = value.strip().rstrip("/")
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path or parts.query:
        raise ValidationFailed(
            f"{value!r} is not an origin; write it as scheme and host, e.g. https://shop.example.com",
            field="origins",
        )
    try:
        port = parts.port
    except ValueError as error:
        raise ValidationFailed(f"{value!r} has an invalid port.", field="origins") from error
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def parse_origins(values: list[str]) -> list[str]:
    origins: list[str] = []
    for value in values:
        if value.strip():
            origin = normalize_origin(value)
            if origin not in origins:
                origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        raise ValidationFailed(f"At most {MAX_ORIGINS} origins per key.", field="origins")
    return origins


def _row(key: ApiKey) -> KeyRow:
    display = key.lookup if key.kind == KeyKind.PUBLISHABLE else f"{key.lookup}…"
    return KeyRow(
        public_id=key.public_id,
        kind=key.kind,
        label=key.label,
        display=display,
        allowed_origins=list(key.allowed_origins),
        created_at=key.created_at,
        last_used_at=runtime.current().key_usage.last_used(key.id) or key.last_used_at,
        revoked=key.revoked_at is not None,
    )


def create_key(
    *, session: Session, actor: Actor, kind: str, label: str = "", origins: list[str] | None = None
) -> CreatedKey:
    require(actor, Permission.MANAGE_KEYS)
    try:
        key_kind = KeyKind(kind)
    except ValueError as error:
        raise ValidationFailed("Key kind must be 'publishable' or 'secret'.", field="kind") from error
    label = " ".join(label.split())[:120]
    allowed = parse_origins(origins or [])
    if key_kind is KeyKind.PUBLISHABLE:
        if not allowed:
            raise ValidationFailed(
                "Add at least one allowed origin (the shop's address, e.g. https://shop.example.com): "
                "browsers may only use a publishable key from those origins.",
                field="origins",
            )
        plaintext = PUBLISHABLE_PREFIX + _random(24)
        lookup, secret_hash = plaintext, ""
    else:
        if allowed:
            raise ValidationFailed("Secret keys are for servers and take no origins.", field="origins")
        plaintext = SECRET_PREFIX + _random(40)
        lookup, secret_hash = plaintext[:_LOOKUP_LENGTH], hmac_hex(KeyPurpose.API_KEY_PEPPER, plaintext)
    row = ApiKey(
        public_id=new_public_id("key"),
        account_id=actor.account_id,
        kind=key_kind,
        label=label,
        lookup=lookup,
        secret_hash=secret_hash,
        allowed_origins=allowed,
        created_by_user_id=actor.user_id,
    )
    session.add(row)
    session.flush()
    return CreatedKey(row=_row(row), plaintext=plaintext)


def list_keys(*, session: Session, account_id: int, include_revoked: bool = False) -> list[KeyRow]:
    query = select(ApiKey).where(ApiKey.account_id == account_id)
    if not include_revoked:
        query = query.where(col(ApiKey.revoked_at).is_(None))
    return [_row(k) for k in session.exec(query.order_by(col(ApiKey.id).desc())).all()]


def _get(session: Session, account_id: int, key_public_id: str) -> ApiKey:
    key = session.exec(select(ApiKey).where(ApiKey.public_id == key_public_id, ApiKey.account_id == account_id)).first()
    if key is None:
        raise NotFound("API key not found.")
    return key


def revoke_key(*, session: Session, actor: Actor, key_public_id: str) -> None:
    require(actor, Permission.MANAGE_KEYS)
    key = _get(session, actor.account_id, key_public_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
    runtime.current().key_identities.clear_after_commit(session)


def update_origins(*, session: Session, actor: Actor, key_public_id: str, origins: list[str]) -> KeyRow:
    require(actor, Permission.MANAGE_KEYS)
    key = _get(session, actor.account_id, key_public_id)
    if key.kind != KeyKind.PUBLISHABLE:
        raise ValidationFailed("Only publishable keys have allowed origins.", field="origins")
    allowed = parse_origins(origins)
    if not allowed:
        raise ValidationFailed("A publishable key needs at least one allowed origin.", field="origins")
    key.allowed_origins = allowed
    session.add(key)
    runtime.current().key_identities.clear_after_commit(session)
    return _row(key)


def _identity(session: Session, key: ApiKey) -> KeyIdentity:
    account_public_id = session.exec(select(Account.public_id).where(Account.id == key.account_id)).one()
    assert key.id is not None
    return KeyIdentity(key.id, key.account_id, account_public_id, KeyKind(key.kind), tuple(key.allowed_origins))


class IdentityCache:
    """Valid keys seen in the last KEY_CACHE_SECONDS, so the ingest path does not query the database for the key
    on every request. Only successes are cached; a revocation or origin change here clears it at once, and other
    processes see it within KEY_CACHE_SECONDS."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, KeyIdentity]] = {}
        self._lock = threading.Lock()

    def get(self, raw: str) -> KeyIdentity | None:
        digest = sha256_hex(raw)
        with self._lock:
            entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, raw: str, identity: KeyIdentity) -> None:
        ttl = get_settings().key_cache_seconds
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[sha256_hex(raw)] = (time.monotonic() + ttl, identity)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def clear_after_commit(self, session: Session) -> None:
        """Clear now and again once the change is committed, so no reader caches the state before it."""
        self.clear()
        event.listen(session, "after_commit", lambda _session: self.clear(), once=True)


def _secret_matches(session: Session, key: ApiKey, raw: str) -> bool:
    if hmac.compare_digest(key.secret_hash, hmac_hex(KeyPurpose.API_KEY_PEPPER, raw)):
        return True
    for old in previous_subkeys(KeyPurpose.API_KEY_PEPPER):
        if hmac.compare_digest(key.secret_hash, hmac_hex(KeyPurpose.API_KEY_PEPPER, raw, key=old)):
            # Hashed under a previous SECRET_KEY: re-hash under the current one, once.
            key.secret_hash = hmac_hex(KeyPurpose.API_KEY_PEPPER, raw)
            session.add(key)
            return True
    return False


def authenticate_secret_key(*, session: Session, raw: str) -> KeyIdentity:
    raw = (raw or "").strip()
    if raw.startswith(PUBLISHABLE_PREFIX):
        raise PermissionDenied("This endpoint needs a secret key (ps_sk_…); a publishable key was given.")
    if not raw.startswith(SECRET_PREFIX) or len(raw) < _LOOKUP_LENGTH:
        raise AuthenticationFailed("Send a secret API key as 'Authorization: Bearer ps_sk_…'.")
    cached = runtime.current().key_identities.get(raw)
    if cached is not None:
        runtime.current().key_usage.touch(cached.key_id)
        return cached
    key = session.exec(select(ApiKey).where(ApiKey.lookup == raw[:_LOOKUP_LENGTH])).first()
    if key is None or not _secret_matches(session, key, raw):
        raise AuthenticationFailed("This API key is not valid.")
    if key.revoked_at is not None:
        raise AuthenticationFailed("This API key was revoked; create a new one on the API keys page.")
    identity = _identity(session, key)
    runtime.current().key_identities.put(raw, identity)
    runtime.current().key_usage.touch(identity.key_id)
    return identity


def authenticate_publishable_key(*, session: Session, raw: str, origin: str | None) -> KeyIdentity:
    """A publishable key is only good from one of its allowed origins (browsers always send ``Origin``)."""
    raw = (raw or "").strip()
    if not raw.startswith(PUBLISHABLE_PREFIX):
        raise AuthenticationFailed("Send a publishable key (ps_pk_…) in the 'key' query parameter or body.")
    identity = runtime.current().key_identities.get(raw)
    if identity is None:
        key = session.exec(select(ApiKey).where(ApiKey.lookup == raw)).first()
        if key is None:
            raise AuthenticationFailed("This publishable key is not valid.")
        if key.revoked_at is not None:
            raise AuthenticationFailed("This publishable key was revoked.")
        identity = _identity(session, key)
        runtime.current().key_identities.put(raw, identity)
    if not origin:
        raise PermissionDenied(
            "A publishable key is only accepted from a browser on an allowed origin; servers use a secret key."
        )
    try:
        normalized = normalize_origin(origin)
    except ValidationFailed:
        normalized = ""
    if normalized not in identity.allowed_origins:
        count_drops(identity.account_id, {"wrong_origin": 1}, normalized or origin)
        raise PermissionDenied(f"Origin {origin} is not allowed for this key; add it on the API keys page.")
    runtime.current().key_usage.touch(identity.key_id)
    return identity


class KeyUsage:
    """Last-used times kept in memory: a request never writes; a job flushes them in one transaction."""

    def __init__(self) -> None:
        self._pending: dict[int, datetime] = {}
        self._lock = threading.Lock()

    def touch(self, key_id: int) -> None:
        now = utcnow()
        with self._lock:
            self._pending[key_id] = now

    def last_used(self, key_id: int | None) -> datetime | None:
        if key_id is None:
            return None
        with self._lock:
            return self._pending.get(key_id)

    def discard(self) -> None:
        """Forget pending times (tests reset state between cases)."""
        with self._lock:
            self._pending.clear()

    def flush(self, session: Session) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
        for key_id, when in pending.items():
            session.execute(
                update(ApiKey)
                .where(col(ApiKey.id) == key_id)
                .where((col(ApiKey.last_used_at).is_(None)) | (col(ApiKey.last_used_at) < when))
                .values(last_used_at=when)
            )
        return len(pending)


def flush_key_usage(*, session: Session) -> int:
    return runtime.current().key_usage.flush(session)
