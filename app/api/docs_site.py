"""The documentation site at ``/help/``: the MkDocs build of docs/ (``make run`` builds it into ``site/``), served by
the app itself so the assistant's links (services/docs_search) and a user's bookmarks work wherever PaidSignal runs.

Pages are read from the build folder only: a path is resolved inside it or refused (no ``..`` escapes), a folder
answers with its ``index.html`` as MkDocs' directory URLs expect, and the pages' inline scripts (MkDocs Material's
boot) are allowed by their hashes in the page's own Content-Security-Policy, as the API docs page is.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from app import routes
from app.security_headers import allow_own_inline_scripts

SITE_DIR = Path(__file__).resolve().parents[2] / "site"
NOT_BUILT = (
    "<!doctype html><title>Documentation not built</title><h1>The documentation is not built here</h1>"
    "<p>Run <code>make run</code> (it builds the docs with mkdocs into <code>site/</code>) or <code>make docs</code>, "
    "or set <code>DOCS_URL</code> to where the docs are published.</p>"
)

router = APIRouter(include_in_schema=False)


def resolve(path: str, site: Path | None = None) -> Path | None:
    """The file of the build that ``/help/<path>`` names, or None (missing, or outside the build)."""
    root = (site or SITE_DIR).resolve()
    try:
        target = (root / path).resolve()
    except (OSError, ValueError):
        return None
    if target != root and root not in target.parents:
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


@router.get(routes.HELP)
def help_root() -> Response:
    return RedirectResponse(routes.HELP + "/", status_code=308)


@router.get(routes.HELP + "/{path:path}")
def help_page(path: str) -> Response:
    if not SITE_DIR.is_dir():
        return HTMLResponse(NOT_BUILT, status_code=404)
    found = resolve(path)
    if found is None:
        missing = resolve("404.html")
        body = missing.read_text(encoding="utf-8") if missing else "<!doctype html><title>Not found</title>Not found"
        return allow_own_inline_scripts(HTMLResponse(body, status_code=404))
    if found.suffix == ".html":
        return allow_own_inline_scripts(HTMLResponse(found.read_text(encoding="utf-8")))
    media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
    return FileResponse(found, media_type=media_type)
