"""The overview's first paint in a real browser on the production build: the KPI figures come in one delta with
everything else ``/`` reads, plotly's chunk is fetched only where a chart is drawn and only once the figures show,
and the built files come compressed with long cache lifetimes (docs/performance.md, "The dashboard's first paint")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Response, WebSocket, expect

from tests.e2e.helpers import log_in, url_is
from tests.e2e.test_dashboard_flow import PASSWORD, _seed
from tests.utils.server import Server

pytestmark = pytest.mark.e2e

# Marks, in the page's own clock, when the first KPI figure is in the document (before the page's scripts run).
FIGURE_PROBE = """
(() => {
  const observer = new MutationObserver(() => {
    const figure = document.querySelector("#kpis .kpi-value");
    if (figure && figure.textContent.trim()) { window.__figure_at = performance.now(); observer.disconnect(); }
  });
  observer.observe(document, { childList: true, subtree: true, characterData: true });
})();
"""
PLOTLY_REQUESTS = "() => performance.getEntriesByType('resource').filter((e) => /plotly/.test(e.name))"


def _deltas(frames: list[str]) -> list[dict[str, dict[str, Any]]]:
    """The state deltas among Reflex's socket.io frames (``42/_event,["event",{"delta": …}]``)."""
    found = []
    for frame in frames:
        if frame.startswith("42/_event,"):
            name, body = json.loads(frame.removeprefix("42/_event,"))
            if name == "event" and "delta" in body:
                found.append(body["delta"])
    return found


def _var(delta: dict[str, dict[str, Any]], name: str) -> Any:
    """A var of any state in the delta (None when it has none of that name)."""
    return next((changes[f"{name}_rx_state_"] for changes in delta.values() if f"{name}_rx_state_" in changes), None)


def test_the_figures_come_in_one_delta_then_plotly(
    server: Server, browser: Browser, page: Page, _stripe_recorder: Any
) -> None:
    email, _campaign = _seed(server, _stripe_recorder)
    base = server.url
    frames: list[str] = []

    def record(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", record)
    log_in(page, base, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))
    expect(page.locator("#metric-orders .kpi-value")).to_have_text("1")

    expect(page.locator("#kpi-events")).to_have_text("3")

    # `/` has one on_load event, in three deltas: the session's context (the browser draws the page's frame while
    # the figures are read), the figures with the range picker but without the charts' figures (sent once the
    # charts mount) or other pages' charts, then today's live list. No delta before the figures put up the skeleton
    # ("loading") for the cold page.
    deltas = _deltas(frames)
    first = next(n for n, delta in enumerate(deltas) if _var(delta, "kpis"))
    figures = deltas[first]
    signed_in = next(n for n, delta in enumerate(deltas) if _var(delta, "is_authenticated") is True)
    assert signed_in < first and _var(deltas[signed_in], "account_name")
    assert str(_var(figures, "period_label")).endswith("(28 days)")
    assert [_var(figures, name) for name in ("revenue_chart", "orders_chart", "cohort_chart")] == [None] * 3
    today = next(delta for delta in deltas[first:] if _var(delta, "events_today") is not None)
    assert _var(today, "events_today") == 3 and len(_var(today, "recent")) == 3
    assert all(_var(delta, "loading") is not True for delta in deltas[:first])

    # A cold load of `/` (a new browser context, signed in): plotly's chunk is fetched once the figures are in the
    # page, not with them.
    cold = browser.new_context(storage_state=page.context.storage_state(), timezone_id="Europe/Berlin")
    try:
        cold.add_init_script(FIGURE_PROBE)
        overview = cold.new_page()
        overview.goto(f"{base}/")
        expect(overview.locator("#chart-revenue .js-plotly-plot")).to_be_visible(timeout=15_000)
        figure_at = overview.evaluate("() => window.__figure_at")
        [plotly] = overview.evaluate(PLOTLY_REQUESTS)
        assert figure_at is not None and plotly["startTime"] > figure_at

        # A page without a chart never fetches it.
        orders = cold.new_page()
        orders.goto(f"{base}/orders")
        expect(orders.locator("#orders-table")).to_be_visible(timeout=15_000)
        assert orders.evaluate(PLOTLY_REQUESTS) == []
    finally:
        cold.close()


