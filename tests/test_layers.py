"""The layers' import rules, read from the source: ``pages -> state -> (presenters) -> services -> models``. Pages and
components take their constants through state (no page imports a service); presenters and services know nothing of
Reflex, FastAPI or the layers above them; and importing the presenters loads none of those."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
# Pages that still import a service's constant, in areas other engineers of issue 17 are restructuring: each goes
# once its page takes the constant through its state. Nothing may be added.
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


def test_no_page_or_component_imports_a_service() -> None:
    found = {**_breaking("pages", ("app.services",)), **_breaking("components", ("app.services",))}
    assert found == {}


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
