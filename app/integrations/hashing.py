"""Normalise and SHA-256 hash user data the way Meta and Google each specify (they differ for e-mail addresses).

A value that already is a 64-character hex digest is taken as hashed and never hashed again: the browser pixel
sends only hashes, and hashing a hash would match nobody.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_NOT_DIGIT = re.compile(r"\D")
# Letters of any script survive (Meta: "if using special characters, the text must be encoded in UTF-8"); digits,
# the underscore, punctuation and spaces do not.
_NOT_LETTER = re.compile(r"[^\w]|[\d_]", re.UNICODE)
_US_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")
_DATE = re.compile(r"^(\d{1,4})[^\d](\d{1,2})[^\d](\d{1,4})$")

# Meta's published examples (Conversions API → customer information parameters): (field, clear value, hash,
# calling code for a phone written without one). Used by the diagnostics' hash self-test and by the tests.
META_VECTORS: tuple[tuple[str, str, str, str | None], ...] = (
    ("em", "John_Smith@gmail.com", "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f", None),
    ("ph", "(650)555-1212", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176", "1"),  # US number
    ("fn", "Mary", "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec", None),
    ("fn", "Valéry", "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c", None),
    ("fn", "정", "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14", None),
)


# Google's examples (Data Manager formatting guide and samples): (kind, clear value, hash, calling code).
GOOGLE_VECTORS: tuple[tuple[str, str, str, str | None], ...] = (
    ("email", "dana@example.com", "07e2f1394b0ea80e2adca010ea8318df697001a005ba7452720edda4b0ce57b3", None),
    (
        "email",
        "cloudy.sanfrancisco+shopping@gmail.com",
        "223ebda6f6889b1494551ba902d9d381daf2f642bae055888e96343d53e9f9c4",
        None,
    ),
    ("phone", "(800)555-0100", "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30", "1"),
)


def is_hashed(value: str) -> bool:
    return bool(_HEX64.match(value))


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def clean(value: str) -> str:
    """Unicode NFKC, then trimmed: the first step for every field, in pixel.js too (``normalize('NFKC').trim()``)."""
    return unicodedata.normalize("NFKC", value).strip()


def normalize_phone(value: str, country_code: str | None) -> str:
    """Digits with the calling code, no leading zeros; ``""`` when the number has no country code and none is known
    (Meta: numbers must include a country code to be used for matching; a guessed one would match someone else).

    The same rule as pixel.js's ``phone()``: a leading ``+`` or ``00`` means international; else the calling code
    is added, unless a North American number already starts with it (``16505551212``).
    """
    value = clean(value)
    digits = _NOT_DIGIT.sub("", value)
    if re.match(r"\D*\+", value) or digits.startswith("00"):
        return digits.lstrip("0")
    code = _NOT_DIGIT.sub("", country_code or "")
    if not code or not digits:
        return ""
    if code == "1" and re.fullmatch(r"1\d{10}", digits):
        return digits
    return code + digits.lstrip("0")


def _date_of_birth(value: str) -> str:
    """``YYYYMMDD`` (Meta: ``19970216``) from ``1997-02-16``, ``19970216``, ``16.02.1997`` or ``2/16/1997``. A date
    whose day and month could be swapped (``2/3/1997``) is not guessed: ``""``."""
    digits = _NOT_DIGIT.sub("", value)
    parts: tuple[int, int, int] | None = None
    if len(digits) == 8 and digits == value:
        parts = int(digits[:4]), int(digits[4:6]), int(digits[6:])
    elif match := _DATE.match(value):
        a, b, c = (int(x) for x in match.groups())
        if len(match.group(1)) == 4:
            parts = a, b, c
        elif len(match.group(3)) == 4:
            if a > 12 >= b:
                parts = c, b, a
            elif b > 12 >= a:
                parts = c, a, b
    if parts is None:
        return ""
    try:
        born = date(*parts)
    except ValueError:
        return ""
    return born.strftime("%Y%m%d") if born.year >= 1900 else ""


def meta_normalize(field: str, value: str, *, country_code: str | None = None) -> str:
    """Meta's normalisation for one ``user_data`` field (before hashing); ``""`` when the value cannot be put in
    Meta's format (then nothing is sent for it).

    ``country_code`` is the calling code for phone numbers written without one (none is assumed).
    """
    value = clean(value)
    if field == "em":
        return value.lower()
    if field == "ph":
        return normalize_phone(value, country_code)
    if field in {"fn", "ln", "ct", "st"}:
        # Lowercase letters of any script, no punctuation, no spaces (city "Menlo Park" -> "menlopark", "Zürich"
        # -> "zürich"); a US state is its two-letter code, a state elsewhere its name in the same form.
        return _NOT_LETTER.sub("", value.lower())
    if field == "country":
        # ISO 3166-1 alpha-2 in lowercase; a country's name is not a code ("United States" is not "un").
        code = value.lower()
        return code if re.fullmatch(r"[a-z]{2}", code) else ""
    if field == "zp":
        compact = re.sub(r"[\s-]", "", value.lower())
        us = _US_ZIP.match(value.replace(" ", ""))
        return us.group(1) if us else compact  # US: the first five digits
    if field == "ge":
        initial = value.lower()[:1]
        return initial if initial in {"f", "m"} else ""
    if field == "db":
        return _date_of_birth(value)
    if field == "external_id":
        # Not lowercased: Meta wants the same value on every channel, and pixel.js sends it as given.
        return value
    return value.lower()


def meta_hash(field: str, value: str, *, country_code: str | None = None) -> str | None:
    """The hash Meta expects for ``field`` (``em``, ``ph``, ``fn``, ``external_id``…); hashes pass through; None
    when the value cannot be normalised (a phone without a country code, a date that could be read two ways)."""
    if is_hashed(value.strip()):
        return value.strip().lower()
    normalized = meta_normalize(field, value, country_code=country_code)
    return sha256_hex(normalized) if normalized else None


def google_normalize_email(value: str) -> str:
    """Google's normalisation: trim, lowercase, and for gmail.com/googlemail.com drop the dots and any ``+tag``
    before the @ (developers.google.com/data-manager/api/devguides/concepts/formatting)."""
    value = "".join(clean(value).split()).lower()
    local, at, domain = value.partition("@")
    if at and domain in {"gmail.com", "googlemail.com"}:
        local = local.split("+", 1)[0].replace(".", "")
    return f"{local}{at}{domain}"


def google_normalize_phone(value: str, *, country_code: str | None = None) -> str:
    """E.164: ``+`` then country code and number, digits only; ``""`` without a country code."""
    digits = normalize_phone(value, country_code)
    return f"+{digits}" if digits else ""


def google_hash(kind: str, value: str, *, country_code: str | None = None) -> str | None:
    """The hex SHA-256 Google expects for ``email`` or ``phone``; hashes pass through; None when the value cannot
    be normalised."""
    if is_hashed(value.strip()):
        return value.strip().lower()
    if kind == "email":
        normalized = google_normalize_email(value)
    elif kind == "phone":
        normalized = google_normalize_phone(value, country_code=country_code)
    else:
        normalized = clean(value).lower()
    return sha256_hex(normalized) if normalized else None


def hash_self_test() -> list[str]:
    """Run Meta's and Google's published vectors through our hashing; the failures (none when hashing is right)."""
    failures = []
    for field, clear, expected, code in META_VECTORS:
        got = meta_hash(field, clear, country_code=code)
        if got != expected:
            failures.append(
                f"Meta {field} {clear!r} hashed to {(got or 'nothing')[:12]}…, Meta expects {expected[:12]}…"
            )
    for kind, clear, expected, code in GOOGLE_VECTORS:
        got = google_hash(kind, clear, country_code=code)
        if got != expected:
            failures.append(
                f"Google {kind} {clear!r} hashed to {(got or 'nothing')[:12]}…, Google expects {expected[:12]}…"
            )
    return failures
