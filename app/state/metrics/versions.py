"""A campaign's versions compared, on the campaign page: each version over a window of the same length from the day
it went live (``services.metrics.version_comparison``), as lines of text (``presenters.metrics.version_lines``)."""

from __future__ import annotations

import reflex as rx

from app.presenters.metrics import VersionLine, version_lines
from app.services import metrics as metric_service
from app.state.base import AppState


class VersionComparisonState(AppState):
    """Each version of the campaign over a window of the same length from the day it went live."""

    version_windows: list[VersionLine] = []
    window_days: int = 0
    versions_loaded: bool = False
    versions_error: str = ""

    @rx.event
    def load_version_comparison(self) -> None:
        """on_load of the campaign page (after the editor's)."""
        public_id = (self.router.url.path or "").rstrip("/").rsplit("/", 1)[-1]
        found, error = self._run(
            lambda s: metric_service.version_comparison(
                session=s, account_id=self._actor(s).account_id, campaign_public_id=public_id
            )
        )
        self.versions_loaded = True
        self.versions_error = error or "" if self.is_authenticated else ""
        self.version_windows = version_lines(found or [], self.account_locale)
        self.window_days = (found[0].end - found[0].start).days + 1 if found else 0
