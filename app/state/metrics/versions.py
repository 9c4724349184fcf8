"""A campaign's versions compared, on the campaign page: each version over a window of the same length from the day
it went live, each pair of consecutive versions and any two chosen, with how sure "B beat A" is
(``services.metrics.version_report``), as text (``presenters.metrics.version_lines`` and ``pair_lines``)."""

from __future__ import annotations

import reflex as rx

from app.presenters.metrics import PairLine, VersionLine, pair_line, pair_lines, version_lines
from app.services import metrics as metric_service
from app.services.metrics.versions import SEASONALITY_NOTE, compare_windows, find_window, probability_text
from app.state.base import AppState


class VersionComparisonState(AppState):
    """Each version of the campaign over a window of the same length from the day it went live."""

    version_windows: list[VersionLine] = []
    version_pairs: list[PairLine] = []
    chosen_pair: list[PairLine] = []  # zero or one: the two versions the reader picked
    version_choices: list[str] = []  # "v1", "v2", …
    chosen_a: str = ""
    chosen_b: str = ""
    winner_threshold: str = ""  # "95%"
    seasonality_note: str = SEASONALITY_NOTE
    window_days: int = 0
    versions_loaded: bool = False
    versions_error: str = ""

    def _campaign_id(self) -> str:
        return (self.router.url.path or "").rstrip("/").rsplit("/", 1)[-1]

    @rx.event
    def load_version_comparison(self) -> None:
        """on_load of the campaign page (after the editor's)."""
        public_id = self._campaign_id()
        found, error = self._run(
            lambda s: metric_service.version_report(
                session=s, account_id=self._actor(s).account_id, campaign_public_id=public_id
            )
        )
        self.versions_loaded = True
        self.versions_error = error or "" if self.is_authenticated else ""
        windows = found.windows if found else []
        self.version_windows = version_lines(windows, self.account_locale)
        self.window_days = (windows[0].end - windows[0].start).days + 1 if windows else 0
        self.version_pairs = pair_lines(found, self.account_locale) if found else []
        self.winner_threshold = probability_text(found.threshold, self.account_locale) if found else ""
        self.version_choices = [f"v{w.number}" for w in windows]
        # Two versions to compare at will: the first and the last by default (consecutive pairs are shown anyway).
        keep = self.chosen_a in self.version_choices and self.chosen_b in self.version_choices
        if not keep:
            self.chosen_a = self.version_choices[0] if windows else ""
            self.chosen_b = self.version_choices[-1] if windows else ""
        self.chosen_pair = []
        if found and len(windows) > 1 and self.chosen_a != self.chosen_b:
            first, second = (find_window(windows, v, v) for v in (self.chosen_a, self.chosen_b))
            # A consecutive pair is already compared: reuse it rather than integrate and bootstrap again.
            same = [p for p in found.pairs if p.a is first and p.b is second]
            chosen = same[0] if same else compare_windows(first, second, threshold=found.threshold)
            self.chosen_pair = [pair_line(chosen, self.account_locale)]

    def _compare_chosen(self) -> None:
        public_id = self._campaign_id()
        a, b = self.chosen_a, self.chosen_b
        found, error = self._run(
            lambda s: metric_service.version_report(
                session=s, account_id=self._actor(s).account_id, campaign_public_id=public_id, a=a, b=b
            )
        )
        self.versions_error = error or ""
        self.chosen_pair = [pair_line(found.chosen, self.account_locale)] if found and found.chosen else []

    @rx.event
    def set_chosen_a(self, value: str) -> None:
        """Pick version A of the pair compared at will."""
        self.chosen_a = value
        self._chosen_changed()

    @rx.event
    def set_chosen_b(self, value: str) -> None:
        """Pick version B of the pair compared at will."""
        self.chosen_b = value
        self._chosen_changed()

    def _chosen_changed(self) -> None:
        self.chosen_pair = []
        if self.chosen_a and self.chosen_b and self.chosen_a != self.chosen_b:
            self._compare_chosen()