def test_built_files_come_compressed_and_cached(server: Server, page: Page) -> None:
    answers: list[Response] = []
    page.on("response", lambda answer: answers.append(answer))
    page.goto(f"{server.url}/login")
    expect(page.locator("#login-submit")).to_be_visible()
    scripts = [a for a in answers if "/assets/" in a.url and a.url.endswith((".js", ".css"))]
    assert scripts
    for answer in scripts:
        headers = answer.all_headers()
        assert headers["cache-control"] == "public, max-age=31536000, immutable", answer.url
        # Chromium offers brotli in secure contexts (https, and localhost as here), gzip elsewhere.
        assert headers.get("content-encoding") == "br", answer.url
    [html] = [a for a in answers if a.url.rstrip("/").endswith("/login") and a.status == 200]
    assert html.all_headers()["content-type"].startswith("text/html")
    assert html.all_headers()["cache-control"] == "no-cache"


# The KPI cards the first time one shows a figure: each card's id and text, and whether they were the early cards
# (fetched by the page's first script, before Reflex connects) or the state's.
FIRST_CARDS_PROBE = """
(() => {
  const seen = (window.__seen = { skeleton: false, gone: false });
  const observer = new MutationObserver(() => {
    if (document.querySelector("#dashboard-loading")) seen.skeleton = true;
    const figure = document.querySelector("#kpis .kpi-value");
    const shown = !!figure && !!figure.textContent.trim();
    if (window.__first_cards && !shown) seen.gone = true;  // the cards went away (a flicker) after they showed
    if (!shown || window.__first_cards) return;
    window.__first_cards = {
      early: !!document.querySelector("#early-figures #kpis"),
      cards: [...document.querySelectorAll("#kpis .kpi-card")].map((card) => [card.id, card.textContent]),
    };
  });
  observer.observe(document, { childList: true, subtree: true, characterData: true });
})();
"""
CARDS = "() => [...document.querySelectorAll('#kpis .kpi-card')].map((card) => [card.id, card.textContent])"


def test_the_early_cards_are_the_states_figures(
    server: Server, browser: Browser, page: Page, _stripe_recorder: Any
) -> None:
    """A cold load of `/` draws the KPI cards from the page's first request, before Reflex's state has any: the same
    cards, figure for figure, as the state's figures that replace them. A token the server does not know gets no
    early cards: the page takes its normal path (to the login page)."""
    email, _campaign = _seed(server, _stripe_recorder)
    base = server.url
    log_in(page, base, email=email, password=PASSWORD)
    expect(page.locator("#metric-orders .kpi-value")).to_have_text("1")
    signed_in = page.context.storage_state()

    cold = browser.new_context(storage_state=signed_in, timezone_id="Europe/Berlin")
    try:
        cold.add_init_script(FIRST_CARDS_PROBE)
        overview = cold.new_page()
        asked: list[int] = []
        overview.on("response", lambda r: asked.append(r.status) if "/api/internal/overview-kpis" in r.url else None)
        overview.goto(f"{base}/")
        # The state's figures are in once the charts' row has mounted (it mounts with them, not with early cards).
        expect(overview.locator("#chart-revenue .js-plotly-plot")).to_be_visible(timeout=15_000)
        expect(overview.locator("#early-figures")).to_have_count(0)
        first = overview.evaluate("() => window.__first_cards")
        assert asked == [200]
        assert first["early"] is True, first
        assert first["cards"] == overview.evaluate(CARDS)
        # From the early cards to the state's: no skeleton in between, and never a moment without cards.
        assert overview.evaluate("() => window.__seen") == {"skeleton": False, "gone": False}
        assert dict(first["cards"])["metric-orders"].startswith("Orders1")
    finally:
        cold.close()

    stale = browser.new_context(timezone_id="Europe/Berlin")
    try:
        stale.add_init_script("window.localStorage.setItem('paidsignal_session', 'not-a-session-token')")
        visitor = stale.new_page()
        refused: list[int] = []
        visitor.on("response", lambda r: refused.append(r.status) if "/api/internal/overview-kpis" in r.url else None)
        visitor.goto(f"{base}/")
        expect(visitor).to_have_url(url_is(base, "/login"))
        assert refused == [401]
        assert visitor.locator("#kpis").count() == 0
    finally:
        stale.close()
