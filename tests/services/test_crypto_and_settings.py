from __future__ import annotations

from pathlib import Path

import pytest

from app.services import crypto
from app.settings import Settings


def test_subkeys_differ_per_purpose_and_follow_the_secret() -> None:
    peppers = {crypto.subkey(p) for p in crypto.KeyPurpose}
    assert len(peppers) == len(crypto.KeyPurpose)
    assert crypto._derive("one", crypto.KeyPurpose.SIGNED_LINKS) != crypto._derive(
        "two", crypto.KeyPurpose.SIGNED_LINKS
    )


def test_signed_tokens_verify_until_expiry() -> None:
    token = crypto.sign_token("inv_abc", ttl_seconds=60, now=1000)
    assert crypto.verify_token(token, now=1059) == "inv_abc"
    with pytest.raises(crypto.BadToken, match="expired"):
        crypto.verify_token(token, now=1061)
    with pytest.raises(crypto.BadToken, match="not valid"):
        crypto.verify_token(token.replace("inv_abc", "inv_abd"), now=1000)
    with pytest.raises(crypto.BadToken, match="malformed"):
        crypto.verify_token("garbage", now=1000)


def test_production_refuses_a_missing_or_default_secret() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(paidsignal_env="production", secret_key="")
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(paidsignal_env="production", secret_key="change-me")
    ok = Settings(
        paidsignal_env="production",
        secret_key="x" * 40,
        public_url="https://ps.example.com",
        password_hash_profile="default",
    )
    assert ok.backoffice_origins == ["https://ps.example.com"]


def test_development_generates_and_keeps_a_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="")
    first = settings.resolved_secret_key()
    assert len(first) >= 48 and (tmp_path / "secret_key").read_text() == first
    assert Settings(data_dir=tmp_path, secret_key="").resolved_secret_key() == first


def test_public_url_drives_cors_origins_with_both_loopback_spellings() -> None:
    settings = Settings(public_url="http://localhost:3111/", extra_cors_origins="https://a.example, https://b.example")
    assert settings.public_url == "http://localhost:3111"
    assert settings.backoffice_origins == [
        "http://localhost:3111",
        "http://127.0.0.1:3111",
        "https://a.example",
        "https://b.example",
    ]
    with pytest.raises(ValueError, match="PUBLIC_URL"):
        Settings(public_url="localhost:3000")


def test_links_signed_before_a_rotation_verify_with_the_previous_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.settings import get_settings

    token = crypto.sign_token("inv_abc", ttl_seconds=600)
    old_secret = get_settings().secret_key
    monkeypatch.setenv("SECRET_KEY", "a-brand-new-secret-key-for-rotation-0123456789")
    get_settings.cache_clear()
    try:
        with pytest.raises(crypto.BadToken):
            crypto.verify_token(token)
        monkeypatch.setenv("SECRET_KEY_PREVIOUS", f"something-else, {old_secret}")
        get_settings.cache_clear()
        assert crypto.verify_token(token) == "inv_abc"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
