"""Errors raised by services. API routes map them to 4xx JSON; pages show their message as a toast."""

from __future__ import annotations


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
