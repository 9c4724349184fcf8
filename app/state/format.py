"""Dates read from a URL or a form; ``format_time`` (times in the account's timezone) lives in ``app.lib.formatting``
and is importable from here too, as the states always have."""

from __future__ import annotations

from app.lib.formatting import format_time
from app.presenters.ranges import date_text, parse_date

__all__ = ["date_text", "format_time", "parse_date"]
