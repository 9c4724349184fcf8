"""The API keys page: list, create (secret shown once), revoke."""

from __future__ import annotations

from typing import Any, TypedDict

import reflex as rx

from app.services import keys as key_service
from app.state.base import AppState
from app.state.format import format_time
from app.state.toasts import toast


class KeyItem(TypedDict):
    public_id: str
    kind: str
    label: str
    display: str
    origins: str
    created_at: str
    last_used_at: str


class KeysState(AppState):
    keys: list[KeyItem] = []
    new_kind: str = "publishable"
    # The plaintext of the key just created, for the one time it is shown. A public var (it is sent to the browser,
    # which is the point), acceptable because it is the signed-in user's own new secret, shown once to the user who
    # created it: the server stores only its hash and never loads it again. It is cleared when the page loads, when
    # the user leaves the page and on "Done" (dismiss_created).
    created_key: str = ""
    created_kind: str = ""
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
        self.created_key = self.created_kind = self.error = ""
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
            return toast.error(self.error)
        self.created_key, self.created_kind = created.plaintext, created.row.kind
        self._refresh()
        return toast.success(f"{created.row.kind.capitalize()} key created.")

    @rx.event
    def dismiss_created(self) -> None:
        """The "Done" button, and on_unmount of the page: the new key is not kept for when the user comes back."""
        self.created_key = self.created_kind = ""

    @rx.event
    def revoke_key(self, key_public_id: str) -> Any:
        _, error = self._run(
            lambda s: key_service.revoke_key(session=s, actor=self._actor(s), key_public_id=key_public_id)
        )
        if error:
            return toast.error(error)
        self._refresh()
        return toast.success("Key revoked. Requests using it are now refused.")
