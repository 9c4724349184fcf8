"""Reflex page functions, one module per page, layout only. Importing this package registers them."""

from app.pages import auth, home, install, keys, team

__all__ = ["auth", "home", "install", "keys", "team"]
