"""The docs index behind ``search_docs``: sections and anchors as MkDocs builds them, BM25 ranking, links under
``DOCS_URL``."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

import markdown
import pytest

from app.services import docs_search
from app.settings import get_settings


@pytest.fixture
def docs_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DOCS_URL", "https://docs.example.test/paidsignal/")
    get_settings.cache_clear()
    yield "https://docs.example.test/paidsignal"
    get_settings.cache_clear()


def test_every_anchor_is_the_one_mkdocs_gives_the_heading() -> None:
    sections = docs_search.load_sections()
    by_page: dict[str, list[docs_search.Section]] = defaultdict(list)
    for section in sections:
        by_page[section.page].append(section)
    assert "guide/install.md" in by_page and "stripe.md" in by_page and len(sections) > 100
    extensions = ["toc", "attr_list", "tables", "admonition", "def_list", "pymdownx.superfences", "pymdownx.details"]
    for page, found in by_page.items():
        html = markdown.markdown((docs_search.DOCS_DIR / page).read_text(encoding="utf-8"), extensions=extensions)
        ids = re.findall(r'<h[2-6] id="([^"]+)"', html)
        assert [s.anchor for s in found if s.anchor] == ids, page


def test_split_page_titles_anchors_and_code_blocks() -> None:
    page = (
        "# Install `pixel.js`\n\nIntro text with a [link](keys.md).\n\n## Check it { #check }\n\nSee it.\n\n"
        "```bash\n# not a heading\n```\n\n## Étape deux\n\nMore.\n\n## Étape deux\n\nAgain.\n"
    )
    sections = docs_search.split_page("guide/setup.md", page)
    assert [(s.title, s.anchor) for s in sections] == [
        ("Install pixel.js", ""),
        ("Install pixel.js › Check it", "check"),
        ("Install pixel.js › Étape deux", "etape-deux"),
        ("Install pixel.js › Étape deux", "etape-deux_1"),
    ]
    assert sections[0].text == "Intro text with a link."
    assert "# not a heading" in sections[1].text
    assert [s.path() for s in sections[:2]] == ["guide/setup/", "guide/setup/#check"]
    index = docs_search.split_page("guide/index.md", "# Guide\n\nText.")[0]
    assert index.path() == "guide/"
    assert docs_search.split_page("index.md", "# Home\n\nText.")[0].path() == ""


def test_search_ranks_the_section_that_answers_first(docs_url: str) -> None:
    hits = docs_search.search("How do I install the pixel on my checkout page?")
    assert hits and hits[0].section.page == "guide/install.md"
    assert docs_search.link(hits[0].section) == f"{docs_url}/guide/install/"
    assert [h.score for h in hits] == sorted(h.score for h in hits)  # BM25: lower is better
    webhooks = docs_search.search("stripe webhook endpoint events", limit=3)
    assert ("stripe.md", "connect") in [(h.section.page, h.section.anchor) for h in webhooks]
    asked = docs_search.search("Which Stripe events do I need to select?", limit=3)
    assert ("stripe.md", "connect") in [(h.section.page, h.section.anchor) for h in asked]  # question words left out


def test_a_question_the_docs_do_not_cover_finds_nothing() -> None:
    assert docs_search.search("recipe for banana bread") == []
    assert docs_search.search("the of and ?") == []
    assert docs_search.search('"unbalanced quote AND OR NEAR(') is not None  # FTS syntax is never passed through
