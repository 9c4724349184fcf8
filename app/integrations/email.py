"""One email interface, several backends: ``file`` (writes .eml files, the embedded default) and ``smtp``."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from app.settings import EmailBackend, Settings, get_settings


@dataclass(frozen=True)
class OutgoingEmail:
    to: list[str]
    subject: str
    text: str
    html: str | None = None


class EmailSendError(RuntimeError):
    """The backend could not hand the message over; the message says why."""


class Backend(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class FileBackend:
    """Writes each message to ``{DATA_DIR}/outbox/*.eml``: readable, and no mail server needed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").split("@")[0]
        (self.folder / f"{name}.eml").write_bytes(bytes(message))


class SmtpBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise EmailSendError(f"SMTP delivery to {s.smtp_host}:{s.smtp_port} failed: {error}") from error


def build_message(email: OutgoingEmail, *, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(email.to)
    message["Subject"] = email.subject
    message["Message-ID"] = make_msgid(domain="paidsignal.local")
    message.set_content(email.text)
    if email.html:
        message.add_alternative(email.html, subtype="html")
    return message


def get_backend(settings: Settings | None = None) -> Backend:
    settings = settings or get_settings()
    if settings.email_backend is EmailBackend.SMTP:
        return SmtpBackend(settings)
    return FileBackend(settings.outbox_dir)


def send_email(email: OutgoingEmail) -> EmailMessage:
    settings = get_settings()
    message = build_message(email, sender=settings.email_from)
    get_backend(settings).send(message)
    return message
