"""What the pixel and the events API record: events, and the visitors, sessions and touches derived from them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.models.base import enum_field, utc_field

# BIGINT on PostgreSQL; plain INTEGER on SQLite so the key stays the rowid (autoincrement).
BigId = BigInteger().with_variant(Integer, "sqlite")


def _s(length: int, *, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(String(length), nullable=nullable, index=index))


def _m(length: int) -> Any:
    # sa_type, not sa_column: a mixin's Column object cannot be shared by two tables.
    return Field(default=None, sa_type=String(length), nullable=True)


class EventSource(StrEnum):
    """Who sent an event: the shop's browser pixel, its server, or the install page's test (stored, never counted)."""

    BROWSER = "browser"
    SERVER = "server"
    TEST = "test"


class MarketingFields(SQLModel):
    """What a landing carries and both events and sessions keep: UTM parameters, click ids, Meta and GA ids."""

    utm_source: str | None = _m(200)
    utm_medium: str | None = _m(200)
    utm_campaign: str | None = _m(200)
    utm_term: str | None = _m(200)
    utm_content: str | None = _m(200)
    # The ad platform's own campaign id from the landing URL (Meta ``utm_id={{campaign.id}}``, Google
    # ``utm_id={campaignid}``, and the ``gad_campaignid`` Google adds by itself): maps platform reports to campaigns.
    utm_id: str | None = _m(200)
    gad_campaignid: str | None = _m(64)
    fbclid: str | None = _m(500)
    fbc: str | None = _m(600)
    fbp: str | None = _m(100)
    gclid: str | None = _m(200)
    gbraid: str | None = _m(200)
    wbraid: str | None = _m(200)
    msclkid: str | None = _m(200)
    ttclid: str | None = _m(200)
    ga_client_id: str | None = _m(100)
    ga_session_id: str | None = _m(100)


class Event(MarketingFields, table=True):
    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("account_id", "event_id", name="uq_event_account_event_id"),
        Index("ix_event_account_occurred", "account_id", "occurred_at"),
        Index("ix_event_account_visitor", "account_id", "visitor_id"),
        # Only the events still to derive (a handful: the writer derives within a second): the deriver's queue.
        Index(
            "ix_event_derive_pending",
            "id",
            sqlite_where=text("derive_pending IS NOT NULL"),
            postgresql_where=text("derive_pending IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    event_id: str = Field(sa_column=Column(String(64), nullable=False))
    type: str = Field(sa_column=Column(String(40), nullable=False))
    occurred_at: datetime = utc_field()
    received_at: datetime = utc_field()
    source: EventSource = enum_field(EventSource, 16, default=EventSource.BROWSER)
    visitor_id: str | None = _s(64)
    session_key: str | None = _s(64)
    url: str | None = _s(2048)
    referrer: str | None = _s(2048)
    value: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    currency: str | None = _s(3)
    items: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    user_data: dict[str, str] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    properties: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    consent: dict[str, bool] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    user_agent: str | None = _s(512)
    ip: str | None = _s(64)
    # True from the commit that stores the event until visitors, sessions and touches include it (then NULL, so
    # the partial index holds only the queue); test events are never derived and stored with NULL.
    derive_pending: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))


class DeriveState(SQLModel, table=True):
    """The deriver's one row: every derivation pass updates it first, so passes run one at a time (a row lock on
    PostgreSQL, the write lock on SQLite) and read the queue only once they hold it."""

    __tablename__ = "derive_state"

    id: int = Field(primary_key=True)
    passes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    derived_events: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    last_pass_at: datetime | None = utc_field(nullable=True)


class Visitor(SQLModel, table=True):
    __tablename__ = "visitor"
    __table_args__ = (UniqueConstraint("account_id", "visitor_key", name="uq_visitor_account_key"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    visitor_key: str = Field(sa_column=Column(String(64), nullable=False))
    first_seen_at: datetime = utc_field()
    last_seen_at: datetime = utc_field()
    fbc: str | None = _s(600)
    fbp: str | None = _s(100)
    ga_client_id: str | None = _s(100)
    event_count: int = Field(default=0)


class VisitSession(MarketingFields, table=True):
    """A visit: keyed by the client's session_id, or inferred server-side (30 min inactivity) when it sent none."""

    __tablename__ = "visit_session"
    __table_args__ = (
        UniqueConstraint("account_id", "session_key", name="uq_visit_session_account_key"),
        Index("ix_visit_session_account_started", "account_id", "started_at"),
        Index("ix_visit_session_account_visitor", "account_id", "visitor_key"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    session_key: str = Field(sa_column=Column(String(64), nullable=False))
    visitor_key: str | None = _s(64)
    inferred: bool = Field(default=False)
    started_at: datetime = utc_field()
    last_event_at: datetime = utc_field()
    event_count: int = Field(default=0)
    landing_url: str | None = _s(2048)
    referrer: str | None = _s(2048)
    # The campaign and version whose rules matched when the session started (None: unmatched), set once.
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", ondelete="SET NULL")
    campaign_version_id: int | None = Field(default=None, foreign_key="campaign_version.id", ondelete="SET NULL")
    user_agent: str | None = _s(512)


class Touch(SQLModel, table=True):
    """A marketing touchpoint (a session that arrived with UTM parameters or a click id), for attribution."""

    __tablename__ = "touch"
    __table_args__ = (
        UniqueConstraint("account_id", "session_key", name="uq_touch_account_session"),
        Index("ix_touch_account_visitor_time", "account_id", "visitor_key", "touched_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    visitor_key: str | None = _s(64)
    session_key: str = Field(sa_column=Column(String(64), nullable=False))
    touched_at: datetime = utc_field()
    is_first: bool = Field(default=False)
    utm_source: str | None = _s(200)
    utm_medium: str | None = _s(200)
    utm_campaign: str | None = _s(200)
    utm_term: str | None = _s(200)
    utm_content: str | None = _s(200)
    utm_id: str | None = _s(200)
    gad_campaignid: str | None = _s(64)
    click_id_type: str | None = _s(16)
    click_id: str | None = _s(500)
    landing_url: str | None = _s(2048)
    referrer: str | None = _s(2048)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", ondelete="SET NULL")
    campaign_version_id: int | None = Field(default=None, foreign_key="campaign_version.id", ondelete="SET NULL")
