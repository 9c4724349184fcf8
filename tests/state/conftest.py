"""State handlers called directly, on a real state tree, against the test database (helpers: tests/utils/states.py)."""

from __future__ import annotations

import pytest
from reflex.state import State

import app.app  # noqa: F401  (registers every state class, as the running app does)


@pytest.fixture
def root() -> State:
    return State()
