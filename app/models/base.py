"""Column types and helpers shared by every table: aware UTC times, status-like enums as VARCHAR, prefixed opaque
ids."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic_core import PydanticUndefined
from sqlalchemy import DateTime, String, Table, inspect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

_ALPHABET = string.ascii_lowercase + string.digits
E = TypeVar("E", bound=StrEnum)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a table model, for bulk statements (SQLModel's classes do not declare ``__table__``)."""
    table = inspect(model).local_table
    assert isinstance(table, Table), model
    return table


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id(prefix: str, length: int = 16) -> str:
    """An opaque id for the outside world, e.g. ``acc_3k9x…``; never a bare autoincrement integer."""
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always returns timezone-aware datetimes, on SQLite (no tz support) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_field(*, nullable: bool = False, default_now: bool = False, index: bool = False) -> Any:
    kwargs: dict[str, Any] = {"sa_type": UTCDateTime, "nullable": nullable, "index": index}
    if default_now:
        kwargs["default_factory"] = utcnow
    elif nullable:
        kwargs["default"] = None
    return Field(**kwargs)


class EnumString(TypeDecorator[str]):
    """A ``StrEnum`` in a plain VARCHAR column (no database enum type, no CHECK: the schema stays text). Members are
    written as their values; a stored value is read back as its member, or as the plain string when it is not (or no
    longer) one: stored data never makes a read fail."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        try:
            return self.enum(value)
        except ValueError:
            return value


def enum_field(
    enum: type[E],
    length: int,
    *,
    default: E | None = None,
    nullable: bool = False,
    index: bool = False,
    primary_key: bool = False,
    server_default: E | None = None,
) -> Any:
    """A column annotated with ``enum``, stored as VARCHAR(``length``) (see EnumString)."""
    column_kwargs: dict[str, Any] = {} if server_default is None else {"server_default": server_default.value}
    return Field(
        default=PydanticUndefined if default is None and not nullable else default,
        sa_type=EnumString(enum, length),
        nullable=nullable,
        index=index,
        primary_key=primary_key,
        sa_column_kwargs=column_kwargs,
    )
