"""API keys: publishable (public identifiers, stored in clear) and secret (stored as an HMAC, shown once)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, String
from sqlmodel import Field, SQLModel

from app.models.base import enum_field, utc_field


class KeyKind(StrEnum):
    PUBLISHABLE = "publishable"
    SECRET = "secret"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    kind: KeyKind = enum_field(KeyKind, 16)
    label: str = Field(default="", max_length=120)
    # Secret keys: the first characters (shown in lists, used to find the row); publishable keys: the whole key.
    lookup: str = Field(sa_column=Column(String(80), unique=True, nullable=False))
    # HMAC-SHA256 of the whole secret key with the server pepper; empty for publishable keys.
    secret_hash: str = Field(default="", max_length=64)
    allowed_origins: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by_user_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = utc_field(default_now=True)
    revoked_at: datetime | None = utc_field(nullable=True)
    last_used_at: datetime | None = utc_field(nullable=True)
