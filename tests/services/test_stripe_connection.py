"""Connecting Stripe: the key is checked with Stripe, stored encrypted, and the catalogue synced."""

from __future__ import annotations

import pytest
import stripe
from sqlmodel import Session, select

from app.models import Role, StripeConnection, StripePrice
from app.services import stripe_connection
from app.services.crypto import decrypt_secret
from app.services.errors import Conflict, PermissionDenied, ServiceUnavailable, ValidationFailed
from app.settings import get_settings
from tests.utils.factories import add_member, make_owner
from tests.utils.stripe_fakes import StripeRecorder, stripe_error

KEY = "sk_test_51ConnectTest0000000"


def test_the_api_version_is_pinned_to_what_stripe_python_was_built_for() -> None:
    assert get_settings().stripe_api_version == stripe.api_version


def test_connect_checks_the_key_stores_it_encrypted_and_syncs_the_catalogue(
    db: Session, stripe_api: StripeRecorder
) -> None:
    account, _, owner = make_owner(db)
    product = stripe_api.add_product(name="Sneakers")
    stripe_api.add_price(product=product["id"], unit_amount=4_900)
    stripe_api.add_price(product=product["id"], unit_amount=990, recurring={"interval": "month"})

    result = stripe_connection.connect_stripe(
        session=db, actor=owner, secret_key=KEY, webhook_secret="whsec_abcdefgh12345678"
    )

    assert result.sync_error == ""
    row = result.connection
    assert (row.stripe_account_name, row.products, row.prices, row.livemode) == ("Test Shop", 1, 2, False)
    assert row.key_hint == "sk_test_…0000" and row.has_webhook_secret
    stored = db.exec(select(StripeConnection)).one()
    assert KEY not in stored.secret_key_encrypted and decrypt_secret(stored.secret_key_encrypted) == KEY
    assert {r.authorization for r in stripe_api.requests} == {f"Bearer {KEY}"}
    prices = stripe_connection.list_prices(session=db, account_id=account.id or 0)
    assert sorted((p.product_name, p.unit_amount, p.recurring_interval) for p in prices) == [
        ("Sneakers", 990, "month"),
        ("Sneakers", 4_900, None),
    ]
    assert stripe_connection.webhook_url(account.public_id).endswith(f"/api/v1/stripe/webhook/{account.public_id}")


@pytest.mark.parametrize(
    ("key", "words"),
    [("pk_test_abcdefgh1234", "publishable key"), ("hello", "Stripe secret key"), ("", "Stripe secret key")],
)
def test_keys_that_cannot_be_right_are_refused_before_calling_stripe(
    db: Session, stripe_api: StripeRecorder, key: str, words: str
) -> None:
    _, _, owner = make_owner(db)
    with pytest.raises(ValidationFailed, match=words):
        stripe_connection.connect_stripe(session=db, actor=owner, secret_key=key)
    assert not stripe_api.requests


def test_a_key_stripe_rejects_is_a_field_error(db: Session, stripe_api: StripeRecorder) -> None:
    _, _, owner = make_owner(db)
    stripe_api.fail_next("/v1/account", 401, stripe_error(401, "Invalid API Key provided: sk_test_****0000"))
    with pytest.raises(ValidationFailed, match="Stripe rejected this key") as caught:
        stripe_connection.connect_stripe(session=db, actor=owner, secret_key=KEY)
    assert caught.value.field == "secret_key"
    assert db.exec(select(StripeConnection)).first() is None


def test_a_restricted_key_without_account_access_still_connects(db: Session, stripe_api: StripeRecorder) -> None:
    _, _, owner = make_owner(db)
    stripe_api.fail_next(
        "/v1/account", 403, stripe_error(403, "The provided key does not have access", type="permission_error")
    )
    result = stripe_connection.connect_stripe(session=db, actor=owner, secret_key="rk_test_restricted12345")
    assert result.connection.stripe_account_id == "" and result.sync_error == ""


def test_stripe_down_is_503_and_nothing_is_stored(db: Session, stripe_api: StripeRecorder) -> None:
    _, _, owner = make_owner(db)
    stripe_api.fail_next("/v1/account", 500, times=5)
    with pytest.raises(ServiceUnavailable):
        stripe_connection.connect_stripe(session=db, actor=owner, secret_key=KEY)
    assert db.exec(select(StripeConnection)).first() is None


def test_only_admins_connect_and_disconnect_keeps_the_catalogue(db: Session, stripe_api: StripeRecorder) -> None:
    account, _, owner = make_owner(db)
    _, marketer = add_member(db, account, Role.MARKETER)
    stripe_api.add_price(product="prod_1", unit_amount=100)
    with pytest.raises(PermissionDenied):
        stripe_connection.connect_stripe(session=db, actor=marketer, secret_key=KEY)
    stripe_connection.connect_stripe(session=db, actor=owner, secret_key=KEY)
    assert stripe_connection.sync_catalog(session=db, actor=marketer).prices == 1
    with pytest.raises(PermissionDenied):
        stripe_connection.disconnect_stripe(session=db, actor=marketer)
    stripe_connection.disconnect_stripe(session=db, actor=owner)
    assert stripe_connection.connection_status(session=db, account_id=account.id or 0) is None
    assert len(db.exec(select(StripePrice)).all()) == 1
    with pytest.raises(Conflict, match="not connected"):
        stripe_connection.sync_catalog(session=db, actor=owner)
