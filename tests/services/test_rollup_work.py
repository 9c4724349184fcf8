"""What recomputing a dirty day costs in statements: the ``update_rollups`` work each paying webhook defers. A day's
recompute reads its rows in a fixed number of statements, however many orders the day has (each order's credits
worked out from its touches must not read the campaign versions again), and its figures stay the rebuild's."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import Session, select

from app.models import CustomerDirty, RollupDirty, SalesRollup
from app.services import lifetime, rollups
from tests.utils.statements import recorded_statements
from tests.utils.world import World, all_models, utc


def _day_of_orders(world: World, day: int, orders: int) -> None:
    """``orders`` paid orders on April ``day`` whose snapshots carry touches but no credits per model (an order
    credited again from its touches, as for another lookback), and one without any snapshot."""
    for n in range(orders):
        order = world.order(utc(2026, 4, day, 8 + n % 10), all_models(world.a2), amount=1_000, email=f"b{day}{n}@x.io")
        if n == orders - 1:
            order.attribution = {}
        else:
            touched = utc(2026, 4, day, 7).isoformat()
            order.attribution = {"touches": [{"at": touched, "campaign_version": world.a2.public_id}]}
        world.db.add(order)
    world.db.commit()


def _recompute_statements(world: World, day: date) -> int:
    with recorded_statements() as seen:
        rollups.recompute_day(world.db, world.account_id, day, rollups.SALES)
        world.db.commit()
    return len(seen)


def test_a_days_recompute_reads_in_as_many_statements_for_3_orders_as_for_12(world: World) -> None:
    _day_of_orders(world, 2, 3)
    _day_of_orders(world, 3, 12)
    few = _recompute_statements(world, date(2026, 4, 2))
    many = _recompute_statements(world, date(2026, 4, 3))
    assert few == many
    # The orders credited from their touches count under the touched version; the one without a snapshot: direct.
    rows = world.db.exec(
        select(SalesRollup.campaign_version_id, SalesRollup.orders_micro).where(
            SalesRollup.account_id == world.account_id,
            SalesRollup.day == date(2026, 4, 3),
            SalesRollup.model == "last_touch",
            SalesRollup.product_id == "",
        )
    ).all()
    assert sorted(rows) == [(0, rollups.MICRO), (world.a2.id, 11 * rollups.MICRO)]
    before = world.db.exec(select(SalesRollup)).all()
    kept = sorted((r.day, r.model, r.campaign_version_id, r.product_id, r.orders_micro, r.gross) for r in before)
    rollups.rebuild(world.db, world.account_id)
    after = world.db.exec(select(SalesRollup)).all()
    assert sorted((r.day, r.model, r.campaign_version_id, r.product_id, r.orders_micro, r.gross) for r in after) == kept


def test_a_mark_made_while_its_day_or_customer_is_recomputed_stays_for_the_next_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job clears the marks it read in one statement per run; a day or customer marked again meanwhile (a
    webhook committed during the recompute) keeps its newer mark, and the next run recomputes it."""
    order = world.order(utc(2026, 4, 2, 9), all_models(world.a2), amount=1_000, email="again@x.io")
    world.db.commit()
    rollups.mark_order_dirty(world.db, order)
    world.db.commit()
    recompute_day, replace = rollups.recompute_day, lifetime._replace

    def day_marked_meanwhile(session: Session, account_id: int, day: date, kind: str, zone: Any = None) -> None:
        recompute_day(session, account_id, day, kind, zone)
        rollups.mark_dirty(session, account_id, [day], kind)

    def customer_marked_meanwhile(session: Session, account_id: int, keys: list[str] | None) -> int:
        written = replace(session, account_id, keys)
        rollups.mark_customers_dirty(session, account_id, keys or [])
        return written

    monkeypatch.setattr(rollups, "recompute_day", day_marked_meanwhile)
    monkeypatch.setattr(lifetime, "_replace", customer_marked_meanwhile)
    assert rollups.refresh_dirty(world.db) == 1
    assert lifetime.refresh_dirty(world.db) == 1
    assert world.db.exec(select(RollupDirty.day)).all() == [date(2026, 4, 2)]
    assert world.db.exec(select(CustomerDirty.customer_key)).all() == ["email:again@x.io"]
    monkeypatch.undo()
    assert rollups.refresh_dirty(world.db) == 1
    assert lifetime.refresh_dirty(world.db) == 1
    assert not world.db.exec(select(RollupDirty)).all()
    assert not world.db.exec(select(CustomerDirty)).all()
