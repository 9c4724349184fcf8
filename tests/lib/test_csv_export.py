"""The one CSV writer: text a spreadsheet would run as a formula is neutralised, numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from app.lib.csv_export import csv_text, safe_cell, unneutralise


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Spring sale", "Spring sale"),
        ("a=b", "a=b"),
        ("", ""),
        ("-12.50", "-12.50"),  # a number written as text stays a number
        ("+3", "+3"),
        ("-1e5", "-1e5"),
        (-12, -12),
        (1.5, 1.5),
        (Decimal("-0.10"), Decimal("-0.10")),
        (None, ""),
        (True, "true"),
    ],
)
def test_safe_cell(value: object, written: object) -> None:
    assert safe_cell(value) == written


def test_csv_text_neutralises_every_text_cell_and_keeps_numbers() -> None:
    text = csv_text(
        ["name", "=header", "amount"],
        [['=HYPERLINK("http://x","y")', "ok", -12.5], ["@me", "-3.25", 4]],
        preamble=["Parameters:TimeZone=+0000"],
    )
    lines = text.split("\n")
    assert lines[0] == "Parameters:TimeZone=+0000"
    rows = list(csv.reader(io.StringIO("\n".join(lines[1:]))))
    assert rows == [
        ["name", "'=header", "amount"],
        ['\'=HYPERLINK("http://x","y")', "ok", "-12.5"],
        ["'@me", "-3.25", "4"],
    ]
    assert text.endswith("\n") and "\r" not in text


@pytest.mark.parametrize("name", ["=Sale", "+Brand", "-Promo", "@home", "Plain", "'quoted"])
def test_unneutralise_round_trips(name: str) -> None:
    written = safe_cell(name)
    assert isinstance(written, str)
    assert unneutralise(written) == name
