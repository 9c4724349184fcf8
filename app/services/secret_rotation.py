"""After a SECRET_KEY rotation: encrypt every stored credential again under the new key.

Credentials (each account's Stripe key and webhook signing secret, pixels' and ad connections' secrets) are Fernet
tokens under a subkey of SECRET_KEY. After a rotation they stay readable through SECRET_KEY_PREVIOUS;
:func:`reencrypt_credentials` rewrites each one under the current key so that the previous key can be removed.
Each row is rewritten only if it still holds the token that was read (a credential saved meanwhile is not
overwritten), and a token no key can read is reported, never changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import update
from sqlmodel import Session, SQLModel, select

from app.models import AdConnection, Pixel, StripeConnection
from app.services.crypto import BadToken, reencrypt_secret

# Every column that holds a Fernet token under KeyPurpose.CREDENTIALS.
ENCRYPTED_COLUMNS: tuple[tuple[type[SQLModel], str], ...] = (
    (StripeConnection, "secret_key_encrypted"),
    (StripeConnection, "webhook_secret_encrypted"),
    (Pixel, "credentials_encrypted"),
    (AdConnection, "credentials_encrypted"),
)


@dataclass
class RotationReport:
    reencrypted: int = 0
    already_current: int = 0
    changed_meanwhile: int = 0
    # "table #id (account #n): column" of each token no SECRET_KEY / SECRET_KEY_PREVIOUS value decrypts.
    unreadable: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.reencrypted} credential(s) re-encrypted under the current SECRET_KEY, "
            f"{self.already_current} already under it"
        )
        if self.changed_meanwhile:
            text += f", {self.changed_meanwhile} saved again meanwhile (left as saved)"
        if self.unreadable:
            text += f"; {len(self.unreadable)} cannot be decrypted with any SECRET_KEY: " + ", ".join(self.unreadable)
        return text


def reencrypt_credentials(session: Session, *, account_id: int | None = None) -> RotationReport:
    """Rewrite every stored credential (of one account, or all) under the current SECRET_KEY; commits."""
    report = RotationReport()
    for model, column in ENCRYPTED_COLUMNS:
        table = model.__table__  # type: ignore[attr-defined]  # SQLModel table classes carry __table__
        id_column, account_column, token_column = table.c.id, table.c.account_id, table.c[column]
        query = select(id_column, account_column, token_column).where(token_column != "")
        if account_id is not None:
            query = query.where(account_column == account_id)
        for row_id, row_account, token in session.exec(query).all():
            try:
                fresh = reencrypt_secret(token)
            except BadToken:
                report.unreadable.append(f"{table.name} #{row_id} (account #{row_account}): {column}")
                continue
            if fresh is None:
                report.already_current += 1
                continue
            result = session.execute(
                update(table).where(id_column == row_id, token_column == token).values({column: fresh})
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
                report.reencrypted += 1
            else:
                report.changed_meanwhile += 1
        session.commit()
    return report


__all__ = ["ENCRYPTED_COLUMNS", "RotationReport", "reencrypt_credentials"]
