"""SQLModel tables, one module per domain. Importing this package registers every table's metadata."""

from app.models.accounts import Account, AuthSession, Invite, Membership, Role, User
from app.models.jobs import JobLease, JobRun
from app.models.keys import ApiKey, KeyKind

__all__ = [
    "Account",
    "ApiKey",
    "AuthSession",
    "Invite",
    "JobLease",
    "JobRun",
    "KeyKind",
    "Membership",
    "Role",
    "User",
]
