"""Helpers for calling Reflex state handlers directly: the state tree, a signed-in browser, a page visit, and what
a handler's returned events say."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from reflex.istate.data import RouterData
from reflex.state import BaseState, State
from sqlmodel import Session

from app.models import User
from app.services import accounts
from app.services.permissions import Actor
from app.state.base import AppState

StateT = TypeVar("StateT", bound=BaseState)
T = TypeVar("T")


class HasActor(Protocol):
    """A dataset with its owner (tests/utils/world.World and what builds on it)."""

    actor: Actor


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run an async handler to completion. In a thread of its own: when the browser tests ran first in this
    session, Playwright's sync API keeps an event loop running in the main thread and ``asyncio.run`` refuses."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def substate(root: State, cls: type[StateT]) -> StateT:
    """The instance of ``cls`` in the state tree under ``root``."""
    path = cls.get_full_name().split(".")[1:]
    found = root.get_substate(path)
    assert isinstance(found, cls)
    return found


def sign_in(root: State, db: Session, user: User) -> None:
    """The browser of ``root`` signs in as ``user`` (a session row, its token in the browser's state)."""
    token = accounts.start_session(session=db, user=user)
    db.commit()
    substate(root, AppState).auth_token = token


def visit(root: State, path: str) -> None:
    """What the browser sends with an on_load event: the page's path and query."""
    root.router = RouterData.from_router_data(
        {"pathname": path.split("?")[0], "asPath": path, "headers": {"origin": "http://localhost:3000"}}
    )


def event_args(spec: Any) -> dict[str, Any]:
    """The arguments of an event a handler returned (a redirect's ``path``, a download's ``data``…)."""
    return {str(name): value._var_value for name, value in spec.args}


def redirect_path(spec: Any) -> str:
    """Where a redirect event sends the browser."""
    return str(event_args(spec)["path"])


def user_of(db: Session, world: HasActor) -> User:
    """The owner of a test dataset, as a user who can sign in."""
    user = db.get(User, world.actor.user_id)
    assert user is not None
    return user
