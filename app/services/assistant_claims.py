"""A check of a finished assistant answer against the tool results it was written from: an answer must not call a
version the winner (or better, or say it beat another) when ``compare_versions`` said there is not enough data (or
that each version is better on a different measure) for that pair.

The check reads the answer sentence by sentence. A sentence is a claim when it names a version (``v2``, or its
``cv_…`` id) of a pair compared in this answer together with a winning word (winner, won, beat, better,
outperformed, …) and no hedge (not enough data, no winner, may be chance, …). When it names both versions of a
compared pair, that pair's verdict decides; when it names one, it is backed when that version won a pair compared in
this answer. Otherwise it is flagged, and the assistant adds a note to the answer (``note``) saying what
``compare_versions`` found. It is a guard for the common case, not a proof: it cannot read every way of phrasing a
claim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_VERSION = re.compile(r"\bv(\d+)\b|\b(cv_[a-z0-9]+)\b", re.IGNORECASE)
_CLAIM = re.compile(
    r"\b(winner|winning|won|wins?|beat|beats|beaten|better|outperform\w*|superior)\b",
    re.IGNORECASE,
)
_HEDGE = re.compile(
    r"\b(not enough|no (?:single |clear )?winner|not (?:yet )?(?:a |the |clearly |significantly )?"
    r"(?:winner|better|significant|proven|certain|sure)|can(?:no|')t (?:call|say|tell)|cannot|too (?:early|few|small)"
    r"|insufficient|inconclusive|chance|uncertain|hint|unclear|undecided|neither|conflicting|not_enough_data"
    r"|required)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Compared:
    """One pair ``compare_versions`` compared: its versions (numbers and ids), verdict and sentence."""

    a: int
    b: int
    ids: dict[str, int]  # cv_… (lower case) -> number
    verdict: str  # winner | not_enough_data | conflicting
    winner: int | None
    summary: str


@dataclass(frozen=True)
class Unbacked:
    """A sentence of the answer that calls a version better without a winner verdict behind it."""

    sentence: str
    pair: Compared


def compared_pairs(trace: Iterable[dict[str, Any]]) -> list[Compared]:
    """The pairs every ``compare_versions`` call of an answer compared (consecutive pairs and the chosen one)."""
    found: list[Compared] = []
    for call in trace:
        result = call.get("result")
        if call.get("name") != "compare_versions" or not isinstance(result, dict):
            continue
        pairs = [p for p in result.get("pairs") or [] if isinstance(p, dict)]
        if isinstance(result.get("chosen"), dict):
            pairs.append(result["chosen"])
        for pair in pairs:
            try:
                a, b = int(pair["a_number"]), int(pair["b_number"])
            except (KeyError, TypeError, ValueError):
                continue
            ids = {str(pair.get("a", "")).lower(): a, str(pair.get("b", "")).lower(): b}
            winner_id = str(pair.get("winner") or "").lower()
            found.append(
                Compared(a, b, ids, str(pair.get("verdict", "")), ids.get(winner_id), str(pair.get("summary", "")))
            )
    return found


def _named(sentence: str, ids: dict[str, int]) -> set[int]:
    numbers: set[int] = set()
    for number, public_id in _VERSION.findall(sentence):
        if number:
            numbers.add(int(number))
        elif public_id.lower() in ids:
            numbers.add(ids[public_id.lower()])
    return numbers


def unbacked_claims(answer: str, trace: Iterable[dict[str, Any]]) -> list[Unbacked]:
    """The sentences of ``answer`` that call a version better than ``compare_versions`` allowed (see the module)."""
    pairs = compared_pairs(trace)
    undecided = [p for p in pairs if p.verdict != "winner"]
    if not undecided:
        return []
    winners = {p.winner for p in pairs if p.verdict == "winner" and p.winner is not None}
    ids = {k: v for p in pairs for k, v in p.ids.items() if k}
    flagged: list[Unbacked] = []
    for sentence in (s.strip() for s in _SENTENCE.split(answer)):
        if not sentence or not _CLAIM.search(sentence) or _HEDGE.search(sentence):
            continue
        named = _named(sentence, ids)
        covering = [p for p in pairs if {p.a, p.b} <= named]
        if covering:  # the sentence names both versions of a pair: that pair's verdict decides
            pair = next((p for p in covering if p.verdict != "winner"), None)
        elif named & winners:  # one version named, a winner of some pair compared
            pair = None
        else:
            pair = next((p for p in undecided if {p.a, p.b} & named), None)
        if pair is not None:
            flagged.append(Unbacked(sentence, pair))
    return flagged


def note(flagged: list[Unbacked]) -> str:
    """The note added under an answer with unbacked claims: what compare_versions actually found, per pair."""
    if not flagged:
        return ""
    seen: list[Compared] = []
    for item in flagged:
        if item.pair not in seen:
            seen.append(item.pair)
    lines = [
        "**PaidSignal check:** this answer calls a version better than the comparison allows. "
        "compare_versions found no winner here, so treat any difference as a hint, not a finding:"
    ]
    lines += [f"- v{p.a} vs v{p.b}: {p.summary or p.verdict.replace('_', ' ')}" for p in seen]
    return "\n".join(lines)
