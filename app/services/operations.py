"""Figures an operator's monitoring reads from the database: the conversion sender's backlog and the job leases
held now (exported as Prometheus gauges by app/observability/metrics.py)."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models import ConversionDelivery, DeliveryStatus, JobLease
from app.models.base import utcnow

# The statuses that still need the sender (pending, retrying) or a person (dead); sent and skipped are history.
BACKLOG_STATUSES = (DeliveryStatus.PENDING.value, DeliveryStatus.RETRYING.value, DeliveryStatus.DEAD.value)


def delivery_backlog(session: Session) -> dict[tuple[str, str], int]:
    """``{(provider, status): deliveries}`` for the statuses in BACKLOG_STATUSES (through the status index)."""
    rows = session.exec(
        select(ConversionDelivery.provider, ConversionDelivery.status, func.count())
        .where(col(ConversionDelivery.status).in_(BACKLOG_STATUSES))
        .group_by(col(ConversionDelivery.provider), col(ConversionDelivery.status))
    ).all()
    return {(str(provider), str(status)): int(count) for provider, status, count in rows}


def held_leases(session: Session) -> list[tuple[str, str, float]]:
    """``(job, holder, seconds until the lease expires)`` of every lease a process holds now."""
    now = utcnow()
    leases = session.exec(select(JobLease).where(col(JobLease.expires_at) > now).order_by(col(JobLease.name))).all()
    return [(lease.name, lease.holder, (lease.expires_at - now).total_seconds()) for lease in leases]
