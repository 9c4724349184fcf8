"""Request and response bodies of the public API (pydantic models, shown in the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: str
    version: str
    database: str


class WhoAmIRequest(BaseModel):
    """Body of a browser check: the publishable key may ride here instead of the query string."""

    model_config = ConfigDict(extra="forbid")
    key: str | None = None


class WhoAmI(BaseModel):
    account_id: str
    key_kind: str


class RejectedEvent(BaseModel):
    index: int
    code: str
    message: str


class IngestResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    dropped: int
    dropped_reasons: dict[str, int]
    errors: list[RejectedEvent]


class EventList(BaseModel):
    events: list[dict[str, object]]
    next_cursor: str | None
