"""The assistant's support tools: ``search_docs`` (the product's docs, for "how do I…?") and, over the account's
setup, the tools that answer "why isn't it working?". They read; none writes, and none returns a secret."""

from __future__ import annotations

from sqlmodel import Session

from app.services import docs_search
from app.services.assistant_tools.results import ToolResult
from app.services.assistant_tools.schemas import SearchDocsArguments
from app.services.permissions import Actor

# A section's text sent to the model at most (the link leads to the rest).
SECTION_CHARS = 1500


def search_docs_result(session: Session, actor: Actor, a: SearchDocsArguments) -> ToolResult:
    hits = docs_search.search(a.query, a.limit)
    return {
        "query": {"search": a.query, "limit": a.limit, "ranking": "BM25 over the docs' sections (SQLite FTS5)"},
        "found": bool(hits),
        "sections": [
            {
                "title": hit.section.title,
                "link": docs_search.link(hit.section),
                "text": hit.section.text[:SECTION_CHARS] + ("…" if len(hit.section.text) > SECTION_CHARS else ""),
            }
            for hit in hits
        ],
        **(
            {}
            if hits
            else {"note": "No section of the docs matches: say the docs do not cover this, do not make it up."}
        ),
    }
