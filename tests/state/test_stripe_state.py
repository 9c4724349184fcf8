"""Settings → Stripe through its state: connect (refused and accepted keys), the catalogue, the webhook secret,
sync, disconnect, and roles. Stripe is the recording fake API (``stripe_api``)."""

from __future__ import annotations

import uuid
from typing import Any

from reflex.state import State
from sqlmodel import Session

from app.models import Role
from app.state.stripe import StripeState
from tests.utils.factories import add_member, make_owner
from tests.utils.payments import STRIPE_KEY, WEBHOOK_SECRET
from tests.utils.states import sign_in, substate
from tests.utils.stripe_fakes import StripeRecorder


def _toast(spec: Any) -> str:
    if isinstance(spec, list):  # a toast and what runs next (connecting starts the history import)
        spec = spec[0]
    return str(spec.args)


def _catalogue(recorder: StripeRecorder) -> tuple[str, str, str]:
    """A one-off and a monthly price under products with names unique to the test (the recorder is shared)."""
    tag = uuid.uuid4().hex[:6]
    shoes = recorder.add_product(name=f"Sneakers {tag}")
    club = recorder.add_product(name=f"Sock club {tag}")
    one_off = recorder.add_price(product=shoes["id"], unit_amount=4_900, currency="eur")
    monthly = recorder.add_price(product=club["id"], unit_amount=1_500, currency="eur", recurring={"interval": "month"})
    return tag, one_off["id"], monthly["id"]


def test_connect_with_a_bad_key_shows_the_error(root: State, db: Session, stripe_api: StripeRecorder) -> None:
    _, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    stripe = substate(root, StripeState)
    stripe.load_stripe()
    assert stripe.loaded and not stripe.connected and stripe.can_manage_stripe
    assert stripe.webhook_url == f"http://localhost:3000/api/v1/stripe/webhook/{stripe.account_id}"

    # Refused before Stripe is called: a publishable key, then something that is no key at all.
    toast = _toast(stripe.connect_stripe({"secret_key": "pk_test_51Abcdefghijkl", "webhook_secret": ""}))
    assert "That is a publishable key" in stripe.connect_error and '"error"' in toast
    stripe.connect_stripe({"secret_key": "hello", "webhook_secret": ""})
    assert stripe.connect_error.startswith("Enter a Stripe secret key")
    assert stripe_api.requests == []

    # Stripe itself rejects a well-formed key.
    stripe_api.fail_next("/v1/account", 401, method="GET")
    rejected = "sk_test_51RejectedKey0000000000"
    stripe.connect_stripe({"secret_key": rejected, "webhook_secret": WEBHOOK_SECRET})
    assert stripe.connect_error.startswith("Stripe rejected this key")
    assert not stripe.connected and stripe.prices == []
    # A crafted event without a form is refused the same way, not a crash.
    stripe.connect_stripe("nope")  # type: ignore[arg-type]
    assert stripe.connect_error.startswith("Enter a Stripe secret key")
    assert rejected not in repr(root.dict()) and WEBHOOK_SECRET not in repr(root.dict())


