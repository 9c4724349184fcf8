"""The API keys page: list, create (secret shown once), revoke."""

from __future__ import annotations

from typing import Any, TypedDict

import reflex as rx
from reflex.experimental.client_state import ClientStateVar

from app.services import keys as key_service
from app.state.base import AppState
from app.state.format import format_time


class KeyItem(TypedDict):
    public_id: str
    kind: str
    label: str
    display: str
    origins: str
    created_at: str
    last_used_at: str


# The plaintext of the key just created, for the one time it is shown. It lives only in the page (React state): the
# server sends it once, as the event that puts it there, and keeps no copy. A state var would stay in the state and be
# sent again with the whole state whenever the tab hydrates (a reload, a reconnect), and be written to the state
# store. The page clears it on "Done" and when it is left; a reload drops it with the rest of the page.
CREATED_KEY = ClientStateVar.create("created_key", default="")
# How the page tells a new secret key from a publishable one.
SECRET_PREFIX = key_service.SECRET_PREFIX


class KeysState(AppState):
    keys: list[KeyItem] = []
    new_kind: str = "publishable"
    error: str = ""
    loaded: bool = False

    def _refresh(self) -> None:
        result, error = self._run(lambda s: key_service.list_keys(session=s, account_id=self._actor(s).account_id))
        self.loaded = True
        if error or result is None:
            self.keys = []
            return
        self.keys = [
            KeyItem(
                public_id=k.public_id,
                kind=k.kind,
                label=k.label or "—",
                display=k.display,
                origins=", ".join(k.allowed_origins) or "—",
                created_at=format_time(k.created_at, self.account_timezone),
                last_used_at=format_time(k.last_used_at, self.account_timezone) if k.last_used_at else "never",
            )
            for k in result
        ]

    @rx.event
    def load_keys(self) -> None:
        self.error = ""
        self._refresh()

    @rx.event
    def set_new_kind(self, kind: str) -> None:
        self.new_kind = kind

    @rx.event
    def create_key(self, form: dict[str, Any]) -> Any:
        self.error = ""
        origins = str(form.get("origins", "")).replace(",", "\n").splitlines()
        created, error = self._run(
            lambda s: key_service.create_key(
                session=s,
                actor=self._actor(s),
                kind=self.new_kind,
                label=str(form.get("label", "")),
                origins=origins if self.new_kind == "publishable" else [],
            )
        )
        if error or created is None:
            self.error = error or "The key could not be created."
            return rx.toast.error(self.error)
        self._refresh()
        return [CREATED_KEY.push(created.plaintext), rx.toast.success(f"{created.row.kind.capitalize()} key created.")]

    @rx.event
    def revoke_key(self, key_public_id: str) -> Any:
        _, error = self._run(
            lambda s: key_service.revoke_key(session=s, actor=self._actor(s), key_public_id=key_public_id)
        )
        if error:
            return rx.toast.error(error)
        self._refresh()
        return rx.toast.success("Key revoked. Requests using it are now refused.")
