"""What the metrics measure: one currency's money, a set of figures (counts, money per currency and the ratios built on
them), the change against a comparison, and a report's rows; ``figure_dict`` gives them as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.services import rollups
from app.services.metrics.periods import Period


@dataclass
class Money:
    """One currency's money (minor units) and the ratios that use it."""

    currency: str
    gross: int = 0
    renewal_revenue: int = 0
    refunds: int = 0
    spend: int = 0

    @property
    def net(self) -> int:
        return self.gross + self.renewal_revenue - self.refunds


@dataclass
class Figures:
    sessions: int = 0
    visitors: int = 0
    converted_sessions: int = 0
    orders_micro: int = 0
    new_customers_micro: int = 0
    renewals_micro: int = 0
    impressions: int = 0
    clicks: int = 0
    money: dict[str, Money] = field(default_factory=dict)

    def currency(self, code: str) -> Money:
        return self.money.setdefault(code, Money(code))

    @property
    def orders(self) -> float:
        return self.orders_micro / rollups.MICRO

    @property
    def new_customers(self) -> float:
        return self.new_customers_micro / rollups.MICRO

    @property
    def returning_customers(self) -> float:
        return (self.orders_micro - self.new_customers_micro) / rollups.MICRO

    @property
    def renewals(self) -> float:
        return self.renewals_micro / rollups.MICRO

    @property
    def conversion_rate(self) -> float | None:
        """Converted sessions / sessions, both counting the sessions that started in the range (with their own
        campaign tag). Orders are credited by the attribution model and may come from other sessions (a direct
        return visit, a second order), so orders / sessions would not be a rate: it can pass 100 %."""
        return ratio(self.converted_sessions, self.sessions)

    def aov(self, code: str) -> float | None:
        money = self.money.get(code)
        return ratio(money.gross, self.orders) if money else None

    def roas(self, code: str) -> float | None:
        money = self.money.get(code)
        return ratio(money.net, money.spend) if money else None

    def cpa(self, code: str) -> float | None:
        """Spend per order; None ("n/a") without spend in ``code``, as for ROAS: 0.00 would read as free customers."""
        money = self.money.get(code)
        return ratio(money.spend, self.orders) if money and money.spend else None

    def refund_rate(self, code: str) -> float | None:
        money = self.money.get(code)
        return ratio(money.refunds, money.gross + money.renewal_revenue) if money else None


def ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


@dataclass(frozen=True)
class Delta:
    current: float | None
    previous: float | None
    absolute: float | None
    percent: float | None  # None: "n/a" (no base to compare with)


def delta(current: float | None, previous: float | None) -> Delta:
    if current is None or previous is None:
        return Delta(current, previous, None, None)
    return Delta(current, previous, current - previous, ratio((current - previous) * 100, previous))


@dataclass
class MetricsRow:
    key: str
    label: str
    figures: Figures
    previous: Figures | None = None


@dataclass
class MetricsReport:
    period: Period
    comparison: Period | None
    model: str
    lookback_days: int
    source: str  # rollup | raw
    total: MetricsRow
    rows: list[MetricsRow]
    currencies: list[str]


def figure_dict(figures: Figures | None) -> dict[str, Any] | None:
    """Figures as plain data (API, CSV export, assistant tools): counts, rates and money per currency."""
    if figures is None:
        return None
    return {
        "sessions": figures.sessions,
        "visitors": figures.visitors,
        "converted_sessions": figures.converted_sessions,
        "orders": round(figures.orders, 6),
        "new_customers": round(figures.new_customers, 6),
        "returning_customers": round(figures.returning_customers, 6),
        "renewals": round(figures.renewals, 6),
        "conversion_rate": figures.conversion_rate,
        "impressions": figures.impressions,
        "clicks": figures.clicks,
        "money": {
            code: {
                "gross": m.gross,
                "renewal_revenue": m.renewal_revenue,
                "refunds": m.refunds,
                "net": m.net,
                "spend": m.spend,
                "aov": figures.aov(code),
                "roas": figures.roas(code),
                "cpa": figures.cpa(code),
                "refund_rate": figures.refund_rate(code),
            }
            for code, m in sorted(figures.money.items())
        },
    }


def has_figures(figures: Figures | None) -> bool:
    """Anything at all: a session, an order, a renewal or money of any kind (else a page shows "no data")."""
    return figures is not None and bool(
        figures.sessions
        or figures.orders_micro
        or figures.renewals_micro
        or any(m.gross or m.refunds or m.spend or m.renewal_revenue for m in figures.money.values())
    )