def test_connect_shows_the_account_and_its_prices_then_sync_secret_and_disconnect(
    root: State, db: Session, stripe_api: StripeRecorder
) -> None:
    _, owner_user, _ = make_owner(db)
    tag, one_off, monthly = _catalogue(stripe_api)
    sign_in(root, db, owner_user)
    stripe = substate(root, StripeState)
    stripe.load_stripe()
    form_key = stripe.form_key

    toast = _toast(stripe.connect_stripe({"secret_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SECRET}))
    assert stripe.connect_error == "" and '"success"' in toast and "Connected to Test Shop" in toast
    assert stripe.form_key > form_key  # the password inputs are remounted empty
    assert stripe.connected and stripe.stripe_account_name == "Test Shop"
    assert stripe.stripe_account_id == stripe_api.account_id
    assert stripe.key_hint == f"{STRIPE_KEY[:8]}…{STRIPE_KEY[-4:]}" and stripe.livemode is False
    assert stripe.has_webhook_secret and stripe.catalog_synced_at != "" and stripe.last_webhook_at == ""
    prices = {p["price_id"]: p for p in stripe.prices}
    assert prices[one_off] == {
        "price_id": one_off,
        "product": f"Sneakers {tag}",
        "nickname": "",
        "amount": "€49.00",
        "billing": "one-time",
    }
    assert (prices[monthly]["product"], prices[monthly]["amount"], prices[monthly]["billing"]) == (
        f"Sock club {tag}",
        "€15.00",
        "per month",
    )
    assert stripe.price_count == len(stripe.prices) and stripe.product_count >= 2
    assert stripe.catalogue_text == f"{stripe.product_count} products and {stripe.price_count} prices"
    assert stripe._catalogue(1, 1) == "1 product and 1 price"  # it said "1 products, 1 prices"

    # Sync picks up a price added in Stripe since; the toast says how many.
    yearly = stripe_api.add_price(
        product=stripe_api.prices[monthly]["product"], unit_amount=15_000, recurring={"interval": "year"}
    )
    steps = list(stripe.sync_catalog())
    assert stripe.syncing is False
    assert f"Synced {len(stripe_api.products)} products and {len(stripe_api.prices)} prices" in _toast(steps[-1])
    assert {p["price_id"]: p["billing"] for p in stripe.prices}[yearly["id"]] == "per year"

    # Stripe down during a sync: a toast, the catalogue stays.
    stripe_api.fail_next("/v1/products", 500, times=3)
    steps = list(stripe.sync_catalog())
    assert "Stripe did not answer" in _toast(steps[-1]) and stripe.syncing is False
    assert yearly["id"] in {p["price_id"] for p in stripe.prices}

    # The webhook signing secret can be replaced; a wrong one is an inline message.
    stripe.save_webhook_secret({"webhook_secret": "not-a-secret"})
    assert stripe.secret_error.startswith("The webhook signing secret starts with whsec_")
    new_secret = "whsec_rotated_0123456789abcdefgh"
    toast = _toast(stripe.save_webhook_secret({"webhook_secret": new_secret}))
    assert stripe.secret_error == "" and '"success"' in toast
    everything = repr(root.dict())
    assert STRIPE_KEY not in everything and WEBHOOK_SECRET not in everything and new_secret not in everything

    toast = _toast(stripe.disconnect_stripe())
    assert "Stripe disconnected" in toast
    assert not stripe.connected and stripe.key_hint == "" and stripe.prices == []
    # Nothing left to disconnect: the service's message.
    assert "Stripe is not connected" in _toast(stripe.disconnect_stripe())


def test_connect_keeps_the_key_when_the_catalogue_cannot_be_synced(
    root: State, db: Session, stripe_api: StripeRecorder
) -> None:
    _, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    stripe = substate(root, StripeState)
    stripe.load_stripe()
    stripe_api.fail_next("/v1/products", 400, method="GET")
    toast = _toast(stripe.connect_stripe({"secret_key": STRIPE_KEY, "webhook_secret": ""}))
    assert '"warning"' in toast and "could not be synced yet" in toast
    assert stripe.connected and stripe.sync_note.startswith("The key works") and stripe.connect_error == ""
    assert stripe.has_webhook_secret is False
    stripe.load_stripe()
    assert stripe.sync_note == ""


def test_viewer_cannot_connect_and_a_marketer_can_only_sync(
    root: State, db: Session, stripe_api: StripeRecorder
) -> None:
    account, _, _ = make_owner(db)
    viewer, _ = add_member(db, account, Role.VIEWER)
    marketer, _ = add_member(db, account, Role.MARKETER)
    sign_in(root, db, viewer)
    stripe = substate(root, StripeState)
    stripe.load_stripe()
    assert stripe.can_manage_stripe is False and stripe.can_edit_marketing is False

    stripe.connect_stripe({"secret_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SECRET})
    assert "Your role (viewer) cannot connect and disconnect Stripe" in stripe.connect_error
    assert not stripe.connected and stripe_api.requests == []
    assert "Your role (viewer)" in _toast(list(stripe.sync_catalog())[-1])
    stripe.save_webhook_secret({"webhook_secret": WEBHOOK_SECRET})
    assert "Your role (viewer)" in stripe.secret_error
    assert "Your role (viewer)" in _toast(stripe.disconnect_stripe())

    # A marketer may sync (once an admin has connected) but not connect.
    root2 = State()
    sign_in(root2, db, marketer)
    as_marketer = substate(root2, StripeState)
    as_marketer.load_stripe()
    assert as_marketer.can_manage_stripe is False and as_marketer.can_edit_marketing is True
    as_marketer.connect_stripe({"secret_key": STRIPE_KEY, "webhook_secret": ""})
    assert "Your role (marketer) cannot connect and disconnect Stripe" in as_marketer.connect_error
    assert "Stripe is not connected" in _toast(list(as_marketer.sync_catalog())[-1])


def test_check_stripe_now_applies_a_missed_event_and_shows_the_result(
    root: State, db: Session, stripe_api: StripeRecorder
) -> None:
    import json

    from tests.utils.stripe_fakes import stripe_error, stripe_event, stripe_object

    _, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    stripe = substate(root, StripeState)
    _catalogue(stripe_api)
    stripe.connect_stripe({"secret_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SECRET})
    stripe.load_stripe()
    assert stripe.catchup_text == "not checked yet"
    product = stripe_object("product", id="prod_CatchUpMissed1", name="Missed by the webhook")
    stripe_api.add_history("events", json.loads(stripe_event("product.created", product)))

    steps = list(stripe.check_stripe_now())

    assert stripe.checking is False and stripe.catchup_ok
    assert "1 missed webhook(s) applied" in _toast(steps[-1]) and "1 missed webhook(s) applied" in stripe.catchup_text
    assert "Missed by the webhook" in {p.name for p in _products(db)}

    # A restricted key without the permission: the page says which one to add.
    message = "Having the 'rak_event_read' permission would allow this request to continue."
    stripe_api.fail_next("/v1/events", 403, stripe_error(403, message))
    steps = list(stripe.check_stripe_now())
    assert "set “Events” to Read" in _toast(steps[-1])
    assert not stripe.catchup_ok and "set “Events” to Read" in stripe.catchup_text


def _products(db: Session) -> list[Any]:
    from sqlmodel import select

    from app.models import StripeProduct

    db.expire_all()
    return list(db.exec(select(StripeProduct)).all())


def test_import_history_asks_for_the_days_and_shows_the_progress(
    root: State, db: Session, stripe_api: StripeRecorder
) -> None:
    from app.state.stripe import _run_import
    from tests.utils.stripe_history import History

    _, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    stripe = substate(root, StripeState)
    _catalogue(stripe_api)
    History(stripe_api).charge(3_000, days_ago=3)
    stripe.connect_stripe({"secret_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SECRET})
    assert stripe.backfill_text == "Waiting to import 90 day(s) of history…"

    stripe.import_history({"days": "many"})
    assert stripe.history_error == "Enter a number of days, e.g. 90."
    stripe.import_history({"days": "0"})
    assert stripe.history_error.startswith("Import between 1 and 3650 days")
    assert stripe.import_history({"days": "30"}) == StripeState.run_history_import
    assert stripe.history_error == "" and stripe.backfill_text == "Waiting to import 30 day(s) of history…"

    account_id = stripe._account_internal_id()
    assert account_id is not None
    assert "Imported 1 order(s) from 30 day(s)" in _run_import(account_id)
    assert _run_import(account_id) == ""  # nothing requested any more
    stripe.load_stripe()
    assert stripe.backfill_status == "done" and "Imported 1 order(s)" in stripe.backfill_text


def test_reconcile_with_stripe_shows_the_differences_then_reconciled(
    root: State, db: Session, stripe_api: StripeRecorder
) -> None:
    from tests.utils.stripe_history import History

    _, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    stripe = substate(root, StripeState)
    _catalogue(stripe_api)
    stripe.connect_stripe({"secret_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SECRET})
    assert stripe.recon_summary == "Not reconciled yet." and not stripe.recon_ok
    history = History(stripe_api)
    outside = history.charge(6_600, days_ago=2)
    history.balance_transaction(outside["id"], 6_600, days_ago=2, category="charge", fee=220)

    steps = list(stripe.reconcile_with_stripe())

    assert stripe.reconciling is False and stripe.recon_ok
    assert stripe.recon_summary.startswith("Reconciled to the cent through ") and "Reconciled" in _toast(steps[-1])
    assert [(i["kind"], i["stripe_id"], i["stripe"]) for i in stripe.recon_listed] == [
        ("Charged outside PaidSignal", outside["id"], "€66.00")
    ]
    assert stripe.recon_differences == [] and "€2.20" in stripe.recon_fees
    stripe.load_stripe()  # the stored report is shown without asking Stripe
    assert stripe.recon_ok and len(stripe_api.requests_to("/v1/balance_transactions")) == 1
