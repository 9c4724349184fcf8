"""The one CSV writer for every file PaidSignal hands out (metrics, spend template, usage, the Google Ads upload).

Text that a person typed (campaign, product and account names) may start with a character a spreadsheet reads as
a formula (``=HYPERLINK(...)``, ``+``, ``-``, ``@``, or a tab or carriage return that some spreadsheets strip
before reading one). Such text cells get a leading apostrophe, as OWASP's CSV-injection advice says, so the
spreadsheet shows the text instead of running it. Numbers stay numbers: ints, floats and Decimals, and strings
that are a plain decimal number such as ``-12.50``, are written as they are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

FORMULA_STARTS = frozenset({"=", "+", "-", "@", "\t", "\r"})
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet will read it safely: numbers unchanged, ``None`` empty, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    if text[:1] in FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def unneutralise(text: str) -> str:
    """A cell read back from a file we wrote (the spend template): the apostrophe :func:`safe_cell` put before a
    formula character is dropped, so a campaign named ``=Sale`` round-trips."""
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_STARTS else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]], *, preamble: Sequence[str] = ()) -> str:
    """A CSV document: ``preamble`` lines written as they are (e.g. Google's ``Parameters:TimeZone=+0000``), the
    header, then ``rows``, every cell through :func:`safe_cell`. Lines end with ``\\n``."""
    out = io.StringIO()
    for line in preamble:
        out.write(line + "\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue()
