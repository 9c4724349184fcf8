"""Errors raised by services. API routes map them to 4xx JSON; pages show their message as a toast."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class ServiceError(Exception):
    """Base class: ``code`` is stable for machines, ``message`` says what was wrong and what to do."""

    status_code = 400
    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class ValidationFailed(ServiceError):
    status_code = 422
    code = "validation_failed"


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class AuthenticationFailed(ServiceError):
    status_code = 401
    code = "unauthenticated"


class PermissionDenied(ServiceError):
    status_code = 403
    code = "forbidden"


class RateLimited(ServiceError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(ServiceError):
    """An outside system (mail server, provider) did not answer; trying again later may work."""

    status_code = 503
    code = "unavailable"


def _where(loc: tuple[Any, ...], names: dict[str, str]) -> tuple[str, str]:
    """(field path for machines, words for people): ``matching_rules.0.conditions.1.value`` and
    ``matching rule 1, condition 2, value``."""
    path = ".".join(str(p) for p in loc)
    words: list[str] = []
    for part in loc:
        if isinstance(part, int) and words:
            words[-1] = f"{words[-1]} {part + 1}"
        else:
            words.append(names.get(str(part), str(part).replace("_", " ")))
    return path, ", ".join(words)


def validation_failed(error: ValidationError, names: dict[str, str] | None = None) -> ValidationFailed:
    """A pydantic error as a 422 naming the first wrong field, in words and as a path."""
    first = error.errors()[0]
    path, words = _where(tuple(first.get("loc", ())), names or {})
    message = str(first["msg"]).removeprefix("Value error, ")
    return ValidationFailed(f"{words}: {message}" if words else message, field=path or None)
