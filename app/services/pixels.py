"""Pixels: where conversions are sent (Meta CAPI, GA4 MP, Google Ads via Data Manager, a signed webhook).

Secrets are encrypted at rest (Fernet, key derived from SECRET_KEY) and never returned in full: lists show a hint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.db import execute
from app.integrations import address_guard
from app.models import CampaignPixel, Pixel
from app.models import Provider as Provider
from app.models.base import new_public_id, table_of
from app.services.campaigns import get_campaign
from app.services.crypto import decrypt_secret, encrypt_secret
from app.services.errors import NotFound, ValidationFailed
from app.services.permissions import Actor, Permission, require
from app.settings import get_settings

# "renewal": also send each subscription renewal as a purchase (off by default: many shops optimise on first sales).
PIXEL_EVENTS = ("purchase", "renewal", "lead", "begin_checkout")

# Per provider: setting name -> (required, pattern, what it looks like); and the secret fields.
_SETTINGS: dict[Provider, dict[str, tuple[bool, str, str]]] = {
    Provider.META: {
        "pixel_id": (True, r"^\d{5,20}$", "digits, e.g. 123456789012345"),
        "test_event_code": (False, r"^TEST[A-Za-z0-9]{1,20}$", "TEST followed by letters/digits, e.g. TEST12345"),
    },
    Provider.GA4: {"measurement_id": (True, r"^G-[A-Z0-9]{4,16}$", "G- followed by letters/digits, e.g. G-ABC123XYZ")},
    Provider.GOOGLE_ADS: {
        "operating_account_id": (True, r"^\d{3}-?\d{3}-?\d{4}$", "a Google Ads customer id, e.g. 123-456-7890"),
        "conversion_action_id": (True, r"^\d{1,20}$", "digits"),
        "login_account_id": (False, r"^\d{3}-?\d{3}-?\d{4}$", "a manager account id, e.g. 123-456-7890"),
    },
    Provider.WEBHOOK: {"url": (True, r"^https?://", "an http(s) URL")},
}
_SECRETS: dict[Provider, tuple[str, ...]] = {
    Provider.META: ("access_token",),
    Provider.GA4: ("api_secret",),
    Provider.GOOGLE_ADS: ("oauth_client_id", "oauth_client_secret", "refresh_token"),
    Provider.WEBHOOK: ("signing_secret",),
}


@dataclass(frozen=True)
class ProviderField:
    """One input of a provider's form: a setting (shown again) or a secret (never shown again)."""

    name: str
    required: bool
    hint: str
    secret: bool


def provider_fields(provider: str) -> list[ProviderField]:
    """The settings, then the secrets, a provider's pixel needs: for building its form."""
    kind = _provider(provider)
    settings = [ProviderField(n, required, hint, False) for n, (required, _, hint) in _SETTINGS[kind].items()]
    secrets = [ProviderField(n, True, "at least 8 characters", True) for n in _SECRETS[kind]]
    return settings + secrets


@dataclass(frozen=True)
class PixelRow:
    public_id: str
    provider: str
    name: str
    settings: dict[str, str]
    credentials_hint: str
    events: list[str]
    enabled: bool
    is_default: bool
    created_at: datetime
    test_mode: bool = False


@dataclass(frozen=True)
class TestResult:
    ok: bool
    message: str


def _provider(value: str) -> Provider:
    try:
        return Provider(value)
    except ValueError as error:
        raise ValidationFailed(
            f"provider must be one of {', '.join(p.value for p in Provider)}.", field="provider"
        ) from error


def _clean_settings(provider: Provider, settings: dict[str, Any]) -> dict[str, str]:
    spec = _SETTINGS[provider]
    unknown = set(settings) - set(spec)
    if unknown:
        raise ValidationFailed(
            f"Unknown setting(s) for {provider.value}: {', '.join(sorted(unknown))}.",
            field=f"settings.{sorted(unknown)[0]}",
        )
    clean: dict[str, str] = {}
    for name, (required, pattern, looks_like) in spec.items():
        value = str(settings.get(name) or "").strip()
        if not value:
            if required:
                raise ValidationFailed(
                    f"{name} is required for {provider.value}: {looks_like}.", field=f"settings.{name}"
                )
            continue
        if not re.match(pattern, value):
            raise ValidationFailed(
                f"{name} {value!r} does not look right: expected {looks_like}.", field=f"settings.{name}"
            )
        clean[name] = value
    if provider is Provider.WEBHOOK:
        _check_webhook_url(clean["url"])
    return clean


def _check_webhook_url(url: str) -> None:
    """The host must be on the public internet (resolved and checked the way the sender checks it again each time),
    unless OUTBOUND_ALLOWED_HOSTS lists it; https, except for allow-listed hosts outside production."""
    if not urlsplit(url).hostname:
        raise ValidationFailed(
            "The webhook URL needs a host, e.g. https://hooks.example.com/paidsignal.", field="settings.url"
        )
    try:
        destination = address_guard.check_url(url)
    except address_guard.Blocked as blocked:
        raise ValidationFailed(
            f"{blocked} Give the URL of your receiver on the internet, e.g. https://hooks.example.com/paidsignal.",
            field="settings.url",
        ) from blocked
    if urlsplit(url).scheme != "https" and (get_settings().is_production or not destination.allow_listed):
        raise ValidationFailed(
            "Webhook URLs must use https (http only for hosts in OUTBOUND_ALLOWED_HOSTS, outside production).",
            field="settings.url",
        )


