"""The team page: members and roles, invitations."""

from __future__ import annotations

from typing import Any, TypedDict

import reflex as rx

from app.lib.formatting import format_money
from app.services import accounts as account_service
from app.services import team as team_service
from app.services.team import INVITABLE_ROLES as INVITABLE_ROLES  # for the page
from app.state.base import AppState
from app.state.format import format_time
from app.state.toasts import toast


class MemberItem(TypedDict):
    user_public_id: str
    email: str
    role: str
    joined_at: str
    is_owner: bool
    is_you: bool


class InviteItem(TypedDict):
    public_id: str
    email: str
    role: str
    expires_at: str


class LocaleOption(TypedDict):
    value: str
    label: str  # "German (Germany) · 20.442,50 €"


class TeamState(AppState):
    locale_options: list[LocaleOption] = []
    locale_choice: str = ""
    winner_choice: str = ""  # percent, as typed: how sure a version comparison must be to call a winner
    members: list[MemberItem] = []
    invites: list[InviteItem] = []
    invite_role: str = "marketer"
    # Only the address: the link goes to the invitee by email and nowhere else. Shown to the inviter it would let
    # them accept in the invitee's name (a user with someone else's email address).
    last_invited: str = ""
    error: str = ""

    def _refresh(self) -> None:
        def load(s: Any) -> tuple[list[team_service.MemberRow], list[team_service.InviteRow]]:
            actor = self._actor(s)
            return (
                team_service.list_members(session=s, account_id=actor.account_id),
                team_service.list_invites(session=s, account_id=actor.account_id),
            )

        result, _error = self._run(load)
        members, invites = result or ([], [])
        tz = self.account_timezone
        self.members = [
            MemberItem(
                user_public_id=m.user_public_id,
                email=m.email,
                role=m.role,
                joined_at=format_time(m.joined_at, tz),
                is_owner=m.role == "owner",
                is_you=m.email == self.user_email,
            )
            for m in members
        ]
        self.invites = [
            InviteItem(public_id=i.public_id, email=i.email, role=i.role, expires_at=format_time(i.expires_at, tz))
            for i in invites
        ]

    @rx.event
    def load_team(self) -> None:
        self.error = self.last_invited = ""
        self._refresh()
        self._show_locale()

    def _show_locale(self) -> None:
        threshold, _error = self._run(lambda s: account_service.winner_probability(s, self._actor(s).account_id))
        self.winner_choice = str(round((threshold or 0.95) * 100))
        self.locale_choice = self.account_locale
        self.locale_options = [
            LocaleOption(value=code, label=label) for code, label in account_service.locale_options(self.account_locale)
        ]

    @rx.event
    def set_locale_choice(self, locale: str) -> None:
        self.locale_choice = str(locale)

    @rx.event
    def save_locale(self) -> Any:
        """Owners and admins: how the account's pages and e-mails write numbers and money."""
        saved, error = self._run(
            lambda s: (
                account_service.set_account_locale(session=s, actor=self._actor(s), locale=self.locale_choice).locale
            )
        )
        if error or saved is None:
            self.locale_choice = self.account_locale
            return toast.error(error or "The locale could not be saved.")
        self.account_locale = saved
        self._show_locale()
        return toast.success(f"Saved: amounts now read like {format_money(2044250, 'EUR', saved)}.")

    @rx.event
    def set_winner_choice(self, value: str) -> None:
        self.winner_choice = str(value)

    @rx.event
    def save_winner_probability(self) -> Any:
        """Owners and admins: how sure (percent) "version B beat A" must be before the pages call a winner."""
        text = self.winner_choice.strip().rstrip("%").strip()
        if not text.isdigit():
            return toast.error("Enter a whole percent between 51 and 99, e.g. 95.")
        saved, error = self._run(
            lambda s: (
                account_service.set_winner_probability(
                    session=s, actor=self._actor(s), percent=int(text)
                ).winner_probability
            )
        )
        if error or saved is None:
            return toast.error(error or "The winner probability could not be saved.")
        self.winner_choice = str(saved)
        return toast.success(f"Saved: a version wins when it is better with at least {saved}% probability.")

    @rx.event
    def set_invite_role(self, role: str) -> None:
        self.invite_role = role

    @rx.event
    def invite(self, form: dict[str, Any]) -> Any:
        self.error = self.last_invited = ""
        created, error = self._run(
            lambda s: team_service.invite_member(
                session=s, actor=self._actor(s), email=str(form.get("email", "")), role=self.invite_role
            )
        )
        if error or created is None:
            self.error = error or "The invitation could not be sent."
            return toast.error(self.error)
        self.last_invited = created.invite.email
        self._refresh()
        return toast.success(f"Invitation sent to {created.invite.email}.")

    @rx.event
    def change_role(self, user_public_id: str, role: str) -> Any:
        _, error = self._run(
            lambda s: team_service.change_role(
                session=s, actor=self._actor(s), user_public_id=user_public_id, role=role
            )
        )
        self._refresh()
        return toast.error(error) if error else toast.success(f"Role changed to {role}.")

    @rx.event
    def remove_member(self, user_public_id: str) -> Any:
        _, error = self._run(
            lambda s: team_service.remove_member(session=s, actor=self._actor(s), user_public_id=user_public_id)
        )
        self._refresh()
        return toast.error(error) if error else toast.success("Member removed.")

    @rx.event
    def revoke_invite(self, invite_public_id: str) -> Any:
        _, error = self._run(
            lambda s: team_service.revoke_invite(session=s, actor=self._actor(s), invite_public_id=invite_public_id)
        )
        self._refresh()
        return toast.error(error) if error else toast.success("Invitation withdrawn.")
