"""The assistant's conversations: each user's own, with every question, answer and the tool calls behind it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, String, Text
from sqlmodel import Field, SQLModel

from app.models.base import utc_field


class Conversation(SQLModel, table=True):
    __tablename__ = "conversation"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="app_user.id", index=True, ondelete="CASCADE")
    title: str = Field(default="", max_length=200)
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True, index=True)


class ConversationMessage(SQLModel, table=True):
    __tablename__ = "conversation_message"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    conversation_id: int = Field(foreign_key="conversation.id", index=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    role: str = Field(max_length=16)  # user | assistant
    content: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Assistant answers: each tool call made, its arguments and the figures it returned ("shows its work").
    tool_trace: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="done", max_length=16)  # done | streaming | cancelled | error | refused
    created_at: datetime = utc_field(default_now=True)
