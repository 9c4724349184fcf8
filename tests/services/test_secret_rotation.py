"""After a SECRET_KEY rotation, `reencrypt-credentials` puts every stored credential under the new key, so the
previous key can be removed and everything still decrypts; what no key reads is reported, never changed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from sqlmodel import Session, select

from app import cli
from app.models import AdConnection, Pixel, StripeConnection
from app.models.base import new_public_id
from app.services import crypto, secret_rotation
from app.services.crypto import BadToken, decrypt_secret, encrypt_secret
from app.settings import get_settings
from tests.utils.factories import make_owner

NEW_SECRET = "the-rotated-secret-key-0123456789-abcdefghijkl"


@pytest.fixture
def set_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``set_keys(current, previous="")``: SECRET_KEY and SECRET_KEY_PREVIOUS for this test."""

    def apply(current: str, previous: str = "") -> None:
        monkeypatch.setenv("SECRET_KEY", current)
        monkeypatch.setenv("SECRET_KEY_PREVIOUS", previous)
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def _stored(db: Session, account_id: int) -> None:
    """One of each encrypted column, under the SECRET_KEY in force."""
    db.add(StripeConnection(account_id=account_id, secret_key_encrypted=encrypt_secret("sk_test_123"),
                            key_hint="sk_test_…123", webhook_secret_encrypted=encrypt_secret("whsec_456")))  # fmt: skip
    pixel_secret = encrypt_secret(json.dumps({"access_token": "t"}))
    db.add(Pixel(public_id=new_public_id("px"), account_id=account_id, provider="meta", name="Meta",
                 settings={"pixel_id": "1"}, credentials_encrypted=pixel_secret))  # fmt: skip
    ads_secret = encrypt_secret(json.dumps({"token": "a"}))
    db.add(AdConnection(public_id=new_public_id("adc"), account_id=account_id, platform="meta",
                        ad_account_id="1234567", credentials_encrypted=ads_secret))  # fmt: skip
    db.commit()


def _plaintexts(db: Session, account_id: int) -> list[str]:
    db.expire_all()
    stripe = db.exec(select(StripeConnection).where(StripeConnection.account_id == account_id)).one()
    pixel = db.exec(select(Pixel).where(Pixel.account_id == account_id)).one()
    ads = db.exec(select(AdConnection).where(AdConnection.account_id == account_id)).one()
    return [decrypt_secret(token) for token in (stripe.secret_key_encrypted, stripe.webhook_secret_encrypted,
                                                pixel.credentials_encrypted, ads.credentials_encrypted)]  # fmt: skip


EXPECTED = ["sk_test_123", "whsec_456", '{"access_token": "t"}', '{"token": "a"}']


def test_every_credential_moves_to_the_new_key_and_the_old_one_can_go(
    db: Session, set_keys: Callable[..., None]
) -> None:
    old = get_settings().secret_key
    account, _, _ = make_owner(db)
    assert account.id is not None
    _stored(db, account.id)

    set_keys(NEW_SECRET, old)
    report = secret_rotation.reencrypt_credentials(db)
    assert (report.reencrypted, report.already_current, report.unreadable) == (4, 0, [])
    assert report.summary() == "4 credential(s) re-encrypted under the current SECRET_KEY, 0 already under it"

    set_keys(NEW_SECRET)  # the previous key removed: everything still decrypts
    assert _plaintexts(db, account.id) == EXPECTED
    again = secret_rotation.reencrypt_credentials(db)
    assert (again.reencrypted, again.already_current) == (0, 4)


def test_without_the_rotation_nothing_reads_the_old_tokens(db: Session, set_keys: Callable[..., None]) -> None:
    """The check the first test relies on: the old tokens really are unreadable without SECRET_KEY_PREVIOUS."""
    account, _, _ = make_owner(db)
    assert account.id is not None
    _stored(db, account.id)
    set_keys(NEW_SECRET)
    with pytest.raises(BadToken):
        _plaintexts(db, account.id)


def test_unreadable_tokens_are_reported_and_left_alone(db: Session, set_keys: Callable[..., None]) -> None:
    old = get_settings().secret_key
    account, _, _ = make_owner(db)
    assert account.id is not None
    _stored(db, account.id)
    pixel = db.exec(select(Pixel)).one()
    before = pixel.credentials_encrypted

    set_keys(NEW_SECRET)  # the old key forgotten before the rotation ran
    report = secret_rotation.reencrypt_credentials(db)
    assert report.reencrypted == 0 and len(report.unreadable) == 4
    assert f"pixel #{pixel.id} (account #{account.id}): credentials_encrypted" in report.unreadable
    db.expire_all()
    assert db.exec(select(Pixel)).one().credentials_encrypted == before

    set_keys(NEW_SECRET, old)  # given the old key again, the same run succeeds
    assert secret_rotation.reencrypt_credentials(db).reencrypted == 4


def test_one_account_only_and_a_credential_saved_meanwhile_is_kept(
    db: Session, set_keys: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = get_settings().secret_key
    first, _, _ = make_owner(db, email="first@example.com")
    second, _, _ = make_owner(db, email="second@example.com")
    assert first.id is not None and second.id is not None
    _stored(db, first.id)
    _stored(db, second.id)
    set_keys(NEW_SECRET, old)

    # The shop saves a new Stripe key between the command's read and its write: the new key stays.
    real = crypto.reencrypt_secret
    saved = encrypt_secret("sk_test_saved_meanwhile")

    def save_meanwhile(token: str) -> str | None:
        stripe = db.exec(select(StripeConnection).where(StripeConnection.account_id == first.id)).one()
        if token == stripe.secret_key_encrypted:
            stripe.secret_key_encrypted = saved
            db.add(stripe)
            db.flush()
        return real(token)

    monkeypatch.setattr(secret_rotation, "reencrypt_secret", save_meanwhile)
    report = secret_rotation.reencrypt_credentials(db, account_id=first.id)
    assert (report.reencrypted, report.changed_meanwhile) == (3, 1)
    assert "1 saved again meanwhile (left as saved)" in report.summary()

    set_keys(NEW_SECRET)
    assert _plaintexts(db, first.id) == ["sk_test_saved_meanwhile", *EXPECTED[1:]]
    with pytest.raises(BadToken):  # the other account was not touched
        _plaintexts(db, second.id)


def test_the_cli_command(db: Session, set_keys: Callable[..., None], capsys: pytest.CaptureFixture[str]) -> None:
    old = get_settings().secret_key
    account, _, _ = make_owner(db)
    assert account.id is not None
    _stored(db, account.id)

    set_keys(NEW_SECRET)
    assert cli.main(["reencrypt-credentials", "--account", account.slug]) == 2
    out, err = capsys.readouterr()
    assert "4 cannot be decrypted with any SECRET_KEY" in out
    assert err.startswith("error: some credentials cannot be decrypted: put the SECRET_KEY")

    set_keys(NEW_SECRET, old)
    assert cli.main(["reencrypt-credentials"]) == 0
    assert capsys.readouterr().out == "4 credential(s) re-encrypted under the current SECRET_KEY, 0 already under it\n"
