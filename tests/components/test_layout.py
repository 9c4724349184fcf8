"""The page decorators (app/components/layout.py)."""

from __future__ import annotations

import app.app  # noqa: F401  (registers every page, as the running app does)
from app.components.layout import registered_pages


def test_each_page_belongs_to_the_module_of_its_content() -> None:
    # Reflex writes a page's memoized components into one file per Python module of the page function: pages
    # registered under the decorators' module would make every route load every page's components.
    modules = {page.__module__ for page, _ in registered_pages()}
    assert "app.components.layout" not in modules
    routes = {options["route"]: page for page, options in registered_pages()}
    assert routes["/"].__module__ == "app.pages.home" and routes["/login"].__module__ != "app.pages.home"