def _clean_secrets(provider: Provider, credentials: dict[str, Any], *, required: bool) -> dict[str, str] | None:
    names = _SECRETS[provider]
    unknown = set(credentials) - set(names)
    if unknown:
        raise ValidationFailed(
            f"Unknown credential(s) for {provider.value}: {', '.join(sorted(unknown))}.",
            field=f"credentials.{sorted(unknown)[0]}",
        )
    values = {n: str(credentials.get(n) or "").strip() for n in names}
    if not any(values.values()) and not required:
        return None  # keep the stored ones
    for name, value in values.items():
        if len(value) < 8:
            raise ValidationFailed(
                f"{name} is required for {provider.value} (at least 8 characters).", field=f"credentials.{name}"
            )
    return values


def _events(events: list[str] | None) -> list[str]:
    if events is not None and not events:
        raise ValidationFailed("Choose at least one event for this pixel (purchase is the usual one).", field="events")
    chosen = list(dict.fromkeys(events or ["purchase"]))
    bad = [e for e in chosen if e not in PIXEL_EVENTS]
    if bad or not chosen:
        raise ValidationFailed(f"events must be some of {', '.join(PIXEL_EVENTS)}.", field="events")
    return chosen


def _check_test_mode(pixel: Pixel) -> None:
    if pixel.test_mode and pixel.provider == Provider.META.value and not pixel.settings.get("test_event_code"):
        raise ValidationFailed(
            "Meta's test mode needs the test event code from Events Manager → Test events (e.g. TEST12345).",
            field="settings.test_event_code",
        )


def _hint(secrets: dict[str, str]) -> str:
    first = next(iter(secrets.values()))
    return f"••••{first[-4:]}"


def _row(pixel: Pixel) -> PixelRow:
    return PixelRow(
        pixel.public_id,
        pixel.provider,
        pixel.name,
        dict(pixel.settings),
        pixel.credentials_hint,
        list(pixel.events),
        pixel.enabled,
        pixel.is_default,
        pixel.created_at,
        pixel.test_mode,
    )


def get_pixel(session: Session, account_id: int, pixel_public_id: str) -> Pixel:
    """The account's pixel with this public id.

    Raises:
        NotFound: the account has no such pixel.
    """
    pixel = session.exec(
        select(Pixel).where(Pixel.public_id == pixel_public_id, Pixel.account_id == account_id)
    ).first()
    if pixel is None:
        raise NotFound("Pixel not found.")
    return pixel


def create_pixel(
    *,
    session: Session,
    actor: Actor,
    provider: str,
    name: str,
    settings: dict[str, Any],
    credentials: dict[str, Any],
    events: list[str] | None = None,
    is_default: bool = False,
    test_mode: bool = False,
) -> PixelRow:
    require(actor, Permission.EDIT_MARKETING)
    kind = _provider(provider)
    name = " ".join((name or "").split()) or f"{kind.value} pixel"
    secrets = _clean_secrets(kind, credentials, required=True)
    assert secrets is not None
    pixel = Pixel(
        public_id=new_public_id("px"),
        account_id=actor.account_id,
        provider=kind,
        name=name[:120],
        settings=_clean_settings(kind, settings),
        credentials_encrypted=encrypt_secret(json.dumps(secrets)),
        credentials_hint=_hint(secrets),
        events=_events(events),
        is_default=is_default,
        test_mode=test_mode,
    )
    _check_test_mode(pixel)
    session.add(pixel)
    session.flush()
    return _row(pixel)


def update_pixel(
    *,
    session: Session,
    actor: Actor,
    pixel_public_id: str,
    name: str | None = None,
    settings: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
    events: list[str] | None = None,
    enabled: bool | None = None,
    is_default: bool | None = None,
    test_mode: bool | None = None,
) -> PixelRow:
    """Change a pixel; empty credentials keep the stored ones (they are never shown again)."""
    require(actor, Permission.EDIT_MARKETING)
    pixel = get_pixel(session, actor.account_id, pixel_public_id)
    kind = Provider(pixel.provider)
    if name is not None and name.strip():
        pixel.name = " ".join(name.split())[:120]
    if settings is not None:
        pixel.settings = _clean_settings(kind, settings)
    changed = {name: value for name, value in (credentials or {}).items() if str(value or "").strip()}
    if changed:
        # Only the secrets given change; the others keep their stored values.
        secrets = _clean_secrets(kind, pixel_credentials(pixel) | changed, required=True)
        assert secrets is not None
        pixel.credentials_encrypted = encrypt_secret(json.dumps(secrets))
        pixel.credentials_hint = _hint(secrets)
    if events is not None:
        pixel.events = _events(events)
    if enabled is not None:
        pixel.enabled = enabled
    if is_default is not None:
        pixel.is_default = is_default
    if test_mode is not None:
        pixel.test_mode = test_mode
    _check_test_mode(pixel)
    session.add(pixel)
    return _row(pixel)


