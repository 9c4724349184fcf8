"""Toasts from handlers reach the page as state, never as a script: the Content-Security-Policy forbids eval()."""

from __future__ import annotations

import re
from pathlib import Path

from reflex.state import State

from app.state.toasts import MAX_PENDING, ToastState, toast
from tests.utils.states import substate

STATE_DIR = Path(__file__).resolve().parents[2] / "app" / "state"
# Reflex helpers that, returned by a backend handler, reach the browser as a script string run with eval().
SCRIPT_EVENTS = re.compile(
    r"\brx\.(toast|call_script|call_function|run_script|scroll_to|set_clipboard|console_log|window_alert|back|noop)\b"
)


def test_a_toast_is_an_event_of_the_toast_state_with_its_level_and_message() -> None:
    spec = toast.error("Nothing saved: the name is taken.")
    assert spec.handler.fn.__qualname__ == ToastState.send.fn.__qualname__  # type: ignore[attr-defined]
    args = {str(name): value._var_value for name, value in spec.args}  # type: ignore[attr-defined]
    assert args == {"level": "error", "message": "Nothing saved: the name is taken."}
    for level in ("warning", "success", "info"):
        assert {str(n): v._var_value for n, v in getattr(toast, level)("x").args}["level"] == level  # type: ignore[attr-defined]


def test_pending_toasts_are_listed_until_the_page_has_shown_them(root: State) -> None:
    toasts = substate(root, ToastState)
    toasts.send("success", "Saved.")
    toasts.send("bogus", "Odd level.")
    first, second = toasts.pending
    assert (first["level"], first["message"]) == ("success", "Saved.")
    assert second["level"] == "info" and second["id"] > first["id"]
    toasts.shown(first["id"])
    assert toasts.pending == [second]
    toasts.shown(first["id"])  # shown twice (two tabs on one state): nothing else goes
    assert toasts.pending == [second]


def test_a_page_that_never_shows_them_keeps_only_the_latest(root: State) -> None:
    toasts = substate(root, ToastState)
    for n in range(MAX_PENDING + 5):
        toasts.send("info", f"toast {n}")
    assert [t["message"] for t in toasts.pending] == [f"toast {n}" for n in range(5, MAX_PENDING + 5)]


def test_no_handler_sends_a_script_to_the_browser() -> None:
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(STATE_DIR.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SCRIPT_EVENTS.search(line) and not line.lstrip().startswith(("#", '"""', "class toast"))
    ]
    assert found == [], "use app.state.toasts.toast, or run the script from the page:\n" + "\n".join(found)
