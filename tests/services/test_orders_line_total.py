"""An order line's amount: one home, in the orders service (the order page shows it)."""

from __future__ import annotations

from app.services.orders import line_total


def test_a_line_total_is_unit_amount_times_quantity() -> None:
    assert line_total({"price": "price_1", "quantity": 3, "unit_amount": 4_900}) == 14_700
    assert line_total({"price": "price_1", "unit_amount": 4_900}) == 4_900  # quantity defaults to 1


def test_a_line_without_a_unit_amount_has_no_total() -> None:
    assert line_total({"price": "price_tiered", "quantity": 2, "unit_amount": None}) is None
