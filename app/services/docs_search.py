"""Search in the product's own docs (docs/**/*.md), for the assistant's support answers.

Each page is split at its headings into sections (page title, heading, text); the sections go into an in-memory
SQLite FTS5 table (porter stemming) built once per process on the first search, apart from the main database, so it
works whatever ``DATABASE_URL`` is. Searches rank with FTS5's BM25 (a heading's words weigh more than the text's).
Links are the built site's: ``DOCS_URL`` + the page's directory URL (``guide/install/``) + the heading's anchor as
MkDocs' ``toc`` extension makes it (an explicit ``{ #id }`` wins; duplicates get ``_1``, ``_2``).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from app import routes
from app.settings import get_settings

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"
# Pages about PaidSignal's own code (its design, tests, speed): not what a shop asks the assistant about.
_SKIPPED = ("architecture/", "contributing.md", "testing.md", "performance.md", "scaling.md")

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ATTRS = re.compile(r"\s*\{\s*([^}]*)\}\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to say anything about a question (FTS5 has no stop list of its own).
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "isn't",
        "wasn't",
        "doesn't",
        "don't",
        "need",
        "needs",
        "want",
        "should",
        "must",
        "get",
        "got",
        "paidsignal",
    ]
)


@dataclass(frozen=True)
class Section:
    page: str  # path under docs/, e.g. "guide/install.md"
    page_title: str
    heading: str  # "" for the text before the first heading below the title
    anchor: str  # "" for a page's top
    text: str

    @property
    def title(self) -> str:
        return (
            f"{self.page_title} › {self.heading}"
            if self.heading and self.heading != self.page_title
            else (self.page_title)
        )

    def path(self) -> str:
        """The section's place in the built site: ``guide/install/#anchor`` (directory URLs, as MkDocs builds)."""
        stem = self.page.removesuffix(".md")
        if stem == "index":
            page = ""
        elif stem.endswith("/index"):
            page = stem.removesuffix("index")
        else:
            page = f"{stem}/"
        return f"{page}#{self.anchor}" if self.anchor else page


@dataclass(frozen=True)
class Hit:
    section: Section
    score: float  # BM25 (FTS5's: lower is better)
    snippet: str


def slugify(value: str) -> str:
    """Python-Markdown's ``toc`` slugify (what MkDocs uses by default)."""
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def plain(markdown: str) -> str:
    """Markdown as the text a reader sees (links keep their words; code, emphasis and HTML marks go)."""
    text = _LINK.sub(r"\1", markdown)
    text = _TAG.sub("", text)
    text = text.replace("`", "").replace("**", "").replace("__", "")
    return re.sub(r"(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)", "", text)


def _heading(raw: str) -> tuple[str, str | None]:
    """A heading's text and its explicit id (``{ #id }``), if any."""
    explicit = None
    found = _ATTRS.search(raw)
    if found:
        ids = [part[1:] for part in found.group(1).split() if part.startswith("#")]
        explicit = ids[0] if ids else None
        raw = raw[: found.start()]
    return plain(raw).strip(), explicit


def split_page(page: str, markdown: str) -> list[Section]:
    """One page's sections: the first ``#`` heading is the page title; every heading starts a section."""
    used: set[str] = set()
    page_title = ""
    sections: list[Section] = []
    heading, anchor = "", ""
    lines: list[str] = []
    fenced = False

    def close() -> None:
        body = " ".join(" ".join(lines).split())
        if heading or body:
            sections.append(Section(page, page_title, heading, anchor, plain(body)))

    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        found = None if fenced else _HEADING.match(line)
        if found is None:
            if not line.lstrip().startswith("--8<--"):
                lines.append(line)
            continue
        text, explicit = _heading(found.group(2))
        slug = explicit or slugify(text)
        unique, n = slug, 0
        while unique in used:
            n += 1
            unique = f"{slug}_{n}"
        used.add(unique)
        if not page_title and len(found.group(1)) == 1:
            page_title = text
            continue
        close()
        heading, anchor, lines = text, unique, []
    close()
    title = page_title or page
    return [Section(s.page, title, s.heading, s.anchor, s.text) for s in sections]


def load_sections(root: Path = DOCS_DIR) -> list[Section]:
    sections: list[Section] = []
    for path in sorted(root.rglob("*.md")):
        page = path.relative_to(root).as_posix()
        if page.startswith(_SKIPPED):
            continue
        sections += split_page(page, path.read_text(encoding="utf-8"))
    return sections


class DocsIndex:
    """The sections in an in-memory FTS5 table, built on first use (once per process; thread-safe)."""

    def __init__(self, root: Path = DOCS_DIR) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._sections: list[Section] = []

    def _connection(self) -> sqlite3.Connection:
        with self._lock:
            if self._db is None:
                db = sqlite3.connect(":memory:", check_same_thread=False)
                db.execute("CREATE VIRTUAL TABLE section USING fts5(title, body, tokenize='porter unicode61')")
                self._sections = load_sections(self._root)
                db.executemany(
                    "INSERT INTO section(rowid, title, body) VALUES (?, ?, ?)",
                    [(n, s.title, s.text) for n, s in enumerate(self._sections)],
                )
                db.commit()
                self._db = db
            return self._db

    def sections(self) -> list[Section]:
        self._connection()
        return list(self._sections)

    def search(self, query: str, limit: int = 5) -> list[Hit]:
        words = [w for w in _WORD.findall(query.lower()) if w not in _STOP and len(w) > 1]
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in dict.fromkeys(words))
        db = self._connection()
        with self._lock:
            rows = db.execute(
                "SELECT rowid, bm25(section, 10.0, 1.0), snippet(section, 1, '', '', ' … ', 48) FROM section "
                "WHERE section MATCH ? ORDER BY bm25(section, 10.0, 1.0) LIMIT ?",
                (match, limit),
            ).fetchall()
        return [Hit(self._sections[int(rowid)], float(score), str(snip)) for rowid, score, snip in rows]


_INDEX = DocsIndex()


def search(query: str, limit: int = 5) -> list[Hit]:
    return _INDEX.search(query, limit)


def link(section: Section) -> str:
    """The section's address in the published docs (``DOCS_URL``, else the app's own ``/help``)."""
    return f"{docs_base()}/{section.path()}"


def docs_base() -> str:
    """Where the docs site is opened: ``DOCS_URL`` when set, else PUBLIC_URL + ``/help`` (app/api/docs_site.py)."""
    settings = get_settings()
    return (settings.docs_url or settings.public_url.rstrip("/") + routes.HELP).rstrip("/")


def page_link(page: str, anchor: str = "") -> str:
    """A docs page's address (``guide/install.md`` → ``DOCS_URL/guide/install/``), for tools that point to one."""
    return link(Section(page, "", "", anchor, ""))
