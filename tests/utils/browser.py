"""What the browser tests share besides their fixtures (tests/e2e/conftest.py): the system Chromium and its flags,
where screenshots of failures go, the settings that point the assistant at the local model server, and a shop's page
with the pixel installed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.utils.llm_server import LlmServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(tempfile.gettempdir()) / "paidsignal-e2e"


def require_chromium() -> None:
    """Fail (not skip) without the system Chromium: a browser test that cannot run must say so."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: these tests need Debian's chromium (`make test` installs it; by hand: "
            "apt-get install chromium). Playwright's own browser download does not work offline."
        )


def llm_env(llm: LlmServer) -> dict[str, str]:
    """The settings that make the local model server the assistant's provider (litellm ``openai/<name>``)."""
    # Any key: the OpenAI client refuses to start without one, the local server ignores it.
    return {"LLM_MODEL": llm.model, "LLM_API_BASE": llm.url, "LLM_API_KEY": "sk-local-e2e"}


SHOP_PAGE = """<!doctype html><html><head><title>Shop</title>
<script>window.paidsignal=window.paidsignal||function(){(paidsignal.q=paidsignal.q||[]).push(arguments)};</script>
<script async src="{base}/pixel.js" data-key="{key}"></script></head>
<body>{body}</body></html>"""


def shop_page(base: str, key: str, body: str = "<h1>Spring sale</h1>") -> bytes:
    """A shop's page embedding the pixel from ``base`` with the publishable ``key`` (the install snippet)."""
    return SHOP_PAGE.replace("{base}", base).replace("{key}", key).replace("{body}", body).encode()
