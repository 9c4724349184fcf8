"""The overview's KPI cards before Reflex connects (docs/performance.md, "The dashboard's first paint").

Reflex's figures reach the page only after its scripts have loaded and mounted, its websocket has opened, the
connect's hydration has been answered and ``load_home`` has run: 0.6 s and more from navigation. The figures
themselves take ~10 ms. So the document's head carries a small inline script (``early_request``, allowed by the
pages' CSP through its hash like the build's other inline scripts) that asks ``GET /api/internal/overview-kpis``
for them at navigation, with the session token the browser keeps in local storage; ``early_kpis`` gives React its
answer (``assets/early_figures.js``) as soon as the page mounts, and the overview draws them with the same card
components as the state's figures, which replace them when they arrive. A bad or expired token gets a 401 and the
page takes the normal path."""

from __future__ import annotations

import json

import reflex as rx
from reflex.vars.base import Var, VarData

from app import routes
from app.presenters.metrics import KpiItem
from app.settings import get_settings
from app.state.base import SESSION_STORAGE_NAME, AppState

MODULE = "$/public/early_figures.js"  # assets/early_figures.js

_REQUEST = """(() => {
  try {
    const key = %(key)s, token = window.localStorage.getItem(key);
    if (!token || window.location.pathname !== %(path)s) return;
    const search = window.location.search;
    const answer = fetch(%(url)s + search, {
      headers: { Authorization: "Bearer " + token }, credentials: "omit", cache: "no-store",
    }).then((response) => (response.ok ? response.json() : null)).catch(() => null);
    window.__paidsignalEarly = { key, token, path: window.location.pathname, search, answer };
  } catch (error) {}
})();"""


def _js(value: str) -> str:
    """A JavaScript string literal that cannot end the script element it is in."""
    return json.dumps(value).replace("<", "\\u003c")


def early_request() -> rx.Component:
    """The head's inline script: on ``/``, with a session token, ask for the KPI cards at once."""
    url = get_settings().public_url.rstrip("/") + routes.API_OVERVIEW_KPIS
    script = _REQUEST % {"key": _js(SESSION_STORAGE_NAME), "path": _js(routes.HOME), "url": _js(url)}
    # As raw HTML: React would escape the text of a child (``&&``, ``<``) in the prerendered page.
    return rx.el.script(custom_attrs={"dangerouslySetInnerHTML": {"__html": script}})


# The early answer, read in the component that renders it: ``{account, kpis}`` (kpis empty until it has come, and for
# another document, session or range).
_hook = VarData(imports={MODULE: ["useEarlyFigures"]}, hooks={"const early_figures = useEarlyFigures();": None})
early_kpis = Var(_js_expr="early_figures.kpis", _var_data=_hook).to(list[KpiItem])
early_account = Var(_js_expr="early_figures.account", _var_data=_hook).to(str)


def early_shown(loaded: Var[bool]) -> Var[bool]:
    """Whether to show the early cards: until the state's figures are ``loaded``, when there are some, and for the
    account the session shows (unknown until the session's delta; after an account switch the state's figures are
    read again and these are not shown)."""
    same_account = (AppState.account_id == "") | (AppState.account_id == early_account)
    return ~loaded & (early_kpis.length() > 0) & same_account
