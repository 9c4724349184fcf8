"""A shop's Stripe connection (key and webhook signing secret, encrypted at rest) and its synced catalogue.

Products and prices are copied from Stripe on connect, on demand, and from ``product.*`` / ``price.*`` webhooks,
so metrics can be cut by product and price and checkout can refuse unknown prices before calling Stripe.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from sqlmodel import Session, col, func, select

from app import runtime
from app.integrations import stripe as stripe_api
from app.integrations.stripe import StripeCallFailed
from app.models import Account, StripeConnection, StripePrice, StripeProduct, StripeSync
from app.models.base import utcnow
from app.services.crypto import decrypt_secret, encrypt_secret
from app.services.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from app.services.permissions import Actor, Permission, require
from app.settings import get_settings

# What the shop selects when it adds the webhook endpoint in Stripe (Dashboard → Developers → Webhooks).
WEBHOOK_EVENTS: tuple[str, ...] = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
    "product.created",
    "product.updated",
    "product.deleted",
    "price.created",
    "price.updated",
    "price.deleted",
)

_KEY_RE = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9]{8,}$")
_WHSEC_RE = re.compile(r"^whsec_[A-Za-z0-9+/=_-]{8,}$")


@dataclass(frozen=True)
class ConnectionRow:
    """What the settings page shows; never the key itself."""

    stripe_account_id: str
    stripe_account_name: str
    key_hint: str
    livemode: bool
    has_webhook_secret: bool
    connected_at: datetime
    catalog_synced_at: datetime | None
    last_webhook_at: datetime | None
    products: int
    prices: int


@dataclass(frozen=True)
class SyncResult:
    products: int
    prices: int


@dataclass(frozen=True)
class ConnectResult:
    connection: ConnectionRow
    sync_error: str  # "" when the catalogue synced


@dataclass(frozen=True)
class PriceRow:
    stripe_id: str
    product_stripe_id: str
    product_name: str
    nickname: str
    currency: str
    unit_amount: int | None
    recurring_interval: str | None
    recurring_interval_count: int | None
    active: bool


def webhook_url(account_public_id: str) -> str:
    """The endpoint the shop registers in Stripe for this account."""
    return f"{get_settings().public_url}/api/v1/stripe/webhook/{account_public_id}"


def _hint(key: str) -> str:
    return f"{key[:8]}…{key[-4:]}"


def _check_key(secret_key: str) -> str:
    key = secret_key.strip()
    if key.startswith("pk_"):
        raise ValidationFailed(
            "That is a publishable key (pk_…); enter a secret key (sk_…) or a restricted key (rk_…).",
            field="secret_key",
        )
    if not _KEY_RE.match(key):
        raise ValidationFailed(
            "Enter a Stripe secret key (sk_test_… / sk_live_…) or restricted key (rk_test_… / rk_live_…).",
            field="secret_key",
        )
    return key


def _check_webhook_secret(webhook_secret: str) -> str:
    secret = webhook_secret.strip()
    if secret and not _WHSEC_RE.match(secret):
        raise ValidationFailed(
            "The webhook signing secret starts with whsec_; copy it from the endpoint's page in Stripe.",
            field="webhook_secret",
        )
    return secret


def stripe_error(error: StripeCallFailed, *, field: str | None = None) -> Exception:
    """A Stripe failure as an answer for the shop: a rejected key, Stripe being down, or a refused request."""
    if error.bad_key:
        return Conflict(
            f"Stripe refused the connected key ({error}). Reconnect Stripe with a valid key in Settings → Stripe.",
            code="stripe_key_rejected",
        )
    if error.unreachable:
        return ServiceUnavailable(f"Stripe did not answer; try again in a minute. ({error})")
    return ValidationFailed(f"Stripe refused the request: {error}", field=field or error.param or None)


def _connection(session: Session, account_id: int) -> StripeConnection | None:
    return session.exec(select(StripeConnection).where(StripeConnection.account_id == account_id)).first()


def require_connection(session: Session, account_id: int) -> StripeConnection:
    connection = _connection(session, account_id)
    if connection is None:
        raise Conflict(
            "Stripe is not connected for this account; an admin connects it in Settings → Stripe.",
            code="stripe_not_connected",
        )
    return connection


def client_for(connection: StripeConnection) -> stripe.StripeClient:
    return stripe_api.client(decrypt_secret(connection.secret_key_encrypted))


def _row(session: Session, connection: StripeConnection) -> ConnectionRow:
    products = session.exec(
        select(func.count()).where(StripeProduct.account_id == connection.account_id, ~col(StripeProduct.deleted))
    ).one()
    prices = session.exec(
        select(func.count()).where(StripePrice.account_id == connection.account_id, ~col(StripePrice.deleted))
    ).one()
    return ConnectionRow(
        stripe_account_id=connection.stripe_account_id,
        stripe_account_name=connection.stripe_account_name,
        key_hint=connection.key_hint,
        livemode=connection.livemode,
        has_webhook_secret=bool(connection.webhook_secret_encrypted),
        connected_at=connection.connected_at,
        catalog_synced_at=connection.catalog_synced_at,
        last_webhook_at=connection.last_webhook_at,
        products=int(products),
        prices=int(prices),
    )


def connection_status(*, session: Session, account_id: int) -> ConnectionRow | None:
    connection = _connection(session, account_id)
    return _row(session, connection) if connection else None


def _identify(client: stripe.StripeClient) -> tuple[str, str]:
    """The Stripe account behind a key: its id and display name. Restricted keys may not read the account: then a
    cheap call the key needs anyway (listing prices) proves it works."""
    try:
        account = stripe_api.as_dict(stripe_api.call(client.v1.accounts.retrieve_current))
    except StripeCallFailed as error:
        if error.status != 403:
            raise
        stripe_api.call(client.v1.prices.list, params={"limit": 1})
        return "", ""
    settings = account.get("settings") or {}
    profile = account.get("business_profile") or {}
    name = ((settings.get("dashboard") or {}).get("display_name") or profile.get("name") or "").strip()
    return str(account.get("id") or ""), name[:200]


def connect_stripe(*, session: Session, actor: Actor, secret_key: str, webhook_secret: str = "") -> ConnectResult:
    """Check the key with Stripe, store it (and the webhook secret) encrypted, then sync the catalogue."""
    require(actor, Permission.MANAGE_STRIPE)
    key = _check_key(secret_key)
    secret = _check_webhook_secret(webhook_secret)
    client = stripe_api.client(key)
    try:
        account_id, name = _identify(client)
    except StripeCallFailed as error:
        if error.bad_key:
            raise ValidationFailed(f"Stripe rejected this key: {error}", field="secret_key") from error
        raise stripe_error(error) from error
    connection = _connection(session, actor.account_id) or StripeConnection(
        account_id=actor.account_id, secret_key_encrypted="", key_hint=""
    )
    connection.secret_key_encrypted = encrypt_secret(key)
    connection.key_hint = _hint(key)
    connection.livemode = "_live_" in key
    connection.stripe_account_id = account_id
    connection.stripe_account_name = name
    connection.connected_at = utcnow()
    if secret:
        connection.webhook_secret_encrypted = encrypt_secret(secret)
    session.add(connection)
    session.flush()
    _request_history(session, actor.account_id)
    runtime.current().webhook_secrets.clear()
    sync_error = ""
    try:
        _sync(session, connection, client)
    except StripeCallFailed as error:
        sync_error = f"The key works, but the products and prices could not be synced yet: {error}"
    session.commit()
    return ConnectResult(_row(session, connection), sync_error)


def _request_history(session: Session, account_id: int) -> None:
    """A first connection asks for the history import (services/stripe_sync/backfill.py runs it)."""
    if session.exec(select(StripeSync.id).where(StripeSync.account_id == account_id)).first() is None:
        days = get_settings().stripe_backfill_days
        session.add(
            StripeSync(account_id=account_id, backfill_status="requested", backfill_days=days,
                       backfill_requested_at=utcnow())
        )  # fmt: skip


def set_webhook_secret(*, session: Session, actor: Actor, webhook_secret: str) -> ConnectionRow:
    require(actor, Permission.MANAGE_STRIPE)
    connection = require_connection(session, actor.account_id)
    secret = _check_webhook_secret(webhook_secret)
    if not secret:
        raise ValidationFailed("Paste the endpoint's signing secret (whsec_…).", field="webhook_secret")
    connection.webhook_secret_encrypted = encrypt_secret(secret)
    session.add(connection)
    session.commit()
    runtime.current().webhook_secrets.clear()
    return _row(session, connection)


def disconnect_stripe(*, session: Session, actor: Actor) -> None:
    """Forget the key and the secret. Orders, payments and the catalogue stay: they are the shop's history."""
    require(actor, Permission.MANAGE_STRIPE)
    connection = require_connection(session, actor.account_id)
    session.delete(connection)
    session.commit()
    runtime.current().webhook_secrets.clear()


