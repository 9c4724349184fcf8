"""Members of an account: list, invite by signed email link, accept, change role, remove."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from sqlmodel import Session, col, select

from app.integrations.email import EmailSendError, OutgoingEmail, send_email
from app.models import Account, Invite, Membership, Role, User
from app.models.base import new_public_id, utcnow
from app.routes import invite_url
from app.services.accounts import check_login_rate, create_user, normalize_email
from app.services.crypto import BadToken, sign_token, verify_token
from app.services.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    ValidationFailed,
)
from app.services.passwords import verify_password
from app.services.permissions import Actor, Permission, require
from app.settings import get_settings

INVITABLE_ROLES = (Role.ADMIN, Role.MARKETER, Role.VIEWER)


@dataclass(frozen=True)
class MemberRow:
    user_public_id: str
    email: str
    role: str
    joined_at: datetime


@dataclass(frozen=True)
class InviteRow:
    public_id: str
    email: str
    role: str
    expires_at: datetime


@dataclass(frozen=True)
class InviteView:
    """What the invite page shows before the invitee accepts."""

    account_name: str
    email: str
    role: str
    user_exists: bool


@dataclass(frozen=True)
class CreatedInvite:
    invite: InviteRow
    link: str


def _assignable_role(role: str) -> Role:
    try:
        parsed = Role(role)
    except ValueError:
        parsed = None
    if parsed not in INVITABLE_ROLES:
        names = ", ".join(r.value for r in INVITABLE_ROLES)
        raise ValidationFailed(f"Role must be one of {names}.", field="role")
    assert parsed is not None
    return parsed


def list_members(*, session: Session, account_id: int) -> list[MemberRow]:
    rows = session.exec(
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(Membership.account_id == account_id)
        .order_by(col(Membership.id))
    ).all()
    return [MemberRow(u.public_id, u.email, m.role, m.created_at) for u, m in rows]


def list_invites(*, session: Session, account_id: int) -> list[InviteRow]:
    rows = session.exec(
        select(Invite)
        .where(
            Invite.account_id == account_id,
            col(Invite.accepted_at).is_(None),
            col(Invite.revoked_at).is_(None),
            col(Invite.expires_at) > utcnow(),
        )
        .order_by(col(Invite.id))
    ).all()
    return [InviteRow(i.public_id, i.email, i.role, i.expires_at) for i in rows]


def invite_member(*, session: Session, actor: Actor, email: str, role: str) -> CreatedInvite:
    """Invite ``email`` with ``role``; emails a signed link that expires after INVITE_TTL_HOURS."""
    require(actor, Permission.MANAGE_TEAM)
    email = normalize_email(email)
    parsed_role = _assignable_role(role)
    already = session.exec(
        select(Membership.id)
        .join(User, col(User.id) == col(Membership.user_id))
        .where(Membership.account_id == actor.account_id, User.email == email)
    ).first()
    if already is not None:
        raise Conflict(f"{email} is already a member of this account.", field="email")
    now = utcnow()
    # A new invite to the same address replaces the pending one, so only the latest link works.
    for pending in session.exec(
        select(Invite).where(
            Invite.account_id == actor.account_id,
            Invite.email == email,
            col(Invite.accepted_at).is_(None),
            col(Invite.revoked_at).is_(None),
        )
    ).all():
        pending.revoked_at = now
        session.add(pending)
    ttl = timedelta(hours=get_settings().invite_ttl_hours)
    invite = Invite(
        public_id=new_public_id("inv"),
        account_id=actor.account_id,
        email=email,
        role=parsed_role,
        invited_by_user_id=actor.user_id,
        expires_at=now + ttl,
    )
    session.add(invite)
    session.flush()
    link = invite_url(sign_token(invite.public_id, ttl_seconds=int(ttl.total_seconds())))
    account = session.get(Account, actor.account_id)
    inviter = session.get(User, actor.user_id)
    assert account is not None and inviter is not None
    try:
        send_email(_invite_email(account.name, inviter.email, email, parsed_role, link))
    except EmailSendError as error:
        # The transaction rolls back: no invitation exists that nobody was told about.
        raise ServiceUnavailable(f"The invitation email could not be sent ({error}); try again later.") from error
    return CreatedInvite(InviteRow(invite.public_id, email, invite.role, invite.expires_at), link)


def _invite_email(account_name: str, inviter: str, email: str, role: Role, link: str) -> OutgoingEmail:
    hours = get_settings().invite_ttl_hours
    text = (
        f"{inviter} invited you to join {account_name} on PaidSignal as {role.value}.\n\n"
        f"Accept the invitation: {link}\n\nThe link works for {hours} hours."
    )
    html = (
        f"<p>{escape(inviter)} invited you to join <b>{escape(account_name)}</b> on PaidSignal as "
        f'{role.value}.</p><p><a href="{escape(link)}">Accept the invitation</a></p>'
        f"<p>The link works for {hours} hours.</p>"
    )
    return OutgoingEmail(to=[email], subject=f"Join {account_name} on PaidSignal", text=text, html=html)


def revoke_invite(*, session: Session, actor: Actor, invite_public_id: str) -> None:
    require(actor, Permission.MANAGE_TEAM)
    invite = session.exec(
        select(Invite).where(Invite.public_id == invite_public_id, Invite.account_id == actor.account_id)
    ).first()
    if invite is None:
        raise NotFound("Invite not found.")
    invite.revoked_at = utcnow()
    session.add(invite)


def _open_invite(session: Session, token: str) -> Invite:
    try:
        public_id = verify_token(token)
    except BadToken as error:
        raise ValidationFailed(f"This invitation {str(error).removeprefix('this link ')}.") from error
    invite = session.exec(select(Invite).where(Invite.public_id == public_id)).first()
    if invite is None or invite.revoked_at is not None:
        raise NotFound("This invitation was withdrawn; ask for a new one.")
    if invite.accepted_at is not None:
        raise Conflict("This invitation was already accepted; log in to continue.")
    if invite.expires_at <= utcnow():
        raise ValidationFailed("This invitation has expired; ask for a new one.")
    return invite


def describe_invite(*, session: Session, token: str) -> InviteView:
    invite = _open_invite(session, token)
    account = session.get(Account, invite.account_id)
    assert account is not None
    exists = session.exec(select(User.id).where(User.email == invite.email)).first() is not None
    return InviteView(account.name, invite.email, invite.role, exists)


def accept_invite(*, session: Session, token: str, password: str, ip: str = "") -> tuple[User, Account]:
    """Join the account: an existing user proves it with their password; a new one chooses it."""
    invite = _open_invite(session, token)
    user = session.exec(select(User).where(User.email == invite.email)).first()
    if user is None:
        user = create_user(session=session, email=invite.email, password=password)
    else:
        # A password check like a login, so a link cannot be used to guess passwords faster than login allows.
        check_login_rate(invite.email, ip)
        if not verify_password(password, user.password_hash):
            raise AuthenticationFailed(f"That password is wrong for {invite.email}.", field="password")
    assert user.id is not None
    exists = session.exec(
        select(Membership.id).where(Membership.account_id == invite.account_id, Membership.user_id == user.id)
    ).first()
    if exists is None:
        session.add(Membership(account_id=invite.account_id, user_id=user.id, role=invite.role))
    invite.accepted_at = utcnow()
    session.add(invite)
    session.flush()
    account = session.get(Account, invite.account_id)
    assert account is not None
    return user, account


def _member(session: Session, account_id: int, user_public_id: str) -> Membership:
    membership = session.exec(
        select(Membership)
        .join(User, col(User.id) == col(Membership.user_id))
        .where(Membership.account_id == account_id, User.public_id == user_public_id)
    ).first()
    if membership is None:
        raise NotFound("Member not found.")
    return membership


def change_role(*, session: Session, actor: Actor, user_public_id: str, role: str) -> None:
    require(actor, Permission.MANAGE_TEAM)
    new_role = _assignable_role(role)
    membership = _member(session, actor.account_id, user_public_id)
    if membership.role == Role.OWNER.value:
        raise PermissionDenied("The owner's role cannot be changed.")
    if membership.user_id == actor.user_id:
        raise PermissionDenied("You cannot change your own role; ask another admin or the owner.")
    membership.role = new_role
    session.add(membership)


def remove_member(*, session: Session, actor: Actor, user_public_id: str) -> None:
    require(actor, Permission.MANAGE_TEAM)
    membership = _member(session, actor.account_id, user_public_id)
    if membership.role == Role.OWNER.value:
        raise PermissionDenied("The owner cannot be removed from the account.")
    session.delete(membership)
