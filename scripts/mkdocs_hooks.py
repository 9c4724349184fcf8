"""MkDocs hooks (mkdocs.yml ``hooks:``): the generated reference pages are rendered from the code on every build.

docs/configuration/settings.md and docs/api/endpoints.md are committed so a forge shows them too; what the site
shows comes from ``app.settings.Settings`` and ``app.api.build_api()`` at build time (scripts/docs_reference.py),
so the site cannot drift even when a committed copy is stale (tests/test_docs.py catches that).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _import_root() -> None:
    """The app and the generators import from the repository's root, which MkDocs does not put on ``sys.path``
    (it loads this file by path and takes its own directory off the path again afterwards)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    _import_root()
    from scripts.docs_reference import PAGES

    render = PAGES.get(page.file.src_uri)
    return render() if render else markdown
