"""Normalise and SHA-256 hash user data the way Meta and Google each specify (they differ for e-mail addresses).

A value that already is a 64-character hex digest is taken as hashed and never hashed again: the browser pixel
sends only hashes, and hashing a hash would match nobody.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_NOT_DIGIT = re.compile(r"\D")
_NOT_LETTER = re.compile(r"[^\w]|[\d_]", re.UNICODE)

# Meta's published examples (Conversions API → customer information parameters): (field, clear value, hash).
# Used by the diagnostics' hash self-test and by the tests.
META_VECTORS: tuple[tuple[str, str, str], ...] = (
    ("em", "John_Smith@gmail.com", "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"),
    ("ph", "(650)555-1212", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"),
    ("fn", "Mary", "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),
)


# Google's examples (Data Manager formatting guide and samples): (kind, clear value, hash).
GOOGLE_VECTORS: tuple[tuple[str, str, str], ...] = (
    ("email", "dana@example.com", "07e2f1394b0ea80e2adca010ea8318df697001a005ba7452720edda4b0ce57b3"),
    (
        "email",
        "cloudy.sanfrancisco+shopping@gmail.com",
        "223ebda6f6889b1494551ba902d9d381daf2f642bae055888e96343d53e9f9c4",
    ),
    ("phone", "(800)555-0100", "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30"),
)


def is_hashed(value: str) -> bool:
    return bool(_HEX64.match(value))


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def meta_normalize(field: str, value: str, *, country_code: str = "1") -> str:
    """Meta's normalisation for one ``user_data`` field (before hashing).

    ``country_code`` is the calling code added to phone numbers written without one (Meta's example, a US
    number, is ``(650)555-1212`` → ``16505551212``).
    """
    value = unicodedata.normalize("NFKC", value).strip()
    if field == "em":
        return value.lower()
    if field == "ph":
        plus = value.startswith("+") or value.startswith("00")
        digits = _NOT_DIGIT.sub("", value).lstrip("0")
        if not plus and len(digits) <= 10:
            digits = country_code + digits
        return digits
    if field in {"fn", "ln"}:
        return _NOT_LETTER.sub("", value.lower())
    if field == "ct":
        return re.sub(r"[^a-z]", "", value.lower())
    if field in {"st", "country"}:
        return re.sub(r"[^a-z]", "", value.lower())[:2]
    if field == "zp":
        return re.sub(r"[\s-]", "", value.lower())
    if field == "ge":
        return value.lower()[:1]
    if field == "db":
        return _NOT_DIGIT.sub("", value)[:8]
    return value.lower()


def meta_hash(field: str, value: str, *, country_code: str = "1") -> str:
    """The hash Meta expects for ``field`` (``em``, ``ph``, ``fn``, ``external_id``…); hashes pass through."""
    if is_hashed(value):
        return value.lower()
    if field == "external_id":
        return sha256_hex(value.strip().lower())
    return sha256_hex(meta_normalize(field, value, country_code=country_code))


def google_normalize_email(value: str) -> str:
    """Google's normalisation: trim, lowercase, and for gmail.com/googlemail.com drop the dots and any ``+tag``
    before the @ (developers.google.com/data-manager/api/devguides/concepts/formatting)."""
    value = "".join(value.split()).lower()
    local, at, domain = value.partition("@")
    if at and domain in {"gmail.com", "googlemail.com"}:
        local = local.split("+", 1)[0].replace(".", "")
    return f"{local}{at}{domain}"


def google_normalize_phone(value: str, *, country_code: str = "1") -> str:
    """E.164: ``+`` then country code and number, digits only."""
    return "+" + meta_normalize("ph", value, country_code=country_code)


def google_hash(kind: str, value: str, *, country_code: str = "1") -> str:
    """The hex SHA-256 Google expects for ``email`` or ``phone``; hashes pass through."""
    if is_hashed(value):
        return value.lower()
    if kind == "email":
        return sha256_hex(google_normalize_email(value))
    if kind == "phone":
        return sha256_hex(google_normalize_phone(value, country_code=country_code))
    return sha256_hex(value.strip().lower())


def hash_self_test() -> list[str]:
    """Run Meta's and Google's published vectors through our hashing; the failures (none when hashing is right)."""
    failures = [
        f"Meta {field} {clear!r} hashed to {meta_hash(field, clear)[:12]}…, Meta expects {expected[:12]}…"
        for field, clear, expected in META_VECTORS
        if meta_hash(field, clear) != expected
    ]
    failures += [
        f"Google {kind} {clear!r} hashed to {google_hash(kind, clear)[:12]}…, Google expects {expected[:12]}…"
        for kind, clear, expected in GOOGLE_VECTORS
        if google_hash(kind, clear) != expected
    ]
    return failures
