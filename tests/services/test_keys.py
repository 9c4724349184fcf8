from __future__ import annotations

import pytest
from sqlmodel import Session, select

from app.models import ApiKey, Role
from app.models.base import utcnow
from app.services import keys
from app.services.crypto import KeyPurpose, hmac_hex
from app.services.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed
from tests.utils.factories import add_member, make_owner


def test_secret_key_is_shown_once_and_stored_as_hmac(db: Session) -> None:
    account, _, owner = make_owner(db)
    created = keys.create_key(session=db, actor=owner, kind="secret", label="server")
    db.commit()
    assert created.plaintext.startswith("ps_sk_") and len(created.plaintext) >= 46
    row = db.exec(select(ApiKey)).one()
    assert created.plaintext not in (row.lookup, row.secret_hash)
    assert row.secret_hash == hmac_hex(KeyPurpose.API_KEY_PEPPER, created.plaintext)
    assert row.lookup == created.plaintext[:14]
    listed = keys.list_keys(session=db, account_id=account.id)
    assert [k.display for k in listed] == [row.lookup + "…"]

    identity = keys.authenticate_secret_key(session=db, raw=created.plaintext)
    assert identity.account_id == account.id and identity.account_public_id == account.public_id


def test_wrong_or_revoked_secret_keys_are_refused(db: Session) -> None:
    _, _, owner = make_owner(db)
    created = keys.create_key(session=db, actor=owner, kind="secret")
    tampered = created.plaintext[:-1] + ("A" if created.plaintext[-1] != "A" else "B")
    with pytest.raises(AuthenticationFailed, match="not valid"):
        keys.authenticate_secret_key(session=db, raw=tampered)
    with pytest.raises(AuthenticationFailed):
        keys.authenticate_secret_key(session=db, raw="sk_test_stripe_key")
    keys.revoke_key(session=db, actor=owner, key_public_id=created.row.public_id)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        keys.authenticate_secret_key(session=db, raw=created.plaintext)


def test_publishable_key_needs_an_allowed_origin(db: Session) -> None:
    _, _, owner = make_owner(db)
    with pytest.raises(ValidationFailed, match="allowed origin"):
        keys.create_key(session=db, actor=owner, kind="publishable", origins=[])
    with pytest.raises(ValidationFailed, match="not an origin"):
        keys.create_key(session=db, actor=owner, kind="publishable", origins=["shop.example.com"])
    created = keys.create_key(
        session=db,
        actor=owner,
        kind="publishable",
        origins=["https://Shop.Example.com/", "https://shop.example.com:443", "http://localhost:8080"],
    )
    assert created.row.allowed_origins == ["https://shop.example.com", "http://localhost:8080"]
    assert created.plaintext.startswith("ps_pk_") and created.row.display == created.plaintext

    ok = keys.authenticate_publishable_key(session=db, raw=created.plaintext, origin="https://shop.example.com")
    assert ok.kind.value == "publishable"
    with pytest.raises(PermissionDenied, match="not allowed"):
        keys.authenticate_publishable_key(session=db, raw=created.plaintext, origin="https://evil.example.com")
    with pytest.raises(PermissionDenied, match="secret key"):
        keys.authenticate_publishable_key(session=db, raw=created.plaintext, origin=None)
    with pytest.raises(PermissionDenied, match="publishable key was given"):
        keys.authenticate_secret_key(session=db, raw=created.plaintext)


def test_update_origins(db: Session) -> None:
    _, _, owner = make_owner(db)
    created = keys.create_key(session=db, actor=owner, kind="publishable", origins=["https://a.example"])
    row = keys.update_origins(
        session=db, actor=owner, key_public_id=created.row.public_id, origins=["https://b.example"]
    )
    assert row.allowed_origins == ["https://b.example"]


def test_only_admins_and_owners_manage_keys(db: Session) -> None:
    account, _, _owner = make_owner(db)
    _, viewer = add_member(db, account, Role.VIEWER)
    _, marketer = add_member(db, account, Role.MARKETER)
    _, admin = add_member(db, account, Role.ADMIN)
    for actor in (viewer, marketer):
        with pytest.raises(PermissionDenied, match=actor.role.value):
            keys.create_key(session=db, actor=actor, kind="secret")
    created = keys.create_key(session=db, actor=admin, kind="secret")
    with pytest.raises(PermissionDenied):
        keys.revoke_key(session=db, actor=viewer, key_public_id=created.row.public_id)


def test_key_services_do_not_reach_into_other_accounts(db: Session) -> None:
    _, _, owner_a = make_owner(db)
    account_b, _, owner_b = make_owner(db)
    key_b = keys.create_key(session=db, actor=owner_b, kind="publishable", origins=["https://b.example"])
    with pytest.raises(NotFound):
        keys.revoke_key(session=db, actor=owner_a, key_public_id=key_b.row.public_id)
    with pytest.raises(NotFound):
        keys.update_origins(session=db, actor=owner_a, key_public_id=key_b.row.public_id, origins=["https://a.example"])
    assert keys.list_keys(session=db, account_id=owner_a.account_id) == []
    assert len(keys.list_keys(session=db, account_id=account_b.id)) == 1


def test_last_used_is_kept_in_memory_then_flushed_in_one_batch(db: Session) -> None:
    _, _, owner = make_owner(db)
    created = keys.create_key(session=db, actor=owner, kind="secret")
    db.commit()
    before = utcnow()
    for _ in range(5):
        keys.authenticate_secret_key(session=db, raw=created.plaintext)
    row = db.exec(select(ApiKey)).one()
    db.refresh(row)
    assert row.last_used_at is None  # nothing written per request
    assert keys.flush_key_usage(session=db) == 1
    db.commit()
    db.refresh(row)
    assert row.last_used_at is not None and row.last_used_at >= before
    assert keys.flush_key_usage(session=db) == 0


def test_secret_keys_survive_a_secret_key_rotation(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.settings import get_settings

    _, _, owner = make_owner(db)
    created = keys.create_key(session=db, actor=owner, kind="secret")
    db.commit()
    old_secret = get_settings().secret_key
    monkeypatch.setenv("SECRET_KEY", "a-brand-new-secret-key-for-rotation-0123456789")
    get_settings.cache_clear()
    try:
        with pytest.raises(AuthenticationFailed):
            keys.authenticate_secret_key(session=db, raw=created.plaintext)
        monkeypatch.setenv("SECRET_KEY_PREVIOUS", old_secret)
        get_settings.cache_clear()
        keys.authenticate_secret_key(session=db, raw=created.plaintext)
        db.commit()
        # Re-hashed under the new key: the previous one can now be dropped.
        monkeypatch.delenv("SECRET_KEY_PREVIOUS")
        get_settings.cache_clear()
        assert keys.authenticate_secret_key(session=db, raw=created.plaintext).account_id == owner.account_id
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
