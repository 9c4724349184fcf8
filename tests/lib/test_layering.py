"""The layering the code keeps (pages -> state -> services -> models), checked on the source of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``from x import y`` counts as ``x`` and ``x.y``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (APP / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("pages", "components"), ids=lambda p: str(p.relative_to(APP)))
def test_pages_and_components_reach_services_only_through_state(path: Path) -> None:
    below_state = ("app.services", "app.integrations", "app.db", "app.runtime")
    wrong = sorted(name for name in _imports(path) if name.startswith(below_state))
    assert wrong == [], f"{path.relative_to(APP)} imports {wrong}; give the page what it needs through its state"


@pytest.mark.parametrize("path", _modules("api", "state"), ids=lambda p: str(p.relative_to(APP)))
def test_the_api_and_states_reach_the_runtime_only_through_services(path: Path) -> None:
    assert sorted(name for name in _imports(path) if name.startswith("app.runtime")) == []


@pytest.mark.parametrize("path", _modules("models"), ids=lambda p: str(p.relative_to(APP)))
def test_models_import_no_layer_above_them(path: Path) -> None:
    above = ("app.services", "app.state", "app.pages", "app.api", "app.jobs", "app.runtime")
    assert sorted(name for name in _imports(path) if name.startswith(above)) == []


def test_no_module_keeps_process_state_in_a_module_global() -> None:
    """Process-wide state belongs to the runtime (app/runtime.py), created per process and reset between tests."""
    offenders = [
        f"{path.relative_to(APP)}:{node.lineno}"
        for path in _modules(".")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Global)
    ]
    assert offenders == []


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(APP.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def test_no_import_cycles_between_modules() -> None:
    """Module-level and in-function imports alike; the runtime aside: it imports the parts it builds when it builds
    them, and every part reaches it through ``runtime.current()``."""
    paths = {_module_name(path): path for path in _modules(".")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets = {n if n in paths else n.rsplit(".", 1)[0] for n in _imports(path) if n.startswith("app")}
        graph[name] = {t for t in targets if t in paths and t not in {name, "app.runtime"}}
    graph.pop("app.runtime", None)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            for nxt in graph.get(current, ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cycles = sorted(f"{a} <-> {b}" for a, targets in graph.items() for b in targets if a < b and reaches(b, a))
    assert cycles == []
