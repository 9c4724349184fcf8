"""The date range shared by ``/`` and ``/metrics``: the range, comparison and attribution model of the URL (so a view
can be shared), the picker's state, and URLs with some choices changed (the picker's handlers only change the URL;
the page's on_load then reads the new figures)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import Session

from app import routes
from app.presenters.metrics import COMPARE_LABELS, MODEL_LABELS, PRESET_LABELS, period_text
from app.presenters.ranges import DEFAULT_MODEL, DEFAULT_PRESET, RangeChoice, date_text, pick, range_choice
from app.services import dashboard
from app.services.metrics import Compare, Preset
from app.state.base import AppState
from app.state.toasts import toast

__all__ = ["DEFAULT_MODEL", "DEFAULT_PRESET", "RangeChoice", "RangeState", "changed_url", "pick", "range_choice"]


def current_query(router: RouterData) -> tuple[str, dict[str, str]]:
    return router.url.path or routes.HOME, dict(router.url.query_parameters)


def changed_url(router: RouterData, **changes: str) -> str:
    """The page's URL with some query parameters changed (an empty value removes one); the others are kept."""
    path, params = current_query(router)
    params.update(changes)
    return routes.dashboard_url(path, params)


class RangeState(AppState):
    """The range picker shared by ``/`` and ``/metrics``: shows the URL's choices; its handlers change the URL (the
    page's on_load then loads the new figures)."""

    preset: str = DEFAULT_PRESET
    start: str = ""
    end: str = ""
    compare: str = Compare.PREVIOUS.value
    model: str = DEFAULT_MODEL
    period_label: str = ""
    comparison_label: str = ""

    @rx.var
    def is_custom(self) -> bool:
        return self.preset == Preset.CUSTOM.value

    @rx.event
    def read_range(self) -> None:
        """on_load: the range from the URL, resolved against today in the account's timezone."""
        choice = range_choice(self.router.url.query_parameters)

        def resolve(s: Session) -> dashboard.ResolvedRange:
            account_id = self._actor(s).account_id
            return dashboard.resolve_range(session=s, account_id=account_id, choice=choice.dashboard_range())

        found, _error = self._run(resolve)
        self._show_range(choice, found)

    def _show_range(self, choice: RangeChoice, found: dashboard.ResolvedRange | None) -> None:
        """The picker shows ``choice`` and the days it resolved to (None: it did not resolve, e.g. a bad range)."""
        self.preset, self.compare, self.model = choice.preset, choice.compare, choice.model
        if found is None:
            self.start, self.end, self.period_label, self.comparison_label = choice.start, choice.end, "", ""
            return
        self.start, self.end = found.period.start.isoformat(), found.period.end.isoformat()
        self.period_label = period_text(found.period)
        self.comparison_label = period_text(found.comparison)

    @rx.event
    def choose_preset(self, preset: str) -> Any:
        if preset not in PRESET_LABELS:
            return None
        if preset == Preset.CUSTOM.value:
            # Start from the dates shown, so the custom range is valid at once and only needs adjusting.
            return rx.redirect(changed_url(self.router, range=preset, start=self.start, end=self.end))
        return rx.redirect(changed_url(self.router, range=preset, start="", end=""))

    @rx.event
    def apply_custom(self, form: dict[str, Any]) -> Any:
        form = form if isinstance(form, dict) else {}
        start, end = date_text(form.get("start")), date_text(form.get("end"))
        if not start or not end:
            return toast.error("Choose both a start and an end date (YYYY-MM-DD).")
        return rx.redirect(changed_url(self.router, range=Preset.CUSTOM.value, start=start, end=end))

    @rx.event
    def choose_compare(self, compare: str) -> Any:
        return rx.redirect(changed_url(self.router, compare=pick(compare, COMPARE_LABELS, Compare.PREVIOUS.value)))

    @rx.event
    def choose_model(self, model: str) -> Any:
        return rx.redirect(changed_url(self.router, model=pick(model, MODEL_LABELS, DEFAULT_MODEL)))
