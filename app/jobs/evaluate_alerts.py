"""Evaluate every enabled alert rule and send the alert e-mails that are due (once per interval in the cluster)."""

from __future__ import annotations

from sqlmodel import Session

from app.db import get_engine
from app.services import alerts


def evaluate_alerts() -> str:
    with Session(get_engine(), expire_on_commit=False) as session:
        return alerts.run_evaluation(session).text()
