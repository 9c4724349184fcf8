"""Query parameters the list routes share: one bounded type each for page numbers, page sizes and cursors, and
``choice`` to declare in the OpenAPI document the values a service accepts (the service still checks them, with
its own message), so the schema states every bound the server enforces."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Annotated, Any

from fastapi import Query

from app.services.days import FIRST_DAY, LAST_DAY, YEAR_PATTERN
from app.services.paging import MAX_LIMIT, MAX_PAGE_NUMBER

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"rows per page, 1 to {MAX_LIMIT}")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE_NUMBER, description=f"1 to {MAX_PAGE_NUMBER}")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="the ``next_cursor`` of the previous page; omit for the first")
]


def per_page(maximum: int) -> Any:
    return Query(ge=1, le=maximum, description=f"rows per page, 1 to {maximum}")


def choice(values: Iterable[str | int | Enum], **query: Any) -> Any:
    """A query parameter whose accepted values the OpenAPI document lists as an ``enum``."""
    listed = [v.value if isinstance(v, Enum) else v for v in values]
    return Query(json_schema_extra={"enum": listed}, **query)


def day(description: str, **query: Any) -> Any:
    """A date or date-time query parameter: the document states the years the services accept."""
    bounds = f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
    return Query(description=f"{description}; {bounds}", json_schema_extra={"pattern": YEAR_PATTERN}, **query)
