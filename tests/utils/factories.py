"""Builders for test data, through the same services the app uses."""

from __future__ import annotations

import itertools

from sqlmodel import Session

from app.models import Account, Membership, Role, User
from app.services import accounts
from app.services.permissions import Actor

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def make_owner(session: Session, *, name: str | None = None, email: str | None = None) -> tuple[Account, User, Actor]:
    n = next(_counter)
    account, user = accounts.signup(
        session=session,
        account_name=name or f"Shop {n}",
        email=email or f"owner{n}@example.com",
        password=PASSWORD,
        timezone="Europe/Paris",
    )
    session.commit()
    assert account.id is not None and user.id is not None
    return account, user, Actor(user_id=user.id, account_id=account.id, role=Role.OWNER)


def add_member(session: Session, account: Account, role: Role, *, email: str | None = None) -> tuple[User, Actor]:
    user = accounts.create_user(
        session=session, email=email or f"member{next(_counter)}@example.com", password=PASSWORD
    )
    assert user.id is not None and account.id is not None
    session.add(Membership(account_id=account.id, user_id=user.id, role=role.value))
    session.commit()
    return user, Actor(user_id=user.id, account_id=account.id, role=role)
