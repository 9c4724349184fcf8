from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from sqlmodel import Session, select

from app.models import Membership, Role
from app.services import accounts, team
from app.services.crypto import sign_token
from app.services.errors import AuthenticationFailed, Conflict, NotFound, PermissionDenied, ValidationFailed
from tests.utils.factories import PASSWORD, add_member, make_owner


def _link_token(link: str) -> str:
    return link.rsplit("/", 1)[-1]


def test_invite_emails_a_signed_link_and_a_new_user_accepts(db: Session, outbox: Path) -> None:
    account, _, owner = make_owner(db, name="Acme")
    created = team.invite_member(session=db, actor=owner, email="New@Example.com", role="marketer")
    db.commit()
    assert created.link.startswith("http://localhost:3000/invite/")
    [eml] = list(outbox.glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"] == "new@example.com" and "Acme" in message["Subject"]
    assert created.link in message.get_body(("plain",)).get_content()
    assert created.link in message.get_body(("html",)).get_content()

    token = _link_token(created.link)
    view = team.describe_invite(session=db, token=token)
    assert (view.account_name, view.email, view.role, view.user_exists) == (
        "Acme",
        "new@example.com",
        "marketer",
        False,
    )
    user, joined = team.accept_invite(session=db, token=token, password=PASSWORD)
    db.commit()
    assert joined.id == account.id
    members = {m.email: m.role for m in team.list_members(session=db, account_id=account.id)}
    assert members["new@example.com"] == "marketer"
    with pytest.raises(Conflict, match="already accepted"):
        team.accept_invite(session=db, token=token, password=PASSWORD)
    assert team.list_invites(session=db, account_id=account.id) == []
    assert user.email == "new@example.com"


def test_existing_user_accepts_with_their_password(db: Session, outbox: Path) -> None:
    _, _, owner = make_owner(db)
    make_owner(db, email="elsewhere@example.com")
    created = team.invite_member(session=db, actor=owner, email="elsewhere@example.com", role="viewer")
    token = _link_token(created.link)
    assert team.describe_invite(session=db, token=token).user_exists
    with pytest.raises(AuthenticationFailed):
        team.accept_invite(session=db, token=token, password="not the password")
    user, _ = team.accept_invite(session=db, token=token, password=PASSWORD)
    assert len(accounts.user_accounts(session=db, user_id=user.id)) == 2


def test_forged_expired_and_replaced_invites_are_refused(db: Session, outbox: Path) -> None:
    _, _, owner = make_owner(db)
    first = team.invite_member(session=db, actor=owner, email="x@example.com", role="viewer")
    second = team.invite_member(session=db, actor=owner, email="x@example.com", role="admin")
    with pytest.raises(NotFound, match="withdrawn"):
        team.describe_invite(session=db, token=_link_token(first.link))
    assert team.describe_invite(session=db, token=_link_token(second.link)).role == "admin"

    forged = _link_token(second.link)[:-2] + "xx"
    with pytest.raises(ValidationFailed, match="not valid"):
        team.describe_invite(session=db, token=forged)
    expired = sign_token(second.invite.public_id, ttl_seconds=-10)
    with pytest.raises(ValidationFailed, match="expired"):
        team.describe_invite(session=db, token=expired)


def test_invite_rules(db: Session, outbox: Path) -> None:
    account, owner_user, owner = make_owner(db)
    _, viewer = add_member(db, account, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        team.invite_member(session=db, actor=viewer, email="a@example.com", role="viewer")
    with pytest.raises(ValidationFailed, match="Role must be"):
        team.invite_member(session=db, actor=owner, email="a@example.com", role="owner")
    with pytest.raises(Conflict, match="already a member"):
        team.invite_member(session=db, actor=owner, email=owner_user.email, role="viewer")


def test_change_role_and_remove_member(db: Session) -> None:
    account, owner_user, owner = make_owner(db)
    member, _ = add_member(db, account, Role.VIEWER)
    admin_user, admin = add_member(db, account, Role.ADMIN)
    team.change_role(session=db, actor=admin, user_public_id=member.public_id, role="marketer")
    db.commit()
    assert {m.email: m.role for m in team.list_members(session=db, account_id=account.id)}[member.email] == "marketer"

    with pytest.raises(PermissionDenied, match="owner"):
        team.change_role(session=db, actor=admin, user_public_id=owner_user.public_id, role="viewer")
    with pytest.raises(PermissionDenied, match="owner cannot be removed"):
        team.remove_member(session=db, actor=admin, user_public_id=owner_user.public_id)
    with pytest.raises(PermissionDenied, match="your own role"):
        team.change_role(session=db, actor=admin, user_public_id=admin_user.public_id, role="viewer")

    team.remove_member(session=db, actor=owner, user_public_id=member.public_id)
    db.commit()
    assert db.exec(select(Membership).where(Membership.user_id == member.id)).first() is None


def test_marketer_cannot_manage_team(db: Session) -> None:
    account, _, _ = make_owner(db)
    other, _ = add_member(db, account, Role.VIEWER)
    _, marketer = add_member(db, account, Role.MARKETER)
    with pytest.raises(PermissionDenied, match="marketer"):
        team.change_role(session=db, actor=marketer, user_public_id=other.public_id, role="admin")
    with pytest.raises(PermissionDenied):
        team.remove_member(session=db, actor=marketer, user_public_id=other.public_id)


def test_team_services_do_not_reach_into_other_accounts(db: Session, outbox: Path) -> None:
    _, _, owner_a = make_owner(db)
    account_b, _, owner_b = make_owner(db)
    member_b, _ = add_member(db, account_b, Role.VIEWER)
    invite_b = team.invite_member(session=db, actor=owner_b, email="b@example.com", role="viewer")
    with pytest.raises(NotFound):
        team.change_role(session=db, actor=owner_a, user_public_id=member_b.public_id, role="admin")
    with pytest.raises(NotFound):
        team.remove_member(session=db, actor=owner_a, user_public_id=member_b.public_id)
    with pytest.raises(NotFound):
        team.revoke_invite(session=db, actor=owner_a, invite_public_id=invite_b.invite.public_id)
    assert [m.email for m in team.list_members(session=db, account_id=owner_a.account_id)] != [member_b.email]


def test_an_invite_link_cannot_guess_passwords_faster_than_login(db: Session, outbox: Path) -> None:
    from app.services.errors import RateLimited

    _, _, owner = make_owner(db)
    make_owner(db, email="victim@example.com")
    token = _link_token(team.invite_member(session=db, actor=owner, email="victim@example.com", role="viewer").link)
    # The link's password checks and logins share one count: half the guesses on each do not double them.
    for n in range(5):
        with pytest.raises(AuthenticationFailed):
            accounts.authenticate(session=db, email="victim@example.com", password=f"login-guess-{n}", ip="10.1.1.1")
        with pytest.raises(AuthenticationFailed):
            team.accept_invite(session=db, token=token, password=f"guess-number-{n}", ip="10.1.1.1")
    with pytest.raises(RateLimited):
        team.accept_invite(session=db, token=token, password=PASSWORD, ip="10.1.1.1")


def test_a_failed_invitation_email_leaves_no_invitation(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.integrations.email import EmailSendError
    from app.services.errors import ServiceUnavailable

    account, _, owner = make_owner(db)

    def refuse(_email: object) -> None:
        raise EmailSendError("SMTP delivery to localhost:587 failed: connection refused")

    monkeypatch.setattr(team, "send_email", refuse)
    with pytest.raises(ServiceUnavailable, match="could not be sent"):
        team.invite_member(session=db, actor=owner, email="new@example.com", role="viewer")
    db.rollback()
    assert team.list_invites(session=db, account_id=account.id) == []
