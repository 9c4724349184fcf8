from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app.models import AuthSession, Membership, Role
from app.models.base import utcnow
from app.services import accounts
from app.services.crypto import sha256_hex
from app.services.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from tests.utils.factories import PASSWORD, add_member, make_owner


def test_signup_creates_account_and_owner(db: Session) -> None:
    account, user = accounts.signup(
        session=db,
        account_name="  Acme   Store ",
        email=" Ann@Example.COM ",
        password=PASSWORD,
        timezone="America/New_York",
    )
    db.commit()
    assert account.name == "Acme Store"
    assert account.slug == "acme-store"
    assert account.public_id.startswith("acc_")
    assert account.timezone == "America/New_York"
    assert user.email == "ann@example.com"
    assert user.password_hash.startswith("$argon2")
    membership = db.exec(select(Membership)).one()
    assert (membership.account_id, membership.user_id, membership.role) == (account.id, user.id, "owner")


def test_second_account_with_same_name_gets_distinct_slug(db: Session) -> None:
    a, _, _ = make_owner(db, name="Acme")
    b, _, _ = make_owner(db, name="Acme")
    assert a.slug == "acme" and b.slug.startswith("acme-") and a.slug != b.slug


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"account_name": "x"}, "account_name"),
    ],
)
def test_signup_rejects_bad_input_with_field(db: Session, kwargs: dict[str, str], field: str) -> None:
    args = {"account_name": "Shop", "email": "a@example.com", "password": PASSWORD, "timezone": "UTC"} | kwargs
    with pytest.raises(ValidationFailed) as caught:
        accounts.signup(session=db, **args)
    assert caught.value.field == field
    assert caught.value.message


def test_duplicate_email_is_a_clear_conflict(db: Session) -> None:
    make_owner(db, email="dup@example.com")
    with pytest.raises(Conflict, match="already exists"):
        accounts.signup(session=db, account_name="Other", email="DUP@example.com", password=PASSWORD)


def test_login_has_one_message_for_unknown_email_and_wrong_password(db: Session) -> None:
    make_owner(db, email="known@example.com")
    with pytest.raises(AuthenticationFailed) as unknown:
        accounts.authenticate(session=db, email="nobody@example.com", password=PASSWORD)
    with pytest.raises(AuthenticationFailed) as wrong:
        accounts.authenticate(session=db, email="known@example.com", password="wrong password!")
    assert unknown.value.message == wrong.value.message == accounts.LOGIN_FAILED_MESSAGE
    assert accounts.authenticate(session=db, email="KNOWN@example.com", password=PASSWORD).email == "known@example.com"


def _wrong_password(db: Session, email: str, ip: str) -> None:
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate(session=db, email=email, password="wrong password!", ip=ip)


def test_wrong_passwords_from_one_place_do_not_lock_the_owner_out_elsewhere(db: Session) -> None:
    make_owner(db, email="target@example.com")
    for _ in range(10):
        _wrong_password(db, "target@example.com", "10.0.0.1")
    with pytest.raises(RateLimited) as caught:
        accounts.authenticate(session=db, email="target@example.com", password=PASSWORD, ip="10.0.0.1")
    assert re.fullmatch(
        r"Too many login attempts for this email from your network\. Try again in 1[56] minute\(s\)\.",
        caught.value.message,
    ), caught.value.message
    assert 0 < caught.value.retry_after <= 15 * 60 + 1
    # Refused attempts are not counted further: hammering on from the same place does not lock the e-mail.
    for _ in range(200):
        with pytest.raises(RateLimited):
            accounts.authenticate(session=db, email="target@example.com", password=PASSWORD, ip="10.0.0.1")

    assert accounts.authenticate(session=db, email="target@example.com", password=PASSWORD, ip="10.0.0.2").email == (
        "target@example.com"
    )


def test_an_email_guessed_at_from_many_places_is_paused(db: Session) -> None:
    make_owner(db, email="target@example.com")
    for n in range(100):  # 10 places, 10 tries each: every place stays under its own limit
        _wrong_password(db, "target@example.com", f"10.0.{n // 10}.1")
    with pytest.raises(RateLimited) as owner:
        accounts.authenticate(session=db, email="target@example.com", password=PASSWORD, ip="192.0.2.7")
    assert owner.value.message.startswith("Too many login attempts for this email from many networks")
    assert "Try again in" in owner.value.message

    # The same answer for an address without an account: the limits do not tell whether the e-mail exists.
    for n in range(100):
        with pytest.raises(AuthenticationFailed):
            accounts.authenticate(
                session=db, email="nobody@example.com", password="wrong password!", ip=f"10.1.{n // 10}.1"
            )
    with pytest.raises(RateLimited) as nobody:
        accounts.authenticate(session=db, email="nobody@example.com", password=PASSWORD, ip="192.0.2.8")
    assert nobody.value.message == owner.value.message


