from __future__ import annotations

from typing import Any

from app.services.json_depth import CUT, clip_depth, deeper_than


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = {"a": value} if i % 2 else [value]
    return value


def test_depth_counts_containers_and_stops_without_recursion() -> None:
    assert not deeper_than(1, 0) and not deeper_than({}, 1) and deeper_than({}, 0)
    assert not deeper_than(_nested(16), 16) and deeper_than(_nested(17), 16)
    assert deeper_than(_nested(100_000), 16)  # far past Python's recursion limit


def test_clip_keeps_the_bound_and_cuts_below_it() -> None:
    assert clip_depth(_nested(16), 16) == _nested(16)
    clipped = clip_depth(_nested(5_000), 3)
    assert not deeper_than(clipped, 3)
    assert clipped == {"a": [{"a": CUT}]}
    assert clip_depth({"x": 1, "y": [1, {"z": 2}]}, 2) == {"x": 1, "y": [1, CUT]}
