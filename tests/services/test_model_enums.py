"""Status-like columns are StrEnums over plain VARCHAR (app/models/base.EnumString): known values read back as
members, and a value no member has (an older release's, a hand edit) still reads, as the plain string."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session, select

from app.models import Campaign, CampaignStatus, Channel
from app.services import campaigns
from tests.utils.factories import make_owner


def test_known_values_read_back_as_members_and_unknown_ones_as_text(db: Session) -> None:
    _, _, owner = make_owner(db)
    made = campaigns.create_campaign(session=db, actor=owner, name="Spring", channel="meta")
    db.commit()
    db.expire_all()
    stored = db.exec(select(Campaign).where(Campaign.public_id == made.public_id)).one()
    assert stored.status is CampaignStatus.DRAFT and stored.channel is Channel.META

    db.execute(text("UPDATE campaign SET status = 'retired' WHERE public_id = :id"), {"id": made.public_id})
    db.commit()
    db.expire_all()
    stored = db.exec(select(Campaign).where(Campaign.public_id == made.public_id)).one()
    assert stored.status == "retired" and not isinstance(stored.status, CampaignStatus)


def test_members_are_written_as_their_values(db: Session) -> None:
    _, _, owner = make_owner(db)
    made = campaigns.create_campaign(session=db, actor=owner, name="Spring", channel=Channel.GOOGLE)
    db.commit()
    raw = db.execute(text("SELECT channel, status FROM campaign WHERE public_id = :id"), {"id": made.public_id}).one()
    assert tuple(raw) == ("google", "draft")
