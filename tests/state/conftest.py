"""State handlers called directly, on a real state tree, against the test database."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from reflex.state import BaseState, State

import app.app  # noqa: F401  (registers every state class, as the running app does)

StateT = TypeVar("StateT", bound=BaseState)
T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run an async handler to completion. In a thread of its own: when the browser tests ran first in this
    session, Playwright's sync API keeps an event loop running in the main thread and ``asyncio.run`` refuses."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def substate(root: State, cls: type[StateT]) -> StateT:
    path = cls.get_full_name().split(".")[1:]
    found = root.get_substate(path)
    assert isinstance(found, cls)
    return found


@pytest.fixture
def root() -> State:
    return State()
