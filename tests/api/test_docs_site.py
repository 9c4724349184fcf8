"""The documentation site at /help/ (app/api/docs_site.py): pages from the build folder, folders answered with their
index, nothing outside the folder, the pages' own inline scripts allowed by hash, and a clear page when unbuilt."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.api import docs_site
from app.services import docs_search
from app.settings import get_settings

BOOT = "var __md_scope=new URL('.',location)"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    (root / "guide" / "install").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "index.html").write_text(f"<!doctype html><title>Home</title><script>{BOOT}</script>", encoding="utf-8")
    (root / "guide" / "install" / "index.html").write_text("<title>Install</title><h2 id='pixel'>Pixel</h2>")
    (root / "assets" / "main.css").write_text("body{color:black}")
    (root / "404.html").write_text("<title>Missing page</title>")
    (tmp_path / "secret.txt").write_text("not for the web")
    monkeypatch.setattr(docs_site, "SITE_DIR", root)
    return root


def test_pages_folders_and_files_are_served_from_the_build(client: TestClient, site: Path) -> None:
    page = client.get("/help/guide/install/")
    assert page.status_code == 200 and "Install" in page.text
    assert page.headers["content-type"].startswith("text/html")
    css = client.get("/help/assets/main.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    home = client.get("/help", follow_redirects=False)
    assert home.status_code == 308 and home.headers["location"] == "/help/"


def test_a_pages_inline_script_is_allowed_by_its_hash(client: TestClient, site: Path) -> None:
    digest = base64.b64encode(hashlib.sha256(BOOT.encode()).digest()).decode()
    answer = client.get("/help/")
    assert answer.status_code == 200
    assert f"'sha256-{digest}'" in answer.headers["content-security-policy"]
    assert "'unsafe-inline'" not in answer.headers["content-security-policy"].split("script-src")[1].split(";")[0]


@pytest.mark.parametrize("path", ["/help/nothing-here/", "/help/../secret.txt", "/help/%2e%2e/secret.txt"])
def test_a_missing_page_or_a_path_outside_the_build_is_a_404(client: TestClient, site: Path, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert "not for the web" not in answer.text


def test_without_a_build_the_page_says_how_to_build_it(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docs_site, "SITE_DIR", tmp_path / "absent")
    answer = client.get("/help/guide/install/")
    assert answer.status_code == 404 and "make run" in answer.text


def test_the_assistants_links_point_at_the_apps_own_help_unless_docs_url_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    section = docs_search.Section("guide/install.md", "Install", "Pixel", "pixel", "")
    monkeypatch.setattr(get_settings(), "docs_url", "")
    assert docs_search.link(section) == f"{get_settings().public_url.rstrip('/')}/help/guide/install/#pixel"
    monkeypatch.setattr(get_settings(), "docs_url", "https://docs.example.com")
    assert docs_search.link(section) == "https://docs.example.com/guide/install/#pixel"
