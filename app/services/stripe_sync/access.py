"""Shared by the catch-up, the backfill and the reconciliation: the account's sync row, its Stripe client, and a
restricted key's missing permission said in words a shop can act on."""

from __future__ import annotations

import re

import stripe
from sqlmodel import Session, select

from app.integrations.stripe import StripeCallFailed
from app.models import StripeConnection, StripeSync
from app.services.errors import ServiceError
from app.services.stripe_connection import client_for, stripe_error

# The Dashboard's name of the permission each list needs (Developers → API keys → edit the restricted key).
PERMISSIONS: dict[str, str] = {
    "events": "Events",
    "balance_transactions": "Balance",
    "charges": "Charges",
    "refunds": "Refunds",
    "disputes": "Disputes",
    "checkout_sessions": "Checkout Sessions",
    "invoices": "Invoices",
}
_RAK = re.compile(r"'(rak_[a-z0-9_]+)'")


class MissingPermission(ServiceError):
    """The restricted key (``rk_…``) may not read what the sync needs; the message names the permission."""

    status_code = 409
    code = "stripe_permission_missing"


def permission_error(error: StripeCallFailed, what: str) -> Exception:
    """A Stripe failure of a list call as the shop's next step. A 403 is a restricted key without the permission
    (Stripe's message names it as ``rak_…_read``): say which Dashboard permission to set to Read."""
    if error.status == 403:
        permission = PERMISSIONS.get(what, what)
        rak = _RAK.search(str(error))
        named = f" (Stripe calls it {rak.group(1)})" if rak else ""
        return MissingPermission(
            f"The connected restricted key cannot read {permission.lower()}: in Stripe, Developers → API keys, edit "
            f"the key and set “{permission}” to Read{named}. Stripe said: {error}"
        )
    return stripe_error(error)


def connection_of(session: Session, account_id: int) -> StripeConnection | None:
    return session.exec(select(StripeConnection).where(StripeConnection.account_id == account_id)).first()


def sync_row(session: Session, account_id: int) -> StripeSync:
    """The account's sync row, created (not yet flushed) when missing."""
    row = session.exec(select(StripeSync).where(StripeSync.account_id == account_id)).first()
    return row or StripeSync(account_id=account_id)


def client(connection: StripeConnection) -> stripe.StripeClient:
    return client_for(connection)