def test_login_attempts_are_rate_limited_per_ip(db: Session) -> None:
    for n in range(50):
        with pytest.raises(AuthenticationFailed):
            accounts.authenticate(session=db, email=f"spray{n}@example.com", password="x" * 10, ip="10.9.9.9")
    with pytest.raises(RateLimited) as caught:
        accounts.authenticate(session=db, email="fresh@example.com", password="x" * 10, ip="10.9.9.9")
    assert caught.value.message.startswith("Too many login attempts from your network. Try again in")
    with pytest.raises(AuthenticationFailed):  # from elsewhere the same address is only a wrong login
        accounts.authenticate(session=db, email="fresh@example.com", password="x" * 10, ip="10.9.9.10")


def test_session_lifecycle_resolve_switch_and_end(db: Session) -> None:
    account, user, _ = make_owner(db, name="First")
    second = accounts.create_account(session=db, owner=user, name="Second")
    token = accounts.start_session(session=db, user=user)
    db.commit()
    stored = db.exec(select(AuthSession)).one()
    assert stored.token_hash == sha256_hex(token) and token not in stored.token_hash

    context = accounts.resolve_session(session=db, token=token)
    assert context is not None and context.active is not None
    assert context.active.public_id == account.public_id
    assert {a.name for a in context.accounts} == {"First", "Second"}
    assert context.actor is not None and context.actor.role is Role.OWNER

    accounts.switch_account(session=db, token=token, account_public_id=second.public_id)
    db.commit()
    context = accounts.resolve_session(session=db, token=token)
    assert context is not None and context.active is not None and context.active.name == "Second"

    accounts.end_session(session=db, token=token)
    db.commit()
    assert accounts.resolve_session(session=db, token=token) is None


def test_cannot_switch_into_someone_elses_account(db: Session) -> None:
    _, user, _ = make_owner(db)
    other, _, _ = make_owner(db)
    token = accounts.start_session(session=db, user=user)
    with pytest.raises(NotFound):
        accounts.switch_account(session=db, token=token, account_public_id=other.public_id)


def test_expired_and_unknown_sessions_resolve_to_none(db: Session) -> None:
    _, user, _ = make_owner(db)
    token = accounts.start_session(session=db, user=user)
    row = db.exec(select(AuthSession)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.add(row)
    db.commit()
    assert accounts.resolve_session(session=db, token=token) is None
    assert accounts.resolve_session(session=db, token="made-up") is None
    assert accounts.resolve_session(session=db, token="") is None


def test_removed_member_falls_back_to_their_other_account(db: Session) -> None:
    shop, _, _ = make_owner(db, name="Zeta shop")
    member, _ = add_member(db, shop, Role.VIEWER)
    own = accounts.create_account(session=db, owner=member, name="Alpha own")
    token = accounts.start_session(session=db, user=member, account_id=shop.id)
    db.commit()
    membership = db.exec(
        select(Membership).where(Membership.account_id == shop.id, Membership.user_id == member.id)
    ).one()
    db.delete(membership)
    db.commit()
    context = accounts.resolve_session(session=db, token=token)
    assert context is not None and context.active is not None
    assert context.active.public_id == own.public_id


def test_the_locale_defaults_to_en_us_and_owners_and_admins_change_it(db: Session) -> None:
    account, user, owner = make_owner(db)
    assert account.locale == "en_US"
    token = accounts.start_session(session=db, user=user)
    context = accounts.resolve_session(session=db, token=token)
    assert context is not None and context.active is not None and context.active.locale == "en_US"

    assert accounts.set_account_locale(session=db, actor=owner, locale="de-de").locale == "de_DE"
    assert accounts.account_locale(db, account.id or 0) == "de_DE"
    _, admin = add_member(db, account, Role.ADMIN)
    assert accounts.set_account_locale(session=db, actor=admin, locale="fr_FR").locale == "fr_FR"
    _, marketer = add_member(db, account, Role.MARKETER)
    with pytest.raises(PermissionDenied, match="cannot change the account's settings"):
        accounts.set_account_locale(session=db, actor=marketer, locale="en_US")
    for bad in ("", "xx_YY", "english"):
        with pytest.raises(ValidationFailed) as refused:
            accounts.set_account_locale(session=db, actor=owner, locale=bad)
        assert refused.value.field == "locale" and "such as en_US or de_DE" in refused.value.message
    assert accounts.account_locale(db, account.id or 0) == "fr_FR"


def test_the_locale_menu_shows_how_amounts_read() -> None:
    options = dict(accounts.locale_options())
    assert options["en_US"] == "English (United States) · €20,442.50"
    assert options["de_DE"] == "German (Germany) · 20.442,50\xa0€"
    assert "es_MX" in dict(accounts.locale_options("es_MX"))  # the account's own, even when not a common one
