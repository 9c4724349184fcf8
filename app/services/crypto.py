"""Subkeys derived from SECRET_KEY (HKDF, one label per purpose), HMACs and signed expiring tokens."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
from enum import StrEnum

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.settings import get_settings


class KeyPurpose(StrEnum):
    """Each purpose gets its own subkey, so a leak or rotation of one use cannot forge another."""

    API_KEY_PEPPER = "paidsignal/api-key-pepper/v1"
    CREDENTIALS = "paidsignal/credential-encryption/v1"
    SIGNED_LINKS = "paidsignal/signed-links/v1"


@functools.cache
def _derive(secret: str, purpose: KeyPurpose) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"paidsignal", info=purpose.value.encode())
    return hkdf.derive(secret.encode())


def subkey(purpose: KeyPurpose) -> bytes:
    return _derive(get_settings().resolved_secret_key(), purpose)


def previous_subkeys(purpose: KeyPurpose) -> list[bytes]:
    """Subkeys of the SECRET_KEY_PREVIOUS values: accepted for verification while a rotation is under way."""
    return [_derive(secret, purpose) for secret in get_settings().secret_key_previous]


def hmac_hex(purpose: KeyPurpose, message: str, *, key: bytes | None = None) -> str:
    return hmac.new(key or subkey(purpose), message.encode(), hashlib.sha256).hexdigest()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign_token(payload: str, *, ttl_seconds: int, now: float | None = None) -> str:
    """``payload.expiry.signature``: a link token that cannot be forged or used after its expiry."""
    if "." in payload:
        raise ValueError("payload must not contain '.'")
    expires = int((now if now is not None else time.time()) + ttl_seconds)
    body = f"{payload}.{expires}"
    return f"{body}.{_b64(hmac.digest(subkey(KeyPurpose.SIGNED_LINKS), body.encode(), 'sha256'))}"


class BadToken(ValueError):
    """The token is malformed, forged or expired; the message says which."""


def verify_token(token: str, *, now: float | None = None) -> str:
    """Return the payload of a valid token, or raise :class:`BadToken`."""
    try:
        payload, expires_text, signature = token.split(".")
        expires = int(expires_text)
    except ValueError as error:
        raise BadToken("this link is malformed; ask for a new one") from error
    body = f"{payload}.{expires}".encode()
    keys = [subkey(KeyPurpose.SIGNED_LINKS), *previous_subkeys(KeyPurpose.SIGNED_LINKS)]
    if not any(hmac.compare_digest(_b64(hmac.digest(key, body, "sha256")), signature) for key in keys):
        raise BadToken("this link is not valid; ask for a new one")
    if (now if now is not None else time.time()) > expires:
        raise BadToken("this link has expired; ask for a new one")
    return payload


def _fernet() -> MultiFernet:
    keys = [subkey(KeyPurpose.CREDENTIALS), *previous_subkeys(KeyPurpose.CREDENTIALS)]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(key)) for key in keys])


def encrypt_secret(plaintext: str) -> str:
    """Fernet (AES-128-CBC + HMAC) under the credentials subkey; decryptable after a SECRET_KEY rotation."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise BadToken("stored credentials cannot be decrypted with the current SECRET_KEY(s)") from error


def reencrypt_secret(token: str) -> str | None:
    """The same secret encrypted under the current SECRET_KEY, or None when ``token`` already is.

    Raises :class:`BadToken` when no key (current or previous) decrypts it."""
    try:
        Fernet(base64.urlsafe_b64encode(subkey(KeyPurpose.CREDENTIALS))).decrypt(token.encode())
        return None
    except InvalidToken:
        pass
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise BadToken("stored credentials cannot be decrypted with the current SECRET_KEY(s)") from error
