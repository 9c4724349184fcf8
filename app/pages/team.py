"""Team page: members and their roles, invitations."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.forms import labelled, option_select
from app.components.layout import confirm_button, field, form_error, template
from app.state.team import INVITABLE_ROLES, InviteItem, MemberItem, TeamState

ROLE_NAMES = [r.value for r in INVITABLE_ROLES]


def member_row(member: MemberItem) -> rx.Component:
    editable = TeamState.can_manage_team & ~member["is_owner"] & ~member["is_you"]
    return rx.table.row(
        rx.table.cell(member["email"]),
        rx.table.cell(
            rx.cond(
                editable,
                rx.select(
                    ROLE_NAMES,
                    value=member["role"],
                    on_change=lambda role: TeamState.change_role(member["user_public_id"], role),
                    size="1",
                ),
                rx.badge(member["role"]),
            )
        ),
        rx.table.cell(rx.text(member["joined_at"], size="1")),
        rx.table.cell(
            rx.cond(
                editable,
                confirm_button(
                    "Remove",
                    title="Remove this member?",
                    description="They lose access to this account at once.",
                    confirm_label="Remove member",
                    on_confirm=TeamState.remove_member(member["user_public_id"]),
                ),
            )
        ),
        class_name="member-row",
    )


def invite_row(invite: InviteItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(invite["email"]),
        rx.table.cell(rx.badge(invite["role"], variant="outline")),
        rx.table.cell(rx.text(invite["expires_at"], size="1")),
        rx.table.cell(
            rx.cond(
                TeamState.can_manage_team,
                rx.button(
                    "Withdraw",
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    on_click=TeamState.revoke_invite(invite["public_id"]),
                ),
            )
        ),
        class_name="invite-row",
    )


def invite_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Invite a member", size="3"),
                form_error(TeamState.error),
                rx.hstack(
                    field("Email", "email", type="email", required=True),
                    rx.vstack(
                        rx.text("Role", size="2", weight="medium"),
                        rx.select(
                            ROLE_NAMES,
                            value=TeamState.invite_role,
                            on_change=TeamState.set_invite_role,
                            id="invite-role",
                        ),
                        spacing="1",
                    ),
                    rx.button("Send invitation", type="submit", id="send-invite"),
                    align="end",
                    width="100%",
                ),
                rx.text(
                    "Admins manage keys and the team; marketers edit campaigns; viewers only look.",
                    size="1",
                    color_scheme="gray",
                ),
                rx.cond(
                    TeamState.last_invited != "",
                    rx.text(
                        "Invitation sent to ",
                        rx.text.strong(TeamState.last_invited),
                        ".",
                        size="2",
                        id="invite-sent",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=TeamState.invite,
            reset_on_submit=True,
        ),
        width="100%",
    )


def locale_card() -> rx.Component:
    """The account's settings: how numbers and money read on its pages and in its e-mails."""
    return rx.card(
        rx.vstack(
            rx.heading("Account settings", size="3"),
            rx.hstack(
                labelled(
                    "Number and money format",
                    option_select(
                        TeamState.locale_options,
                        value=TeamState.locale_choice,
                        on_change=TeamState.set_locale_choice,
                        id="account-locale",
                        disabled=~TeamState.can_manage_account,
                    ),
                    min_width="22em",
                ),
                rx.cond(
                    TeamState.can_manage_account,
                    rx.button("Save", on_click=TeamState.save_locale, id="save-locale"),
                ),
                align="end",
                spacing="3",
            ),
            rx.text(
                "Pages and alert e-mails use it; CSV files and the API keep plain numbers and minor units. "
                "Owners and admins change it.",
                size="1",
                color_scheme="gray",
            ),
            rx.hstack(
                labelled(
                    "Winner probability (%)",
                    rx.input(
                        value=TeamState.winner_choice,
                        on_change=TeamState.set_winner_choice,
                        id="winner-probability",
                        disabled=~TeamState.can_manage_account,
                        width="6em",
                    ),
                ),
                rx.cond(
                    TeamState.can_manage_account,
                    rx.button("Save", on_click=TeamState.save_winner_probability, id="save-winner-probability"),
                ),
                align="end",
                spacing="3",
            ),
            rx.text(
                "Versions compared calls a version the winner only when it is better with at least this probability "
                "(51–99, default 95); alerts and the assistant use it too.",
                size="1",
                color_scheme="gray",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="account-settings",
    )


@template(routes.SETTINGS_TEAM, "Team", on_load=TeamState.load_team)
def team_page() -> rx.Component:
    return rx.vstack(
        locale_card(),
        rx.cond(TeamState.can_manage_team, invite_form()),
        rx.heading("Members", size="3"),
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in ("Email", "Role", "Joined", "")])),
            rx.table.body(rx.foreach(TeamState.members, member_row)),
            width="100%",
            id="members-table",
        ),
        rx.cond(
            TeamState.invites.length() > 0,
            rx.vstack(
                rx.heading("Pending invitations", size="3"),
                rx.table.root(
                    rx.table.header(
                        rx.table.row(*[rx.table.column_header_cell(h) for h in ("Email", "Role", "Expires", "")])
                    ),
                    rx.table.body(rx.foreach(TeamState.invites, invite_row)),
                    width="100%",
                    id="invites-table",
                ),
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )
