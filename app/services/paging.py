"""Paging: the bounds of every list, and opaque cursors for "newest first" pages (the sort value and the row id of
the last row shown, as URL-safe text).

Lists that page by (sort value, id) — orders, conversions, spend — encodes and checks them here, so a cursor
from one list is refused by another with the same message.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

from app.services.errors import ValidationFailed

T = TypeVar("T")

# Rows per page of a cursor list (events, orders, conversions, spend).
MAX_LIMIT = 200
# Numbered pages (campaigns): far past any real list, and small enough that (page - 1) * per_page stays a
# 64-bit integer in every database (an unbounded page number was an overflow, a 500).
MAX_PAGE_NUMBER = 10_000


def check_page_number(page: int) -> int:
    """Raises:
    ValidationFailed: ``page`` is outside 1..MAX_PAGE_NUMBER."""
    if not 1 <= page <= MAX_PAGE_NUMBER:
        raise ValidationFailed(f"page must be between 1 and {MAX_PAGE_NUMBER}.", field="page")
    return page


def encode_cursor(value: date | datetime | int, row_id: int | None = None) -> str:
    parts: list[str | int] = [value.isoformat() if isinstance(value, date) else value]
    if row_id is not None:
        parts.append(row_id)
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, parse: Callable[[str], T]) -> tuple[T, int]:
    """(sort value, row id); ``parse`` turns the stored text back into the sort value (e.g. ``date.fromisoformat``).

    Raises:
        ValidationFailed: the text is not a cursor this API returned.
    """
    try:
        value, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return parse(value), int(row_id)
    except (ValueError, TypeError) as error:
        raise ValidationFailed("The cursor is not one this API returned.", field="cursor") from error