def sync_catalog(*, session: Session, actor: Actor) -> SyncResult:
    """Copy every product and price from Stripe (the "Sync now" button)."""
    require(actor, Permission.EDIT_MARKETING)
    connection = require_connection(session, actor.account_id)
    try:
        result = _sync(session, connection, client_for(connection))
    except StripeCallFailed as error:
        raise stripe_error(error) from error
    session.commit()
    return result


def _sync(session: Session, connection: StripeConnection, client: stripe.StripeClient) -> SyncResult:
    products = 0
    for product in stripe_api.call(client.v1.products.list, params={"limit": 100}).auto_paging_iter():
        apply_product(session, connection.account_id, stripe_api.as_dict(product), force=True)
        products += 1
    prices = 0
    for price in stripe_api.call(client.v1.prices.list, params={"limit": 100}).auto_paging_iter():
        apply_price(session, connection.account_id, stripe_api.as_dict(price), force=True)
        prices += 1
    connection.catalog_synced_at = utcnow()
    session.add(connection)
    return SyncResult(products, prices)


def _version(obj: dict[str, Any], event_created: int | None) -> int:
    return int(event_created or obj.get("updated") or obj.get("created") or 0)


def _newer(
    session: Session, table: type[Any], account_id: int, stripe_id: str, version: int, force: bool
) -> tuple[Any, int] | None:
    """(the stored row or None, the snapshot's version) when the snapshot should be applied; None when it is
    older than what is stored (or has no id)."""
    if not stripe_id:
        return None
    row = session.exec(select(table).where(table.account_id == account_id, table.stripe_id == stripe_id)).first()
    if row is not None and not force and version < row.stripe_updated:
        return None
    return row, version


