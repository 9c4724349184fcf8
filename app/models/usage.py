"""What each account uses: API requests per key, endpoint and day, tracking events stored per day, and every LLM call
with its tokens and cost."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import utc_field


class ApiUsageDaily(SQLModel, table=True):
    """Requests counted in memory by each process and added here by the ``flush_api_usage`` job (UTC days)."""

    __tablename__ = "api_usage_daily"
    __table_args__ = (UniqueConstraint("account_id", "key_id", "endpoint", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    key_id: int = Field(default=0)  # 0: no key (a signed-in user, a Stripe webhook)
    endpoint: str = Field(max_length=120)  # "POST /api/v1/events": the route, not the URL
    day: date = Field(index=True)
    requests: int = Field(default=0)
    errors: int = Field(default=0)  # answered 4xx or 5xx
    events: int = Field(default=0)  # tracking events accepted


class IngestDropDaily(SQLModel, table=True):
    """Tracking events PaidSignal did not keep, per account, UTC day, reason and browser origin: ``bot`` (a bot's user
    agent), ``consent_denied`` (analytics consent denied), ``wrong_origin`` (a publishable key used from an origin it
    does not allow; counted per request). Counted in memory by each process and added by the ``flush_api_usage`` job.
    """

    __tablename__ = "ingest_drop_daily"
    __table_args__ = (UniqueConstraint("account_id", "day", "reason", "origin"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    day: date
    reason: str = Field(max_length=24)
    origin: str = Field(default="", max_length=255)  # "" when the request had none
    count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class EventCountDaily(SQLModel, table=True):
    """Tracking events stored per account and UTC day, whatever brought them (the pixel, the server API, an import);
    test events are left out. Added to by the ingest writer in the transaction that stores the events, so the plan's
    "events this month" is a read of at most 31 rows however many events there are."""

    __tablename__ = "event_count_daily"

    account_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    events: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class LlmCall(SQLModel, table=True):
    """One call to the LLM provider (an answer may take several: one per tool round)."""

    __tablename__ = "llm_call"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    user_id: int | None = Field(default=None, foreign_key="app_user.id", ondelete="SET NULL")
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", ondelete="SET NULL")
    # The user's question this call answered (its conversation_message id): cost per question.
    question_id: int | None = Field(default=None, index=True)
    model: str = Field(max_length=120)
    prompt_tokens: int = Field(default=0)
    completion_tokens: int = Field(default=0)
    cost_usd: float = Field(default=0.0)
    duration_ms: int = Field(default=0)
    outcome: str = Field(default="ok", max_length=16)  # ok | error | cancelled
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = utc_field(default_now=True, index=True)