def delete_pixel(*, session: Session, actor: Actor, pixel_public_id: str) -> None:
    require(actor, Permission.EDIT_MARKETING)
    session.delete(get_pixel(session, actor.account_id, pixel_public_id))


def list_pixels(*, session: Session, account_id: int) -> list[PixelRow]:
    rows = session.exec(select(Pixel).where(Pixel.account_id == account_id).order_by(col(Pixel.id))).all()
    return [_row(p) for p in rows]


def campaign_pixels(*, session: Session, account_id: int, campaign_public_id: str) -> list[PixelRow]:
    campaign = get_campaign(session, account_id, campaign_public_id)
    rows = session.exec(
        select(Pixel)
        .join(CampaignPixel, col(CampaignPixel.pixel_id) == col(Pixel.id))
        .where(CampaignPixel.campaign_id == campaign.id)
        .order_by(col(Pixel.id))
    ).all()
    return [_row(p) for p in rows]


def attach_pixel(*, session: Session, actor: Actor, campaign_public_id: str, pixel_public_id: str) -> None:
    require(actor, Permission.EDIT_MARKETING)
    campaign = get_campaign(session, actor.account_id, campaign_public_id)
    pixel = get_pixel(session, actor.account_id, pixel_public_id)
    if session.get(CampaignPixel, (campaign.id, pixel.id)) is None:
        session.add(CampaignPixel(campaign_id=campaign.id, pixel_id=pixel.id))  # type: ignore[arg-type]  # a stored row's id is set; the column is Optional only before insert


def detach_pixel(*, session: Session, actor: Actor, campaign_public_id: str, pixel_public_id: str) -> None:
    require(actor, Permission.EDIT_MARKETING)
    campaign = get_campaign(session, actor.account_id, campaign_public_id)
    pixel = get_pixel(session, actor.account_id, pixel_public_id)
    link = session.get(CampaignPixel, (campaign.id, pixel.id))
    if link is not None:
        session.delete(link)


@dataclass(frozen=True)
class PixelTarget:
    """What the conversion outbox needs of an enabled pixel to queue a conversion for it (a row, not the ORM
    object: every paid order's webhook asks)."""

    id: int
    name: str
    provider: Provider
    events: list[str]
    test_mode: bool


def pixels_for_campaign(*, session: Session, account_id: int, campaign_id: int | None) -> list[PixelTarget]:
    """Enabled pixels that receive a conversion of ``campaign_id``: its own plus the account's defaults, each once.
    One Core statement on the session's connection: it reads stored pixels and links (their services flush)."""
    found = execute(session.connection(), _TARGETS, {"account_id": account_id, "campaign_id": campaign_id}).rows
    return [PixelTarget(row.id, row.name, row.provider, list(row.events or []), row.test_mode) for row in found]


# Built once (building a statement costs more than running it).
_PIXELS, _LINKS = table_of(Pixel), table_of(CampaignPixel)
_TARGETS = (
    sa_select(_PIXELS.c.id, _PIXELS.c.name, _PIXELS.c.provider, _PIXELS.c.events, _PIXELS.c.test_mode)
    .where(
        _PIXELS.c.account_id == bindparam("account_id"),
        _PIXELS.c.enabled.is_(True),
        or_(
            _PIXELS.c.is_default.is_(True),
            _PIXELS.c.id.in_(sa_select(_LINKS.c.pixel_id).where(_LINKS.c.campaign_id == bindparam("campaign_id"))),
        ),
    )
    .order_by(_PIXELS.c.id)
)


def pixel_credentials(pixel: Pixel) -> dict[str, str]:
    """The decrypted secrets, for the sending integration only (never for display)."""
    credentials: dict[str, str] = json.loads(decrypt_secret(pixel.credentials_encrypted))
    return credentials


def check_pixel(*, session: Session, actor: Actor, pixel_public_id: str) -> TestResult:
    """Checks the stored config's format and that its credentials decrypt, and a webhook's host again (nothing is
    sent; ``conversion_sender.send_test`` runs this first, then sends a sample purchase)."""
    require(actor, Permission.EDIT_MARKETING)
    pixel = get_pixel(session, actor.account_id, pixel_public_id)
    kind = Provider(pixel.provider)
    try:
        _clean_settings(kind, pixel.settings)
        secrets = pixel_credentials(pixel)
        _clean_secrets(kind, secrets, required=True)
    except (ValidationFailed, ValueError) as error:
        return TestResult(False, f"Config problem: {getattr(error, 'message', error)}")
    return TestResult(True, f"{pixel.name}: settings and credentials are well-formed for {kind.value}.")
