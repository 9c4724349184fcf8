from __future__ import annotations

import pytest
from sqlmodel import Session, select

from app.models import Pixel, Role
from app.services import campaigns, pixels
from app.services.crypto import BadToken
from app.services.errors import NotFound, PermissionDenied, ValidationFailed
from tests.utils.dns import PUBLIC, FakeDNS
from tests.utils.factories import add_member, make_owner

TOKEN = "EAAGm0PX4ZCpsBAKZAqRandomMetaAccessToken1234"


def test_credentials_are_encrypted_at_rest_and_never_returned(db: Session) -> None:
    _, _, owner = make_owner(db)
    row = pixels.create_pixel(
        session=db,
        actor=owner,
        provider="meta",
        name="Main pixel",
        settings={"pixel_id": "123456789012345", "test_event_code": "TEST4242"},
        credentials={"access_token": TOKEN},
    )
    db.commit()
    stored = db.exec(select(Pixel)).one()
    assert TOKEN not in stored.credentials_encrypted and TOKEN not in str(stored.settings)
    assert row.credentials_hint == "••••1234" and TOKEN not in repr(row)
    assert pixels.pixel_credentials(stored) == {"access_token": TOKEN}
    assert row.events == ["purchase"] and row.enabled
    assert pixels.check_pixel(session=db, actor=owner, pixel_public_id=row.public_id).ok


def test_update_keeps_secrets_when_left_empty(db: Session) -> None:
    _, _, owner = make_owner(db)
    row = pixels.create_pixel(
        session=db,
        actor=owner,
        provider="ga4",
        name="GA",
        settings={"measurement_id": "G-ABC123XYZ"},
        credentials={"api_secret": "s3cr3t-api-secret"},
    )
    updated = pixels.update_pixel(
        session=db,
        actor=owner,
        pixel_public_id=row.public_id,
        name="GA4 prod",
        credentials={"api_secret": ""},
        events=["purchase", "lead"],
        enabled=False,
    )
    assert (updated.name, updated.events, updated.enabled) == ("GA4 prod", ["purchase", "lead"], False)
    stored = db.exec(select(Pixel)).one()
    assert pixels.pixel_credentials(stored) == {"api_secret": "s3cr3t-api-secret"}


@pytest.mark.parametrize(
    ("provider", "settings", "credentials", "field"),
    [
        ("meta", {"pixel_id": "abc"}, {"access_token": TOKEN}, "settings.pixel_id"),
        ("meta", {"pixel_id": "123456789"}, {"access_token": ""}, "credentials.access_token"),
        ("ga4", {"measurement_id": "UA-1234-1"}, {"api_secret": "long-enough-secret"}, "settings.measurement_id"),
        (
            "google_ads",
            {"operating_account_id": "123-456-7890"},
            {"oauth_client_id": "x" * 10, "oauth_client_secret": "y" * 10, "refresh_token": "z" * 10},
            "settings.conversion_action_id",
        ),
        ("webhook", {"url": "http://example.com/hook"}, {"signing_secret": "s" * 16}, "settings.url"),
        ("meta", {"pixel_id": "123456789", "colour": "red"}, {"access_token": TOKEN}, "settings.colour"),
        ("tiktok", {}, {}, "provider"),
    ],
)
def test_config_errors_name_the_field(
    db: Session, provider: str, settings: dict, credentials: dict, field: str
) -> None:
    _, _, owner = make_owner(db)
    with pytest.raises(ValidationFailed) as caught:
        pixels.create_pixel(
            session=db, actor=owner, provider=provider, name="", settings=settings, credentials=credentials
        )
    assert caught.value.field == field


