"""How deeply nested the free-form JSON that senders give us may be: refused deeper at the door, cut deeper on the way
out (rows stored before the bound existed), so no stored value can make a read fail.

Depth counts containers: ``1`` and ``"a"`` are 0 deep, ``{}`` and ``{"a": 1}`` 1, ``{"a": {"b": [1]}}`` 3.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 16
# What a read shows in place of a container nested deeper than MAX_DEPTH.
CUT = "…"


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests containers more than ``limit`` deep. Iterative, and it stops at the first container
    past the limit, so a value nested thousands deep costs no recursion and little time."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def clip_depth(value: Any, limit: int = MAX_DEPTH) -> Any:
    """A copy of ``value`` whose containers nested deeper than ``limit`` are replaced by ``CUT``. Recursion never
    goes past ``limit`` levels, however deep ``value`` is."""
    if not isinstance(value, dict | list | tuple):
        return value
    if limit <= 0:
        return CUT
    if isinstance(value, dict):
        return {key: clip_depth(child, limit - 1) for key, child in value.items()}
    return [clip_depth(child, limit - 1) for child in value]
