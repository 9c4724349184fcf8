"""What a shop pastes into its pages to install PaidSignal."""

from __future__ import annotations

from html import escape

from sqlmodel import Session, col, select

from app.models import ApiKey, KeyKind
from app.settings import get_settings

KEY_PLACEHOLDER = "ps_pk_YOUR_PUBLISHABLE_KEY"


def first_publishable_key(*, session: Session, account_id: int) -> str | None:
    return session.exec(
        select(ApiKey.lookup)
        .where(
            ApiKey.account_id == account_id, ApiKey.kind == KeyKind.PUBLISHABLE.value, col(ApiKey.revoked_at).is_(None)
        )
        .order_by(col(ApiKey.id))
    ).first()


def first_real_event(*, session: Session, account_id: int) -> dict[str, object] | None:
    """The newest event the shop itself sent (browser or server), for the install check; test events do not count."""
    from app.services.events import list_events

    page = list_events(session=session, account_id=account_id, exclude_source="test", limit=1)
    return page.events[0] if page.events else None


def install_snippet(*, publishable_key: str | None) -> str:
    base = get_settings().public_url
    key = escape(publishable_key or KEY_PLACEHOLDER, quote=True)
    queue = "window.paidsignal=window.paidsignal||function(){(paidsignal.q=paidsignal.q||[]).push(arguments)};"
    return f'<script>{queue}</script>\n<script async src="{base}/pixel.js" data-key="{key}"></script>'


def allowed_origins(*, session: Session, account_id: int) -> list[str]:
    """Every origin the account's publishable keys accept (where the snippet may be installed)."""
    origins: list[str] = []
    for row in session.exec(
        select(ApiKey.allowed_origins).where(
            ApiKey.account_id == account_id, ApiKey.kind == KeyKind.PUBLISHABLE.value, col(ApiKey.revoked_at).is_(None)
        )
    ).all():
        origins.extend(o for o in row if o not in origins)
    return origins


def record_test_event(*, account_id: int, user_agent: str = "") -> str:
    """Record a test event for the account through the real ingest pipeline (marked ``source=test``)."""
    import uuid

    from app.services.ingest import IngestContext, Source, ingest_now

    event_id = str(uuid.uuid4())
    ingest_now(
        [
            {
                "event_id": event_id,
                "type": "page_view",
                "url": f"{get_settings().public_url}/install",
                "visitor_id": "paidsignal-test",
                "session_id": f"test-{event_id[:8]}",
                "properties": {"test": True},
            }
        ],
        IngestContext(account_id=account_id, source=Source.TEST, user_agent=user_agent),
    )
    return event_id
