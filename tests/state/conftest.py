"""State handlers called directly, on a real state tree, against the test database."""

from __future__ import annotations

from typing import TypeVar

import pytest
from reflex.state import BaseState, State

import app.app  # noqa: F401  (registers every state class, as the running app does)

StateT = TypeVar("StateT", bound=BaseState)


def substate(root: State, cls: type[StateT]) -> StateT:
    path = cls.get_full_name().split(".")[1:]
    found = root.get_substate(path)
    assert isinstance(found, cls)
    return found


@pytest.fixture
def root() -> State:
    return State()