def apply_product(
    session: Session,
    account_id: int,
    obj: dict[str, Any],
    *,
    event_created: int | None = None,
    deleted: bool = False,
    force: bool = False,
) -> bool:
    """Upsert a product snapshot; an older one (by event time) never overwrites a newer. True when applied."""
    stripe_id = str(obj.get("id") or "")
    found = _newer(session, StripeProduct, account_id, stripe_id, _version(obj, event_created), force)
    if found is None:
        return False
    row, version = found
    row = row or StripeProduct(account_id=account_id, stripe_id=stripe_id)
    row.name = str(obj.get("name") or row.name or "")[:250]
    row.active = bool(obj.get("active", True)) and not deleted
    row.deleted = deleted or bool(obj.get("deleted"))
    row.stripe_updated = max(version, row.stripe_updated if not force else 0)
    row.synced_at = utcnow()
    session.add(row)
    return True


def apply_price(
    session: Session,
    account_id: int,
    obj: dict[str, Any],
    *,
    event_created: int | None = None,
    deleted: bool = False,
    force: bool = False,
) -> bool:
    """Upsert a price snapshot (also legacy ``plan`` objects); older snapshots never overwrite newer ones."""
    stripe_id = str(obj.get("id") or "")
    if not obj.get("currency"):
        return False
    found = _newer(session, StripePrice, account_id, stripe_id, _version(obj, event_created), force)
    if found is None:
        return False
    row, version = found
    product = obj.get("product")
    if isinstance(product, dict):
        apply_product(session, account_id, product, event_created=event_created)
        product = product.get("id")
    recurring = obj.get("recurring")
    if recurring is None and obj.get("object") == "plan":
        recurring = {"interval": obj.get("interval"), "interval_count": obj.get("interval_count")}
    amount = obj.get("unit_amount", obj.get("amount"))
    row = row or StripePrice(account_id=account_id, stripe_id=stripe_id, currency=str(obj["currency"]).upper())
    row.product_stripe_id = str(product or "")
    row.nickname = str(obj.get("nickname") or "")[:250]
    row.currency = str(obj["currency"]).upper()
    row.unit_amount = int(amount) if amount is not None else None
    row.recurring_interval = (recurring or {}).get("interval")
    row.recurring_interval_count = (recurring or {}).get("interval_count")
    row.active = bool(obj.get("active", True)) and not deleted
    row.deleted = deleted or bool(obj.get("deleted"))
    row.stripe_updated = max(version, row.stripe_updated if not force else 0)
    row.synced_at = utcnow()
    session.add(row)
    return True


