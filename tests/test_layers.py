"""The layers' import rules, read from the source: ``pages -> state -> (presenters) -> services -> models``. Pages and
components take what they need through state (no page imports a service, an integration, the database or the
runtime); presenters and services know nothing of Reflex, FastAPI or the layers above them, and importing the
presenters loads none of those; models import no layer above them; process state lives in the runtime, never in a
module global; no two modules import each other."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
ABOVE_SERVICES = ("reflex", "fastapi", "starlette", "app.state", "app.pages", "app.components", "app.api",
                  "app.presenters", "app.jobs")  # fmt: skip


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _breaking(layer: str, banned: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in sorted((APP / layer).rglob("*.py")):
        bad = sorted({name for name in _imports(path) if name.startswith(banned)})
        if bad:
            found[str(path.relative_to(APP))] = bad
    return found


def test_no_page_or_component_reaches_below_state() -> None:
    below_state = ("app.services", "app.integrations", "app.db", "app.runtime")
    assert {**_breaking("pages", below_state), **_breaking("components", below_state)} == {}


def test_the_api_and_states_reach_the_runtime_only_through_services() -> None:
    assert {**_breaking("api", ("app.runtime",)), **_breaking("state", ("app.runtime",))} == {}


def test_models_import_no_layer_above_them() -> None:
    above = ("app.services", "app.state", "app.pages", "app.api", "app.jobs", "app.runtime")
    assert _breaking("models", above) == {}


def test_services_and_presenters_know_nothing_of_the_layers_above() -> None:
    assert _breaking("services", ABOVE_SERVICES) == {}
    assert _breaking("presenters", tuple(n for n in ABOVE_SERVICES if n != "app.presenters")) == {}


def test_the_presenters_load_without_reflex() -> None:
    names = sorted(f"app.presenters.{p.stem}" for p in (APP / "presenters").glob("*.py") if p.stem != "__init__")
    code = (
        f"import sys\nimport {', '.join(names)}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'reflex', 'fastapi', 'starlette'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=APP.parent)
    assert result.stdout.strip() == "[]"


def _all_imports(path: Path) -> set[str]:
    """Every module ``path`` imports, ``from x import y`` counting as ``x`` and ``x.y`` (y may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_module_keeps_process_state_in_a_module_global() -> None:
    """Process-wide state belongs to the runtime (app/runtime.py), created per process and reset between tests."""
    offenders = [
        f"{path.relative_to(APP)}:{node.lineno}"
        for path in sorted(APP.rglob("*.py"))
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
    paths = {_module_name(path): path for path in sorted(APP.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets = {n if n in paths else n.rsplit(".", 1)[0] for n in _all_imports(path) if n.startswith("app")}
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
