"""The staff usage page: every account's usage over the URL's range (``?from=&to=``, UTC days), totals per day, the
top accounts by assistant cost, and the CSV of one row per account per day."""

from __future__ import annotations

from typing import Any, TypedDict

import reflex as rx
from sqlmodel import Session

from app import routes
from app.services import usage as usage_service
from app.services.usage import AccountUsageTotal, PlatformUsage
from app.state.base import AppState
from app.state.format import parse_date
from app.state.toasts import toast
from app.state.usage import UsageRangeMixin, conversions_text, flush_this_process, number, usd

STAFF_ONLY = usage_service.STAFF_ONLY


class AccountItem(TypedDict):
    public_id: str
    name: str
    plan: str
    requests: str
    errors: str
    events: str
    llm_calls: str
    tokens: str
    cost: str
    conversions: str
    emails: str


def account_item(row: AccountUsageTotal, locale: str) -> AccountItem:
    f = row.figures
    return AccountItem(
        public_id=row.public_id,
        name=row.name,
        plan=usage_service.PLANS[row.plan].label if row.plan in usage_service.PLANS else row.plan,
        requests=number(f.requests, locale),
        errors=number(f.errors, locale),
        events=number(f.events, locale),
        llm_calls=number(f.llm_calls, locale),
        tokens=f"{number(f.prompt_tokens, locale)} / {number(f.completion_tokens, locale)}",
        cost=usd(f.cost_usd, locale),
        conversions=conversions_text(f.conversions, locale),
        emails=number(f.emails, locale),
    )


class AdminUsageState(UsageRangeMixin, AppState):
    # Not ``accounts``: AppState's list of the user's own accounts (the account switcher) has that name.
    account_rows: list[AccountItem] = []
    top_by_cost: list[AccountItem] = []

    def _clear(self) -> None:
        self._clear_days()
        self.account_rows, self.top_by_cost = [], []

    def _load(self) -> None:
        since, until = self._read_range()
        self.error = ""
        staff, _ = self._run(lambda s: self._actor(s).is_staff)
        self.loaded = True
        self.forbidden = not staff
        if not staff:
            self._clear()
            return
        flush_this_process()
        found, error = self._run(
            lambda s: usage_service.platform_usage(session=s, actor=self._actor(s), since=since, until=until)
        )
        if error or found is None:
            self._clear()
            self.error = error or "The usage could not be loaded."
            return
        self._show(found)

    def _show(self, found: PlatformUsage) -> None:
        locale = self.account_locale
        self._show_days(found.start.isoformat(), found.end.isoformat(), found.days, found.total, locale)
        self.account_rows = [account_item(row, locale) for row in found.accounts]
        self.top_by_cost = [account_item(row, locale) for row in found.top_by_cost]

    @rx.event
    def load_admin_usage(self) -> None:
        """on_load of /admin/usage: usage across every account, for staff only (everyone else sees "Staff only")."""
        self._load()

    @rx.event
    def refresh(self) -> None:
        self._load()

    @rx.event
    def filter_dates(self, form: dict[str, Any]) -> Any:
        """Apply the From/To dates (UTC days, both included) as a new URL."""
        return rx.redirect(self._range_url(routes.ADMIN_USAGE, form))

    @rx.event
    def this_month(self) -> Any:
        return rx.redirect(routes.ADMIN_USAGE)

    @rx.event
    def download_csv(self) -> Any:
        """Download one row per account per day of the shown range (the service checks the user is staff)."""
        since, until = parse_date(self.range_start), parse_date(self.range_end)

        def build(s: Session) -> tuple[str, str]:
            start, end = usage_service.usage_range(since, until)
            text = usage_service.usage_csv(session=s, actor=self._actor(s), since=start, until=end)
            return text, f"paidsignal-usage-{start.isoformat()}-{end.isoformat()}.csv"

        found, error = self._run(build)
        if error or found is None:
            return toast.error(error or "The CSV could not be built; try again.")
        text, filename = found
        return rx.download(data=text, filename=filename, mime_type="text/csv")
