"""Who may do what in an account. Every mutating service checks here; hiding a button is not a check."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.models import Role
from app.services.errors import PermissionDenied

ROLE_RANK: dict[Role, int] = {Role.VIEWER: 1, Role.MARKETER: 2, Role.ADMIN: 3, Role.OWNER: 4}


class Permission(StrEnum):
    VIEW = "view the account"
    EDIT_MARKETING = "edit campaigns and pixels"
    EDIT_ALERTS = "edit alert rules"
    MANAGE_KEYS = "manage API keys"
    MANAGE_TEAM = "manage the team"
    MANAGE_STRIPE = "connect and disconnect Stripe"
    VIEW_USAGE = "view usage and costs"
    MANAGE_ACCOUNT = "change the account's settings"


MINIMUM_ROLE: dict[Permission, Role] = {
    Permission.VIEW: Role.VIEWER,
    Permission.EDIT_MARKETING: Role.MARKETER,
    Permission.EDIT_ALERTS: Role.MARKETER,
    Permission.MANAGE_KEYS: Role.ADMIN,
    Permission.MANAGE_TEAM: Role.ADMIN,
    Permission.MANAGE_STRIPE: Role.ADMIN,
    Permission.VIEW_USAGE: Role.ADMIN,
    Permission.MANAGE_ACCOUNT: Role.ADMIN,
}


@dataclass(frozen=True)
class Actor:
    """A signed-in user acting inside one account with one role."""

    user_id: int
    account_id: int
    role: Role
    is_staff: bool = False

    def can(self, permission: Permission) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[MINIMUM_ROLE[permission]]


def key_actor(account_id: int) -> Actor:
    """What a secret API key may do in its account: marketer rights (campaigns, pixels), not keys or the team."""
    return Actor(user_id=0, account_id=account_id, role=Role.MARKETER)


def require(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        needed = MINIMUM_ROLE[permission]
        if needed is Role.OWNER:
            raise PermissionDenied(f"Only the owner can {permission.value}.")
        allowed = [r.value for r in sorted(ROLE_RANK, key=ROLE_RANK.__getitem__) if ROLE_RANK[r] >= ROLE_RANK[needed]]
        raise PermissionDenied(
            f"Your role ({actor.role.value}) cannot {permission.value}; ask someone with the "
            f"{' or '.join(allowed)} role in this account."
        )
