"""``GET /api/v1/health``: is the service up and its database reachable."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.schemas import Health
from app.services.health import check_health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health() -> JSONResponse:
    """Whether the server and its database answer: 200 ``ok``, or 503 ``degraded`` when the database does not."""
    report = check_health()
    return JSONResponse(report.__dict__, status_code=200 if report.status == "ok" else 503)
