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
