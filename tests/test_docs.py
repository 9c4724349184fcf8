"""The documentation stays true to the code: every setting is described, the generated reference pages are current,
every route says how it authenticates, the README stays one page that links into docs/, the screenshots come from
the browser tests, and nothing in the repository points outside it. (``make test`` also builds the site with
``mkdocs build --strict``, which fails on a broken link, anchor, snippet or a page missing from the navigation.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.settings import Settings
from scripts import docs_reference

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def test_every_setting_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert not missing, f"give these settings a Field(description=...) in app/settings.py: {missing}"


def test_every_setting_is_in_a_section_of_the_reference() -> None:
    page = docs_reference.settings_page()
    for name in Settings.model_fields:
        assert f'<span id="{name}"></span>`{name.upper()}`' in page
    assert page.count("\n## ") == len(docs_reference._section_titles(Settings))


def test_the_generated_reference_pages_are_current() -> None:
    stale = docs_reference.stale_pages()
    assert not stale, f"docs/{stale[0]} differs from the code: run `python -m scripts.docs_reference` and commit it"


def test_every_endpoint_of_the_schema_is_in_the_reference() -> None:
    from app.api import build_api

    page = docs_reference.endpoints_page()
    for path, operations in build_api().openapi()["paths"].items():
        for method in operations:
            assert f"## `{method.upper()} {path}`" in page


def test_a_route_that_takes_no_secret_key_must_say_how_it_authenticates() -> None:
    api = FastAPI()

    @api.get("/api/v1/unlisted")
    def unlisted() -> dict[str, str]:
        return {}

    with pytest.raises(docs_reference.DocsReferenceError, match=r"GET /api/v1/unlisted takes no secret key"):
        docs_reference._auth_table(api, api.openapi())


def test_the_readme_is_one_page_that_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    # The first thing after the title: the two commands that set up and run, and set up and test.
    first_block = text.split("\n\n")[1]
    assert first_block.startswith("```sh\nmake run") and "\nmake test" in first_block, first_block
    assert "docs/images/overview.png" in text
    # The one code map: docs/architecture/index.md includes this section of the README.
    assert "--8<-- [start:code-map]" in text and "--8<-- [end:code-map]" in text
    assert '--8<-- "README.md:code-map"' in (DOCS / "architecture" / "index.md").read_text(encoding="utf-8")


def test_the_readme_links_lead_to_files_of_the_repository() -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text(encoding="utf-8"))
    local = [link for link in links if "://" not in link]
    assert local, "the README links into docs/"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


def test_every_screenshot_is_taken_by_a_browser_test_and_shown_by_a_page() -> None:
    taken = set()
    for test in (ROOT / "tests" / "e2e").glob("test_*.py"):
        taken |= set(re.findall(r'docs_screenshot\(\s*\w+,\s*"([\w-]+)"', test.read_text(encoding="utf-8")))
    shown = "\n".join(page.read_text(encoding="utf-8") for page in [README, *DOCS.rglob("*.md")])
    for image in sorted((DOCS / "images").glob("*.png")):
        assert image.stem in taken, f"docs/images/{image.name} is taken by no browser test (docs_screenshot)"
        assert f"images/{image.name}" in shown, f"docs/images/{image.name} is shown by no page"
    for name in taken:
        assert f"images/{name}.png" in shown, f"the screenshot {name!r} is shown by no page"


def test_nothing_in_the_repository_points_outside_it() -> None:
    outside = "../" + "shared"  # spelled in two parts so this file does not match itself
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    found = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".ico", ".lock"}:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        found += [f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if outside in line]
    assert not found, f"references outside the repository (vendor what the code needs instead): {found}"


# Paths the docs name that no checkout has: folders made at run time.
_MADE_AT_RUN_TIME = {"bench/results/"}


def test_every_file_the_docs_name_exists() -> None:
    """A file or folder of the repository named in the docs (`app/db.py`, `tests/utils/stripe_fakes.StripeRecorder`)
    exists: code that moves takes its docs along (the code map included)."""
    named = r"`((?:app|tests|scripts|bench|assets|migrations|docs)/[\w/.*-]*)"
    missing = []
    for page in [README, *DOCS.rglob("*.md")]:
        for path in re.findall(named, page.read_text(encoding="utf-8")):
            module = ROOT / (path.rsplit(".", 1)[0] + ".py")  # tests/utils/smtp.SmtpServer: a name in a module
            if not ((ROOT / path).exists() or module.exists() or path in _MADE_AT_RUN_TIME or "*" in path):
                missing.append(f"{page.relative_to(ROOT)}: {path}")
    # The code map: each line of the README's tree starts with a file or folder.
    code_map = README.read_text(encoding="utf-8").split("[start:code-map]")[1].split("[end:code-map]")[0]
    tree = re.findall(r"^([\w.-]+(?:/[\w.-]*)*)\s{2,}", code_map, flags=re.MULTILINE)
    assert len(tree) > 10, "the code map's tree was not found"
    missing += [f"README.md (code map): {path}" for path in tree if not (ROOT / path).exists()]
    assert not missing, f"the docs name files the repository does not have: {missing}"
