"""The install page: the snippet with the account's publishable key."""

from __future__ import annotations

import reflex as rx

from app.services import install as install_service
from app.state.base import AppState


class InstallState(AppState):
    snippet: str = ""
    has_key: bool = False

    @rx.event
    def load_install(self) -> None:
        key, _error = self._run(
            lambda s: install_service.first_publishable_key(session=s, account_id=self._actor(s).account_id)
        )
        self.has_key = bool(key)
        self.snippet = install_service.install_snippet(publishable_key=key)
