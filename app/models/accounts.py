"""Accounts (shops), users, memberships with roles, browser sessions and invites."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import enum_field, utc_field


class Role(StrEnum):
    """A member's role in an account (what each may do: services/permissions.py)."""

    OWNER = "owner"
    ADMIN = "admin"
    MARKETER = "marketer"
    VIEWER = "viewer"


class Account(SQLModel, table=True):
    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    slug: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    name: str = Field(max_length=120)
    timezone: str = Field(default="UTC", max_length=64)
    # How numbers and money read on its pages and in its e-mails (a Babel/CLDR locale: en_US, de_DE, …).
    locale: str = Field(default="en_US", max_length=16, sa_column_kwargs={"server_default": "en_US"})
    plan: str = Field(default="starter", max_length=16)  # its limits: services/usage.PLANS
    # How sure (percent) "version B beat A" must be before a page, the API, an alert or the assistant calls a winner.
    winner_probability: int = Field(default=95, sa_column_kwargs={"server_default": "95"})
    created_at: datetime = utc_field(default_now=True)


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    email: str = Field(sa_column=Column(String(254), unique=True, nullable=False))
    password_hash: str = Field(max_length=255)
    is_staff: bool = Field(default=False)
    created_at: datetime = utc_field(default_now=True)


class Membership(SQLModel, table=True):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("account_id", "user_id", name="uq_membership_account_user"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="app_user.id", index=True, ondelete="CASCADE")
    role: Role = enum_field(Role, 16)
    created_at: datetime = utc_field(default_now=True)


class AuthSession(SQLModel, table=True):
    """A signed-in browser. The browser holds the token; we keep only its SHA-256."""

    __tablename__ = "auth_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    user_id: int = Field(foreign_key="app_user.id", index=True, ondelete="CASCADE")
    active_account_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    created_at: datetime = utc_field(default_now=True)
    expires_at: datetime = utc_field()
    revoked_at: datetime | None = utc_field(nullable=True)
    user_agent: str = Field(default="", max_length=400)
    ip: str = Field(default="", max_length=64)


class Invite(SQLModel, table=True):
    __tablename__ = "invite"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=254)
    role: Role = enum_field(Role, 16)
    invited_by_user_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    created_at: datetime = utc_field(default_now=True)
    expires_at: datetime = utc_field()
    accepted_at: datetime | None = utc_field(nullable=True)
    revoked_at: datetime | None = utc_field(nullable=True)
