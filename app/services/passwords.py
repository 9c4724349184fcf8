"""Password hashing with Argon2 (pwdlib). Tests select a cheap profile with PASSWORD_HASH_PROFILE=fast."""

from __future__ import annotations

import functools

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.settings import get_settings

MIN_PASSWORD_LENGTH = 10


@functools.cache
def _hasher(profile: str) -> PasswordHash:
    if profile == "fast":
        return PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    return PasswordHash((Argon2Hasher(),))


def hash_password(password: str) -> str:
    return _hasher(get_settings().password_hash_profile).hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    # Verification reads the parameters from the hash itself, so hashes from either profile verify.
    return _hasher(get_settings().password_hash_profile).verify(password, password_hash)


# A real hash to verify against when the email is unknown, so both failures cost the same time.
@functools.cache
def dummy_hash() -> str:
    return hash_password("paidsignal-dummy-password")
