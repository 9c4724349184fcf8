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


def install_snippet(*, publishable_key: str | None) -> str:
    base = get_settings().public_url
    key = escape(publishable_key or KEY_PLACEHOLDER, quote=True)
    return f'<script defer src="{base}/pixel.js" data-key="{key}"></script>'
