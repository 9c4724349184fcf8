"""Sign-up, login, browser sessions and switching between the accounts a user belongs to."""

from __future__ import annotations

import functools
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.db import execute
from app.lib.formatting import DEFAULT_LOCALE, format_money, parse_locale
from app.models import Account, AuthSession, Membership, Role, User
from app.models.base import new_public_id, table_of, utcnow
from app.services import ratelimit
from app.services.crypto import sha256_hex
from app.services.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from app.services.passwords import MIN_PASSWORD_LENGTH, dummy_hash, hash_password, verify_password
from app.services.permissions import Actor, Permission, require
from app.settings import get_settings

LOGIN_FAILED_MESSAGE = "Email or password is wrong."


@dataclass(frozen=True)
class AccountSummary:
    public_id: str
    slug: str
    name: str
    role: str
    timezone: str
    locale: str = DEFAULT_LOCALE


@dataclass(frozen=True)
class SessionContext:
    """What a valid browser session may see: the user, their accounts, and the one they are working in."""

    user_id: int
    user_public_id: str
    email: str
    is_staff: bool
    accounts: list[AccountSummary]
    active: AccountSummary | None
    actor: Actor | None


# --- validation -------------------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationFailed(f"That email address is not valid: {error}", field="email") from error
    return result.normalized.lower()


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.", field="password")


def validate_timezone(name: str) -> str:
    name = (name or "").strip() or "UTC"
    if name != "UTC" and name not in _timezones():
        raise ValidationFailed(f"Unknown timezone {name!r}; use an IANA name such as Europe/Paris.", field="timezone")
    return name


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


# The locales the account settings offer (any locale Babel knows is accepted; these are the common ones).
LOCALE_CHOICES = ("en_US", "en_GB", "de_DE", "de_AT", "de_CH", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR",
                  "pl_PL", "sv_SE", "da_DK", "ja_JP")  # fmt: skip


def validate_locale(name: str) -> str:
    """A locale Babel knows, normalised (``de-de`` → ``de_DE``)."""
    try:
        return str(parse_locale(name))
    except ValueError as error:
        raise ValidationFailed(
            f"Unknown locale {name!r}; use a language and country code such as en_US or de_DE.", field="locale"
        ) from error


def locale_options(current: str = "") -> list[tuple[str, str]]:
    """(code, label) for the settings' menu, e.g. ("de_DE", "German (Germany) · 20.442,50 €"); the account's
    current locale is in it even when it is not one of the common ones."""
    codes = [*LOCALE_CHOICES, *([current] if current and current not in LOCALE_CHOICES else [])]
    return [(code, f"{parse_locale(code).get_display_name('en')} · {format_money(2044250, 'EUR', code)}")
            for code in codes]  # fmt: skip


def validate_account_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not 2 <= len(name) <= 120:
        raise ValidationFailed("Give the account a name of 2 to 120 characters.", field="account_name")
    return name


def _slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:48]
    return slug or "account"


def _unique_slug(session: Session, name: str) -> str:
    base = _slugify(name)
    slug = base
    while session.exec(select(Account.id).where(Account.slug == slug)).first() is not None:
        slug = f"{base}-{secrets.token_hex(2)}"
    return slug


# --- accounts and users -----------------------------------------------------------------------------------


def create_account(*, session: Session, owner: User, name: str, timezone: str = "UTC") -> Account:
    """A new account with ``owner`` as its owner (sign-up, the CLI, or an existing user's second shop)."""
    name = validate_account_name(name)
    account = Account(
        public_id=new_public_id("acc"),
        slug=_unique_slug(session, name),
        name=name,
        timezone=validate_timezone(timezone),
    )
    session.add(account)
    session.flush()
    assert account.id is not None and owner.id is not None
    session.add(Membership(account_id=account.id, user_id=owner.id, role=Role.OWNER))
    session.flush()
    return account


def create_user(*, session: Session, email: str, password: str) -> User:
    email = normalize_email(email)
    validate_password(password)
    if session.exec(select(User.id).where(User.email == email)).first() is not None:
        raise Conflict(
            "An account with this email already exists. Log in instead, or use another email.", field="email"
        )
    user = User(public_id=new_public_id("usr"), email=email, password_hash=hash_password(password))
    session.add(user)
    try:
        session.flush()
    except IntegrityError as error:  # a concurrent sign-up with the same email
        raise Conflict("An account with this email already exists. Log in instead.", field="email") from error
    return user


