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


# The input that shows the plaintext of a key just created, the one time it is shown. The value lives only in the
# page: the server sends it once, as an event that sets the input (rx.set_value), and keeps no copy. A state var would
# stay in the state store and be sent again with the whole state whenever the tab hydrates (a reload, a reconnect).
CREATED_KEY_INPUT = "created-key"
# How the page tells a new secret key from a publishable one.
SECRET_PREFIX = key_service.SECRET_PREFIX


class KeysState(AppState):
    keys: list[KeyItem] = []
    new_kind: str = "publishable"
    error: str = ""
    loaded: bool = False
    # The kind of the key just created while its callout is open ("" when closed); never the key itself.
    created_kind: str = ""

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
        self.created_kind = ""  # a reload has no key to show: it was sent once, to the page that asked for it
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
        self.created_kind = created.row.kind
        self._refresh()
        # The plaintext goes to the page once, as an event that writes it into the callout's input (Reflex applies
        # _set_value itself, no eval() that the Content-Security-Policy would refuse); it never enters the state.
        return [
            rx.set_value(CREATED_KEY_INPUT, created.plaintext),
            toast.success(f"{created.row.kind.capitalize()} key created."),
        ]

    @rx.event
    def dismiss_created(self) -> Any:
        """The "Done" button, and leaving the page: the callout closes and its input is emptied."""
        self.created_kind = ""
        return rx.set_value(CREATED_KEY_INPUT, "")

    @rx.event
    def revoke_key(self, key_public_id: str) -> Any:
        _, error = self._run(
            lambda s: key_service.revoke_key(session=s, actor=self._actor(s), key_public_id=key_public_id)
        )
        if error:
            return toast.error(error)
        self._refresh()
        return toast.success("Key revoked. Requests using it are now refused.")
