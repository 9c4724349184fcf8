"""Stored values as input text that parses back: one home for numbers and money in form fields."""

from __future__ import annotations

from app.presenters.campaigns import editor_fields
from app.presenters.inputs import money_text, number_text
from app.services.currency import parse_major


def test_numbers_and_money_as_input_text() -> None:
    assert (number_text(2.5), number_text(2.0), number_text(3), number_text(None)) == ("2.5", "2", "3", "")
    assert (money_text(1999, "EUR"), money_text(1500, "JPY"), money_text(None, "EUR")) == ("19.99", "1500", "")
    assert parse_major(money_text(-5, "KWD").lstrip("-"), "KWD") == 5
    # The campaign editor shows a stored ROAS target of 2 as the alert editor shows a threshold of 2: "2".
    assert editor_fields({"targets": {"min_roas": 2.0, "min_conversion_rate": 0.02}}).min_roas == "2"
