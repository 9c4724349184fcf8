"""Reading JSON bodies that browsers send as CORS-simple ``text/plain`` as well as ``application/json``."""

from __future__ import annotations

import json
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from app.api.errors import validation_message
from app.services.errors import ServiceError, ValidationFailed

ModelT = TypeVar("ModelT", bound=BaseModel)

JSON_TYPES = {"application/json", "text/plain", ""}


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status_code = 415
    code = "unsupported_media_type"


def _refuse_constant(name: str) -> object:
    raise ValidationFailed(f"The body contains {name}, which is not JSON; send a number or null.")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValidationFailed(f"The number {text[:20]}… is too large; send it as a string.")
    return number


def loads(raw: bytes | bytearray | str) -> object:
    """Strict JSON: NaN, Infinity and numbers that overflow are refused (PostgreSQL's JSON and our own responses
    cannot hold them), and so are integers over Python's 4,300-digit conversion limit, instead of failing later."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValidationFailed(f"The body is not valid JSON: {error}") from error
    except RecursionError as error:
        raise ValidationFailed("The body is nested too deeply.") from error
    except ValueError as error:  # an integer past the int-from-text digit limit
        raise ValidationFailed(f"The body holds a number that cannot be read: {error}") from error


async def read_json(request: Request, *, max_bytes: int) -> object:
    raw = await read_body(request, max_bytes=max_bytes)
    return loads(raw) if raw.strip() else {}


async def read_body(request: Request, *, max_bytes: int) -> bytes:
    """The body's bytes, for a JSON reader (``read_json``, or a model's ``model_validate_json``): a JSON media type,
    at most ``max_bytes``, no NUL character. Not parsed."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Send JSON as 'application/json' or, from a browser, 'text/plain'; got {content_type!r}."
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes.")
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > max_bytes:
            raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes.")
    if b"\x00" in raw or b"\\u0000" in raw:
        # PostgreSQL cannot store NUL in text; refuse it for every backend alike.
        raise ValidationFailed("The body contains NUL characters (\\u0000), which are not accepted.")
    return bytes(raw)


async def parse_body(request: Request, model: type[ModelT], *, max_bytes: int = 1 << 20) -> ModelT:
    data = await read_json(request, max_bytes=max_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        message, field = validation_message(list(error.errors()))
        raise ValidationFailed(message, field=field) from error