def test_campaign_pixels_plus_account_defaults(db: Session, dns: FakeDNS) -> None:
    dns.set("hooks.example.com", PUBLIC)
    _, _, owner = make_owner(db)
    meta = pixels.create_pixel(
        session=db,
        actor=owner,
        provider="meta",
        name="Meta",
        settings={"pixel_id": "123456789"},
        credentials={"access_token": TOKEN},
    )
    pixels.create_pixel(
        session=db,
        actor=owner,
        provider="webhook",
        name="Hook",
        is_default=True,
        settings={"url": "https://hooks.example.com/ps"},
        credentials={"signing_secret": "s" * 16},
    )
    campaign = campaigns.create_campaign(session=db, actor=owner, name="Spring", channel="meta")
    pixels.attach_pixel(session=db, actor=owner, campaign_public_id=campaign.public_id, pixel_public_id=meta.public_id)
    pixels.attach_pixel(session=db, actor=owner, campaign_public_id=campaign.public_id, pixel_public_id=meta.public_id)
    db.commit()
    listed = pixels.campaign_pixels(session=db, account_id=owner.account_id, campaign_public_id=campaign.public_id)
    assert [p.name for p in listed] == ["Meta"]
    campaign_id = campaigns.get_campaign(db, owner.account_id, campaign.public_id).id
    assert {
        p.name for p in pixels.pixels_for_campaign(session=db, account_id=owner.account_id, campaign_id=campaign_id)
    } == {"Meta", "Hook"}
    assert {p.name for p in pixels.pixels_for_campaign(session=db, account_id=owner.account_id, campaign_id=None)} == {
        "Hook"
    }
    pixels.detach_pixel(session=db, actor=owner, campaign_public_id=campaign.public_id, pixel_public_id=meta.public_id)
    assert pixels.campaign_pixels(session=db, account_id=owner.account_id, campaign_public_id=campaign.public_id) == []


def test_roles_and_tenancy(db: Session) -> None:
    account, _, owner = make_owner(db)
    _, viewer = add_member(db, account, Role.VIEWER)
    _, _, stranger = make_owner(db)
    row = pixels.create_pixel(
        session=db,
        actor=owner,
        provider="ga4",
        name="GA",
        settings={"measurement_id": "G-ABC123XYZ"},
        credentials={"api_secret": "long-api-secret"},
    )
    with pytest.raises(PermissionDenied):
        pixels.create_pixel(
            session=db,
            actor=viewer,
            provider="ga4",
            name="GA",
            settings={"measurement_id": "G-ABC123XYZ"},
            credentials={"api_secret": "long-api-secret"},
        )
    for call in (
        lambda: pixels.update_pixel(session=db, actor=stranger, pixel_public_id=row.public_id, enabled=False),
        lambda: pixels.delete_pixel(session=db, actor=stranger, pixel_public_id=row.public_id),
        lambda: pixels.check_pixel(session=db, actor=stranger, pixel_public_id=row.public_id),
    ):
        with pytest.raises(NotFound):
            call()
    assert pixels.list_pixels(session=db, account_id=stranger.account_id) == []


def test_credentials_survive_secret_rotation_and_fail_clearly_without_it(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.settings import get_settings

    _, _, owner = make_owner(db)
    pixels.create_pixel(
        session=db,
        actor=owner,
        provider="meta",
        name="Meta",
        settings={"pixel_id": "123456789"},
        credentials={"access_token": TOKEN},
    )
    db.commit()
    stored = db.exec(select(Pixel)).one()
    old = get_settings().secret_key
    monkeypatch.setenv("SECRET_KEY", "rotated-secret-key-0123456789-abcdefghijkl")
    get_settings.cache_clear()
    try:
        with pytest.raises(BadToken, match="cannot be decrypted"):
            pixels.pixel_credentials(stored)
        monkeypatch.setenv("SECRET_KEY_PREVIOUS", old)
        get_settings.cache_clear()
        assert pixels.pixel_credentials(stored) == {"access_token": TOKEN}
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_one_secret_of_several_can_change_alone(db: Session) -> None:
    _, _, owner = make_owner(db)
    creds = {
        "oauth_client_id": "client-id-123",
        "oauth_client_secret": "client-secret-456",
        "refresh_token": "refresh-token-789",
    }
    row = pixels.create_pixel(
        session=db,
        actor=owner,
        provider="google_ads",
        name="Ads",
        settings={"operating_account_id": "123-456-7890", "conversion_action_id": "42"},
        credentials=creds,
    )
    pixels.update_pixel(
        session=db,
        actor=owner,
        pixel_public_id=row.public_id,
        credentials={"oauth_client_id": "", "oauth_client_secret": "", "refresh_token": "new-refresh-0"},
    )
    stored = db.exec(select(Pixel)).one()
    assert pixels.pixel_credentials(stored) == creds | {"refresh_token": "new-refresh-0"}


def test_webhook_urls_need_a_host(db: Session) -> None:
    _, _, owner = make_owner(db)
    with pytest.raises(ValidationFailed, match="needs a host"):
        pixels.create_pixel(
            session=db,
            actor=owner,
            provider="webhook",
            name="Hook",
            settings={"url": "https://"},
            credentials={"signing_secret": "s" * 16},
        )