def signup(
    *, session: Session, account_name: str, email: str, password: str, timezone: str = "UTC"
) -> tuple[Account, User]:
    """Create the account and its owner together; the caller commits."""
    account_name = validate_account_name(account_name)
    timezone = validate_timezone(timezone)
    user = create_user(session=session, email=email, password=password)
    account = create_account(session=session, owner=user, name=account_name, timezone=timezone)
    return account, user


def find_account(*, session: Session, ref: str) -> Account:
    """An account by slug or public id (for operators' CLI)."""
    account = session.exec(select(Account).where((Account.slug == ref) | (Account.public_id == ref))).first()
    if account is None:
        raise NotFound(f"No account with slug or id {ref!r}.")
    return account


def get_account(*, session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("Account not found.")
    return account


def set_account_locale(*, session: Session, actor: Actor, locale: str) -> Account:
    """Change how the account's pages and e-mails write numbers and money (owners and admins)."""
    require(actor, Permission.MANAGE_ACCOUNT)
    account = get_account(session=session, account_id=actor.account_id)
    account.locale = validate_locale(locale)
    session.add(account)
    session.flush()
    return account


WINNER_PROBABILITY_RANGE = (51, 99)  # percent: at 50 a coin flip would be a winner; 100 is never reached


def set_winner_probability(*, session: Session, actor: Actor, percent: int) -> Account:
    """How sure (percent) a version comparison must be before it calls a winner (owners and admins)."""
    require(actor, Permission.MANAGE_ACCOUNT)
    low, high = WINNER_PROBABILITY_RANGE
    if isinstance(percent, bool) or not isinstance(percent, int) or not low <= percent <= high:
        raise ValidationFailed(
            f"The winner probability must be a whole percent between {low} and {high}.", field="winner_probability"
        )
    account = get_account(session=session, account_id=actor.account_id)
    account.winner_probability = percent
    session.add(account)
    session.flush()
    return account


def winner_probability(session: Session, account_id: int) -> float:
    """The account's threshold for calling a winner, as a probability (0.95); the default when the account is gone
    or the stored value is out of range (stored data never makes a read fail)."""
    found = session.exec(select(Account.winner_probability).where(Account.id == account_id)).first()
    low, high = WINNER_PROBABILITY_RANGE
    return (found if isinstance(found, int) and low <= found <= high else 95) / 100


def account_locale(session: Session, account_id: int) -> str:
    """The locale an account's figures are written in (the default when the account is gone). Reads the stored row
    on the session's connection, a plain Core row (every paying webhook asks; ``set_account_locale`` flushes)."""
    found = execute(session.connection(), _LOCALE, {"account_id": account_id}).scalar()
    return str(found) if found else DEFAULT_LOCALE


_ACCOUNTS = table_of(Account)
_LOCALE = sa_select(_ACCOUNTS.c.locale).where(_ACCOUNTS.c.id == bindparam("account_id"))  # built once


def make_staff(*, session: Session, email: str) -> User:
    user = session.exec(select(User).where(User.email == normalize_email(email))).first()
    if user is None:
        raise NotFound(f"No user with email {email!r}.")
    user.is_staff = True
    session.add(user)
    return user


# --- login and sessions -----------------------------------------------------------------------------------


def check_login_rate(email: str, ip: str) -> None:
    """Count a login attempt (or an invitation's password check) for ``email`` from client ``ip``.

    Narrowest limit first, and an attempt refused by one is not counted by the wider ones: ten wrong passwords from
    one place lock out only that e-mail from that place, so someone elsewhere cannot lock the owner out; the per-e-mail
    limit is loose and needs many places to reach. The messages are the same whether or not the e-mail has an
    account.

    Raises:
        RateLimited: a limit is reached; the message says which and when to try again.
    """
    settings = get_settings()
    retry = "Try again in {retry_minutes} minute(s)."
    if ip:
        ratelimit.hit(
            settings.login_rate_limit_per_email_and_ip,
            "login",
            "email+ip",
            email,
            ip,
            message=f"Too many login attempts for this email from your network. {retry}",
        )
        ratelimit.hit(
            settings.login_rate_limit_per_ip,
            "login",
            "ip",
            ip,
            message=f"Too many login attempts from your network. {retry}",
        )
    ratelimit.hit(
        settings.login_rate_limit_per_email,
        "login",
        "email",
        email,
        message=f"Too many login attempts for this email from many networks; logins to it are paused. {retry}",
    )


def authenticate(*, session: Session, email: str, password: str, ip: str = "") -> User:
    """The user for these credentials. Unknown email and wrong password fail with one message."""
    email = (email or "").strip().lower()
    check_login_rate(email, ip)
    user = session.exec(select(User).where(User.email == email)).first() if email else None
    if user is None:
        verify_password(password, dummy_hash())
        raise AuthenticationFailed(LOGIN_FAILED_MESSAGE)
    if not verify_password(password, user.password_hash):
        raise AuthenticationFailed(LOGIN_FAILED_MESSAGE)
    return user


def start_session(
    *, session: Session, user: User, account_id: int | None = None, user_agent: str = "", ip: str = ""
) -> str:
    """Create a server-side session and return the token for the browser (we store only its hash)."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    if account_id is None:
        account_id = session.exec(
            select(Membership.account_id).where(Membership.user_id == user.id).order_by(col(Membership.id))
        ).first()
    session.add(
        AuthSession(
            token_hash=session_token_hash(token),
            user_id=user.id,
            active_account_id=account_id,
            expires_at=utcnow() + timedelta(hours=get_settings().session_ttl_hours),
            user_agent=user_agent[:400],
            ip=ip[:64],
        )
    )
    session.flush()
    return token


def session_token_hash(token: str) -> str:
    """The key a browser session is stored under: its token's SHA-256 (as in ``auth_session.token_hash``).

    The server keeps this, never the token, wherever it keeps a session between requests: the hash cannot be
    turned back into the token, and a browser presenting it is presenting a token that hashes to something else.
    """
    return sha256_hex(token) if token else ""


def _live_session(session: Session, token: str, token_hash: str) -> AuthSession | None:
    token_hash = token_hash or session_token_hash(token)
    if not token_hash:
        return None
    row = session.exec(select(AuthSession).where(AuthSession.token_hash == token_hash)).first()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    return row


def user_accounts(*, session: Session, user_id: int) -> list[AccountSummary]:
    rows = session.exec(
        select(Account, Membership.role)
        .join(Membership, col(Membership.account_id) == col(Account.id))
        .where(Membership.user_id == user_id)
        .order_by(col(Account.name))
    ).all()
    return [
        AccountSummary(public_id=a.public_id, slug=a.slug, name=a.name, role=role, timezone=a.timezone, locale=a.locale)
        for a, role in rows
    ]


def resolve_session(*, session: Session, token: str = "", token_hash: str = "") -> SessionContext | None:
    """The context of a valid session, given its token or the token's ``session_token_hash``; None when it is
    unknown, expired or revoked."""
    row = _live_session(session, token, token_hash)
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    assert user.id is not None
    accounts = user_accounts(session=session, user_id=user.id)
    active_account = session.get(Account, row.active_account_id) if row.active_account_id else None
    active = next((a for a in accounts if active_account and a.public_id == active_account.public_id), None)
    if active is None and accounts:
        # Removed from the account they were in: fall back to another one of theirs.
        active = accounts[0]
        active_account = session.exec(select(Account).where(Account.public_id == active.public_id)).one()
    actor = None
    if active is not None and active_account is not None and active_account.id is not None:
        actor = Actor(user_id=user.id, account_id=active_account.id, role=Role(active.role), is_staff=user.is_staff)
    return SessionContext(
        user_id=user.id,
        user_public_id=user.public_id,
        email=user.email,
        is_staff=user.is_staff,
        accounts=accounts,
        active=active,
        actor=actor,
    )


def end_session(*, session: Session, token: str = "", token_hash: str = "") -> None:
    row = _live_session(session, token, token_hash)
    if row is not None:
        row.revoked_at = utcnow()
        session.add(row)


def revoke_user_sessions(*, session: Session, user_id: int) -> int:
    rows = session.exec(
        select(AuthSession).where(AuthSession.user_id == user_id, col(AuthSession.revoked_at).is_(None))
    ).all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    return len(rows)


def switch_account(*, session: Session, account_public_id: str, token: str = "", token_hash: str = "") -> None:
    row = _live_session(session, token, token_hash)
    if row is None:
        raise AuthenticationFailed("Your session has ended; log in again.")
    account_id = session.exec(
        select(Account.id)
        .join(Membership, col(Membership.account_id) == col(Account.id))
        .where(Account.public_id == account_public_id, Membership.user_id == row.user_id)
    ).first()
    if account_id is None:
        raise NotFound("Account not found.")
    row.active_account_id = account_id
    session.add(row)