def list_prices(*, session: Session, account_id: int, include_inactive: bool = False) -> list[PriceRow]:
    query = (
        select(StripePrice, StripeProduct.name)
        .join(
            StripeProduct,
            (col(StripeProduct.account_id) == col(StripePrice.account_id))
            & (col(StripeProduct.stripe_id) == col(StripePrice.product_stripe_id)),
            isouter=True,
        )
        .where(StripePrice.account_id == account_id, ~col(StripePrice.deleted))
        .order_by(col(StripeProduct.name), col(StripePrice.unit_amount))
    )
    if not include_inactive:
        query = query.where(col(StripePrice.active))
    return [
        PriceRow(
            stripe_id=price.stripe_id,
            product_stripe_id=price.product_stripe_id,
            product_name=name or price.product_stripe_id,
            nickname=price.nickname,
            currency=price.currency,
            unit_amount=price.unit_amount,
            recurring_interval=price.recurring_interval,
            recurring_interval_count=price.recurring_interval_count,
            active=price.active,
        )
        for price, name in session.exec(query).all()
    ]


def fetch_price(session: Session, connection: StripeConnection, price_id: str) -> StripePrice | None:
    """A price not synced yet: ask Stripe once and keep it. None when Stripe has no such price."""
    client = client_for(connection)
    try:
        obj = stripe_api.as_dict(stripe_api.call(client.v1.prices.retrieve, price_id))
    except StripeCallFailed as error:
        if error.status == 404 or error.code == "resource_missing":
            return None
        raise stripe_error(error) from error
    apply_price(session, connection.account_id, obj)
    session.flush()
    return session.exec(
        select(StripePrice).where(StripePrice.account_id == connection.account_id, StripePrice.stripe_id == price_id)
    ).first()


# --- the webhook hot path -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookTarget:
    account_id: int
    secret: str  # "" when the shop has not entered its signing secret yet


class WebhookSecretCache:
    """Account public id → (account id, decrypted signing secret) for KEY_CACHE_SECONDS: verifying a webhook does
    not query and decrypt on every delivery. Changes in this process clear it at once."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, WebhookTarget]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, account_public_id: str) -> WebhookTarget:
        with self._lock:
            entry = self._entries.get(account_public_id)
        if entry is not None and entry[0] >= time.monotonic():
            return entry[1]
        row = session.exec(
            select(Account.id, StripeConnection.webhook_secret_encrypted)
            .join(StripeConnection, col(StripeConnection.account_id) == Account.id)
            .where(Account.public_id == account_public_id)
        ).first()
        if row is None:
            raise NotFound("No account with Stripe connected has this id; check the webhook URL.")
        account_id, encrypted = row
        assert account_id is not None  # a stored row
        target = WebhookTarget(account_id, decrypt_secret(encrypted) if encrypted else "")
        ttl = get_settings().key_cache_seconds
        if ttl > 0:
            with self._lock:
                if len(self._entries) > 10_000:
                    self._entries.clear()
                self._entries[account_public_id] = (time.monotonic() + ttl, target)
        return target

    def cached(self, account_public_id: str) -> WebhookTarget | None:
        """The target if this process has it and it is fresh, without the database (None: ``get`` it)."""
        with self._lock:
            entry = self._entries.get(account_public_id)
        return entry[1] if entry is not None and entry[0] >= time.monotonic() else None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def webhook_target(session: Session, account_public_id: str) -> WebhookTarget:
    """The account and signing secret a webhook URL names, from this process's cache (app/runtime.py).

    Raises:
        NotFound: no account with Stripe connected has this id.
    """
    return runtime.current().webhook_secrets.get(session, account_public_id)
