"""Every API error is JSON ``{"error": {"code", "message", "field"}}`` with the right 4xx."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.services.errors import RateLimited, ServiceError


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in {"body", "query", "path", "header"}]
    return ".".join(parts) or None


def validation_message(errors: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    first = errors[0]
    field = _field_of(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid value"))
    if field:
        message = f"{field}: {message}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    return message, field


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def code_for_status(status: int) -> str:
    """The ``code`` of an error answer that has no more specific one."""
    if status >= 500:
        return "internal_error"
    return _STATUS_CODES.get(status, "error")


def service_error_response(error: ServiceError) -> JSONResponse:
    """A service's error as the API answers it (with ``Retry-After`` when rate limited)."""
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    return error_response(error.status_code, error.code, error.message, error.field, headers)


# FastAPI's answer when a body model's JSON cannot be decoded at all (not UTF-8, an integer past Python's digit limit):
# answered like the JSON that routes read themselves (api/body.py), 422 with a message.
_FASTAPI_BODY_ERROR = "There was an error parsing the body"


def install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(ServiceError)
    async def _service_error(_request: Request, error: ServiceError) -> JSONResponse:
        return service_error_response(error)

    @api.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        if errors and errors[0].get("type") == "json_invalid":
            reason = (errors[0].get("ctx") or {}).get("error", "")
            return error_response(422, "validation_failed", f"The body is not valid JSON: {reason}".rstrip(": "))
        message, field = validation_message(errors)
        return error_response(422, "validation_failed", message, field)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == _FASTAPI_BODY_ERROR:
            return error_response(422, "validation_failed", "The body is not valid JSON (UTF-8 text).")
        code = code_for_status(error.status_code)
        return error_response(error.status_code, code, str(error.detail), headers=getattr(error, "headers", None))
