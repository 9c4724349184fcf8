"""The pixels page: the account's conversion destinations; create, edit, enable, send a test event, delete.

Secrets go from the submitted form straight to the service: they are never kept in any state var, the forms are
reset on submit, and only the service's hint (••••abcd) comes back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict

import reflex as rx
from sqlmodel import Session

from app.models import Provider
from app.services import conversion_sender
from app.services import pixels as pixel_service
from app.services.errors import ServiceError
from app.services.pixels import PIXEL_EVENTS as PIXEL_EVENTS
from app.services.pixels import provider_fields as provider_fields  # the page lays out each provider's form
from app.state.base import AppState
from app.state.format import format_time
from app.state.toasts import toast

PROVIDERS = [p.value for p in Provider]
PROVIDER_LABELS = {
    Provider.META.value: "Meta (Conversions API)",
    Provider.GA4.value: "Google Analytics 4 (Measurement Protocol)",
    Provider.GOOGLE_ADS.value: "Google Ads (Data Manager)",
    Provider.WEBHOOK.value: "Webhook (signed)",
}
# How each event reads next to its checkbox.
EVENT_LABELS = {
    "purchase": "purchase",
    "renewal": "renewal (subscription renewals)",
    "lead": "lead",
    "begin_checkout": "begin_checkout",
}
# Form field names: "<form prefix><kind>_<name>", e.g. new_setting_pixel_id, edit_secret_access_token.
NEW, EDIT = "new_", "edit_"


class PixelItem(TypedDict):
    public_id: str
    provider: str
    provider_label: str
    name: str
    settings: str
    credentials_hint: str
    events: list[str]
    enabled: bool
    is_default: bool
    test_mode: bool
    created_at: str


class SubmittedPixel(TypedDict):
    name: str
    settings: dict[str, str]
    credentials: dict[str, str]
    events: list[str]
    is_default: bool
    test_mode: bool


def read_form(form: dict[str, Any], provider: str, prefix: str) -> SubmittedPixel:
    """The pixel fields of a submitted form (checkboxes are present only when ticked).

    Raises ValidationFailed for an unknown provider (the handlers show its message). Anything but a dict (only a crafted
    event sends one) reads as an empty form, which the service then refuses with its own message.
    """
    fields = pixel_service.provider_fields(provider)
    if not isinstance(form, dict):
        form = {}
    return SubmittedPixel(
        name=str(form.get(f"{prefix}name", "")),
        settings={f.name: str(form.get(f"{prefix}setting_{f.name}", "")) for f in fields if not f.secret},
        credentials={f.name: str(form.get(f"{prefix}secret_{f.name}", "")) for f in fields if f.secret},
        events=[e for e in PIXEL_EVENTS if form.get(f"{prefix}event_{e}")],
        is_default=bool(form.get(f"{prefix}is_default")),
        test_mode=bool(form.get(f"{prefix}test_mode")),
    )


def _defaults(submitted: SubmittedPixel) -> dict[str, str]:
    """What a form shows again after a refused submit: everything but the secrets."""
    return {"name": submitted["name"], **submitted["settings"]}


class PixelsState(AppState):
    pixels: list[PixelItem] = []
    loaded: bool = False

    # The create form. Its inputs are uncontrolled; after a submit the form is reset and remounted (``new_key``)
    # with ``new_defaults``: empty after a success, the submitted non-secret values after a refusal.
    new_provider: str = Provider.META.value
    new_defaults: dict[str, str] = {}
    new_events: list[str] = ["purchase"]
    new_is_default: bool = False
    new_test_mode: bool = False
    new_key: int = 0
    error: str = ""

    # The edit dialog, the same way.
    editing_id: str = ""
    edit_provider: str = ""
    edit_credentials_hint: str = ""
    edit_defaults: dict[str, str] = {}
    edit_events: list[str] = []
    edit_is_default: bool = False
    edit_test_mode: bool = False
    edit_key: int = 0
    edit_error: str = ""

    # The last "Send test event" answer (the provider's), shown under its pixel; and the one being sent.
    checked_id: str = ""
    check_ok: bool = False
    check_message: str = ""
    testing_id: str = ""

    @rx.var
    def editing(self) -> bool:
        return self.editing_id != ""

    def _list(self) -> list[pixel_service.PixelRow]:
        result, _error = self._run(lambda s: pixel_service.list_pixels(session=s, account_id=self._actor(s).account_id))
        return result or []

    def _refresh(self) -> None:
        self.loaded = True
        self.pixels = [
            PixelItem(
                public_id=p.public_id,
                provider=p.provider,
                provider_label=PROVIDER_LABELS.get(p.provider, p.provider),
                name=p.name,
                settings=", ".join(f"{k}: {v}" for k, v in p.settings.items()) or "—",
                credentials_hint=p.credentials_hint,
                events=p.events,
                enabled=p.enabled,
                is_default=p.is_default,
                test_mode=p.test_mode,
                created_at=format_time(p.created_at, self.account_timezone),
            )
            for p in self._list()
        ]

    @rx.event
    def load_pixels(self) -> None:
        self.error = self.edit_error = self.editing_id = self.checked_id = self.testing_id = ""
        self._refresh()

    # create

    @rx.event
    def set_new_provider(self, provider: str) -> None:
        self.new_provider = provider

    @rx.event
    def create_pixel(self, form: dict[str, Any]) -> Any:
        self.error = ""
        self.new_key += 1
        try:
            submitted = read_form(form, self.new_provider, NEW)
        except ServiceError as refused:  # an unknown provider (only a crafted event sends one)
            self.error = refused.message
            return toast.error(self.error)
        created, error = self._run(
            lambda s: pixel_service.create_pixel(
                session=s, actor=self._actor(s), provider=self.new_provider, **submitted
            )
        )
        if error or created is None:
            self.error = error or "The pixel could not be created."
            self.new_defaults = _defaults(submitted)
            self.new_events, self.new_is_default = submitted["events"], submitted["is_default"]
            self.new_test_mode = submitted["test_mode"]
            return toast.error(self.error)
        self.new_defaults, self.new_events, self.new_is_default = {}, ["purchase"], False
        self.new_test_mode = False
        self._refresh()
        return toast.success(f"Pixel {created.name} created. Attach it to campaigns, or make it the default.")

    # edit

    @rx.event
    def start_edit(self, pixel_public_id: str) -> Any:
        pixel = next((p for p in self._list() if p.public_id == pixel_public_id), None)
        if pixel is None:
            self._refresh()
            return toast.error("Pixel not found: it may have been deleted.")
        self.editing_id, self.edit_provider = pixel.public_id, pixel.provider
        self.edit_credentials_hint = pixel.credentials_hint
        self.edit_defaults = {"name": pixel.name, **pixel.settings}
        self.edit_events, self.edit_is_default = list(pixel.events), pixel.is_default
        self.edit_test_mode = pixel.test_mode
        self.edit_error = ""
        self.edit_key += 1
        return None

    @rx.event
    def set_edit_open(self, is_open: bool) -> None:
        if not is_open:
            self.editing_id = self.edit_error = ""

    @rx.event
    def save_edit(self, form: dict[str, Any]) -> Any:
        """Save the edit dialog; empty secret fields keep the stored credentials."""
        self.edit_error = ""
        self.edit_key += 1
        try:
            submitted = read_form(form, self.edit_provider, EDIT)
        except ServiceError as refused:  # no edit in progress (only a crafted event gets here)
            self.edit_error = refused.message
            return toast.error(self.edit_error)
        public_id = self.editing_id
        updated, error = self._run(
            lambda s: pixel_service.update_pixel(
                session=s, actor=self._actor(s), pixel_public_id=public_id, **submitted
            )
        )
        if error or updated is None:
            self.edit_error = error or "The pixel could not be saved."
            self.edit_defaults = _defaults(submitted)
            self.edit_events, self.edit_is_default = submitted["events"], submitted["is_default"]
            self.edit_test_mode = submitted["test_mode"]
            return toast.error(self.edit_error)
        self.editing_id = ""
        self._refresh()
        return toast.success(f"Pixel {updated.name} saved.")

    # row actions

    def _update(self, session: Session, pixel_public_id: str, **changes: Any) -> pixel_service.PixelRow:
        return pixel_service.update_pixel(
            session=session, actor=self._actor(session), pixel_public_id=pixel_public_id, **changes
        )

    @rx.event
    def set_enabled(self, pixel_public_id: str, enabled: bool) -> Any:
        updated, error = self._run(lambda s: self._update(s, pixel_public_id, enabled=enabled))
        self._refresh()
        if error or updated is None:
            return toast.error(error or "The pixel could not be changed.")
        return toast.success(f"{updated.name} {'enabled' if updated.enabled else 'disabled: it receives nothing'}.")

    @rx.event
    def delete_pixel(self, pixel_public_id: str) -> Any:
        _, error = self._run(
            lambda s: pixel_service.delete_pixel(session=s, actor=self._actor(s), pixel_public_id=pixel_public_id)
        )
        self._refresh()
        return toast.error(error) if error else toast.success("Pixel deleted; campaigns no longer send to it.")

    @rx.event
    def send_test_event(self, pixel_public_id: str) -> Iterator[Any]:
        """Send a sample purchase to the provider's test/validation endpoint; show what the provider answered."""
        if self.testing_id:
            return
        self.testing_id = pixel_public_id
        yield
        try:
            result, error = self._run(
                lambda s: conversion_sender.send_test(session=s, actor=self._actor(s), pixel_public_id=pixel_public_id)
            )
        finally:
            self.testing_id = ""
        if error or result is None:
            yield toast.error(error or "The test event could not be sent.")
            return
        self.checked_id, self.check_ok, self.check_message = pixel_public_id, result.ok, result.message
        yield toast.success(result.message) if result.ok else toast.error(result.message)
