"""Stripe history for the catch-up, backfill and reconciliation tests: Stripe's example objects with the fields
those read set, added to the recording Stripe API's lists (``StripeRecorder.add_history``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.utils.stripe_fakes import StripeRecorder, line_item, random_id, stripe_object

DAY = 86_400


@dataclass
class History:
    """What a shop sold outside (or before) PaidSignal, by Stripe id."""

    recorder: StripeRecorder
    now: int = field(default_factory=lambda: int(time.time()))
    api_key: str | None = None  # the shop's secret key: only it lists these objects (None: every key)

    def checkout(
        self,
        amount: int,
        *,
        days_ago: float,
        currency: str = "eur",
        lines: Sequence[tuple[dict[str, Any], int]] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        """A paid, complete one-off Checkout Session with its charge and ``lines`` ((price, quantity) each) as its
        line items; returns the session."""
        created = int(self.now - days_ago * DAY)
        session_id = random_id("cs_test_", 58)
        payment_intent = random_id("pi_")
        session = stripe_object(
            "checkout.session", id=session_id, mode="payment", status="complete", payment_status="paid",
            amount_total=amount, amount_subtotal=amount, currency=currency, payment_intent=payment_intent,
            subscription=None, invoice=None, created=created, client_reference_id=None, metadata={},
            customer_details={"email": "history@example.com", "name": "Earlier Buyer", "address": None,
                              "phone": None, "tax_exempt": "none", "tax_ids": []},
            **fields,
        )  # fmt: skip
        self.recorder.sessions[session_id] = session
        self.recorder.line_items[session_id] = [line_item(price, quantity) for price, quantity in lines]
        if self.api_key is not None:
            self.recorder.owners[session_id] = self.api_key
        self.charge(amount, days_ago=days_ago, currency=currency, payment_intent=payment_intent)
        return session

    def charge(
        self, amount: int, *, days_ago: float, currency: str = "eur", payment_intent: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        created = int(self.now - days_ago * DAY)
        charge = stripe_object(
            "charge", id=random_id("ch_"), amount=amount, amount_captured=amount, amount_refunded=0,
            currency=currency, payment_intent=payment_intent or random_id("pi_"), status="succeeded", paid=True,
            captured=True, refunded=False, created=created, metadata={}, balance_transaction=None,
            billing_details={"email": "outside@example.com", "address": None, "name": None, "phone": None,
                             "tax_id": None},
            **fields,
        )  # fmt: skip
        return self.recorder.add_history("charges", charge, api_key=self.api_key)

    def refund(self, charge: dict[str, Any], amount: int, *, days_ago: float) -> dict[str, Any]:
        refund = stripe_object(
            "refund", id=random_id("re_"), amount=amount, charge=charge["id"],
            payment_intent=charge["payment_intent"], currency=charge["currency"], status="succeeded",
            created=int(self.now - days_ago * DAY), metadata={},
        )  # fmt: skip
        return self.recorder.add_history("refunds", refund, api_key=self.api_key)

    def dispute(self, charge: dict[str, Any], *, days_ago: float, status: str = "needs_response") -> dict[str, Any]:
        dispute = stripe_object(
            "dispute", id=random_id("dp_"), amount=charge["amount"], charge=charge["id"],
            payment_intent=charge["payment_intent"], currency=charge["currency"], status=status,
            reason="fraudulent", created=int(self.now - days_ago * DAY), balance_transactions=[], metadata={},
        )  # fmt: skip
        return self.recorder.add_history("disputes", dispute, api_key=self.api_key)

    def subscription_invoice(
        self,
        subscription: str,
        amount: int,
        *,
        days_ago: float,
        reason: str,
        currency: str = "eur",
        price: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A paid invoice of ``subscription`` and the charge that paid it (linked by an invoice payment); with
        ``price``, its one line is that price (as the 2025 API spells a line: ``pricing.price_details``)."""
        created = int(self.now - days_ago * DAY)
        lines = stripe_object("invoice")["lines"]
        if price is not None:
            lines["data"] = [
                {**lines["data"][0], "id": random_id("il_"), "amount": amount, "quantity": 1, "parent": None,
                 "pricing": {"type": "price_details", "unit_amount_decimal": str(amount),
                             "price_details": {"price": price["id"], "product": price["product"]}}}
            ]  # fmt: skip
        invoice = stripe_object(
            "invoice", id=random_id("in_"), status="paid", amount_paid=amount, amount_due=amount, total=amount,
            currency=currency, billing_reason=reason, created=created, subscription=None,
            parent={"type": "subscription_details", "quote_details": None,
                    "subscription_details": {"subscription": subscription, "metadata": {}}},
            status_transitions={"paid_at": created, "finalized_at": created, "marked_uncollectible_at": None,
                                "voided_at": None},
            customer_email="subscriber@example.com", lines=lines,
        )  # fmt: skip
        self.recorder.add_history("invoices", invoice, api_key=self.api_key)
        charge = self.charge(amount, days_ago=days_ago, currency=currency)
        self.recorder.add_invoice_payment(
            invoice=invoice["id"], payment_intent=charge["payment_intent"], amount_paid=amount, currency=currency
        )
        return invoice, charge

    def balance_transaction(
        self,
        source: str,
        amount: int,
        *,
        days_ago: float,
        category: str,
        fee: int = 0,
        currency: str = "eur",
        exchange_rate: float | None = None,
        type_: str | None = None,
    ) -> dict[str, Any]:
        """A balance transaction in the settlement ``currency`` (``exchange_rate`` when it differs from the
        charge's)."""
        created = int(self.now - days_ago * DAY)
        transaction = stripe_object(
            "balance_transaction", id=random_id("txn_"), amount=amount, fee=fee, net=amount - fee,
            currency=currency, type=type_ or {"dispute": "adjustment"}.get(category, category),
            reporting_category=category, source=source, status="available", available_on=created + 2 * DAY,
            created=created, exchange_rate=exchange_rate, balance_type="payments",
            fee_details=[{"amount": fee, "currency": currency, "description": "Stripe processing fees",
                          "type": "stripe_fee", "application": None}] if fee else [],
        )  # fmt: skip
        return self.recorder.add_history("balance_transactions", transaction, api_key=self.api_key)
