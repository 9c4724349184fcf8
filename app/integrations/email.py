"""One email interface, three backends: ``file`` (writes .eml files, the embedded default), ``smtp`` (any SMTP server,
e.g. SendGrid's relay) and ``sendgrid`` (SendGrid's HTTP API). Failures say whether trying again can help."""

from __future__ import annotations

import contextlib
import http.client
import json
import smtplib
import socket
import ssl
import urllib.error
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from app.settings import EmailBackend, Settings, get_settings

if TYPE_CHECKING:
    from python_http_client.exceptions import HTTPError


@dataclass(frozen=True)
class OutgoingEmail:
    to: list[str]
    subject: str
    text: str
    html: str | None = None


class EmailSendError(RuntimeError):
    """The backend could not hand the message over; the message says why.

    Attributes:
        permanent: True when sending the same message again cannot succeed: a 5xx SMTP reply (535 login refused,
            550 recipient refused), a 4xx answer of SendGrid's API other than 429, or a configuration problem
            (no STARTTLS offered, an untrusted certificate, no API key). False when a later try may succeed: a 4xx
            SMTP reply (451), SendGrid's 429 or 5xx, a timeout, a refused or dropped connection.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Backend(Protocol):
    def send(self, email: OutgoingEmail, message: EmailMessage) -> str | None:
        """Hand one message over.

        Args:
            email: What to send (backends that speak an API use its parts directly).
            message: ``email`` built as MIME, with From, To, Subject and Message-ID set.

        Returns:
            The provider's own id for the message when it gives one (SendGrid's ``X-Message-Id``), else None.

        Raises:
            EmailSendError: The message was not handed over (or only to some recipients).
        """
        ...


class FileBackend:
    """Writes each message to ``{DATA_DIR}/outbox/*.eml``: readable, and no mail server needed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, email: OutgoingEmail, message: EmailMessage) -> str | None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").split("@")[0]
        (self.folder / f"{name}.eml").write_bytes(bytes(message))
        return None


class SmtpBackend:
    """Sends through an SMTP server: implicit TLS (``SMTP_SSL``) or STARTTLS (``SMTP_STARTTLS``), then login."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def where(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def send(self, email: OutgoingEmail, message: EmailMessage) -> str | None:
        s = self.settings
        step = "connection to"
        try:
            smtp = self._connect()
            try:
                step = "greeting of"
                code, reply = smtp.ehlo()
                if code != 250:
                    raise smtplib.SMTPHeloError(code, reply)
                if s.smtp_starttls and not s.smtp_ssl:
                    step = "STARTTLS with"
                    self._start_tls(smtp)
                if s.smtp_username:
                    step = "login to"
                    smtp.login(s.smtp_username, s.smtp_password)
                step = "delivery through"
                refused = smtp.send_message(message, from_addr=parseaddr(s.email_from)[1], to_addrs=email.to)
            except BaseException:
                smtp.close()
                raise
        except (OSError, smtplib.SMTPException) as error:
            raise self._failure(error, step) from error
        # The server has taken the message: a failing QUIT must not turn that into an error.
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()
        smtp.close()
        if refused:
            accepted = [to for to in email.to if to not in refused]
            # Permanent even for 4xx refusals: sending again would deliver a second copy to the accepted ones.
            raise EmailSendError(
                f"SMTP server {self.where} took the message for {', '.join(accepted)} but refused {_refusals(refused)}",
                permanent=True,
            )
        return None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_ssl:
            return smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds, context=self._tls_context()
            )
        return smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)

    def _start_tls(self, smtp: smtplib.SMTP) -> None:
        if not smtp.has_extn("starttls"):
            raise EmailSendError(
                f"SMTP server {self.where} does not offer STARTTLS, so nothing was sent: the login and the message "
                "would travel in clear. Use a server that offers it, SMTP_SSL=true for implicit TLS, or "
                "SMTP_STARTTLS=false for a trusted local relay only.",
                permanent=True,
            )
        smtp.starttls(context=self._tls_context())
        smtp.ehlo()

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.smtp_ca_file or None)

    def _failure(self, error: Exception, step: str) -> EmailSendError:
        where = self.where
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            permanent = all(code >= 500 for code, _ in error.recipients.values())
            return EmailSendError(
                f"SMTP server {where} refused every recipient: {_refusals(error.recipients)}", permanent=permanent
            )
        if isinstance(error, smtplib.SMTPResponseException):
            reply = f"{error.smtp_code} {_text(error.smtp_error)}"
            permanent = error.smtp_code >= 500
            if isinstance(error, smtplib.SMTPAuthenticationError):
                return EmailSendError(f"SMTP login to {where} refused: {reply}", permanent=permanent)
            if isinstance(error, smtplib.SMTPSenderRefused):
                return EmailSendError(
                    f"SMTP server {where} refused the sender {error.sender}: {reply}", permanent=permanent
                )
            if isinstance(error, smtplib.SMTPDataError):
                return EmailSendError(f"SMTP server {where} refused the message: {reply}", permanent=permanent)
            return EmailSendError(f"SMTP {step} {where} failed: {reply}", permanent=permanent)
        if isinstance(error, smtplib.SMTPNotSupportedError):
            # e.g. SMTP_USERNAME is set but the server offers no AUTH: only a configuration change helps.
            return EmailSendError(f"SMTP {step} {where} failed: {error}", permanent=True)
        # smtplib reports a read timeout as a disconnection; the timeout is its context.
        if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
            return EmailSendError(f"SMTP {step} {where} timed out after {self.settings.smtp_timeout_seconds:g} s")
        if isinstance(error, smtplib.SMTPServerDisconnected):
            return EmailSendError(f"SMTP {step} {where} failed: the server closed the connection ({error})")
        if isinstance(error, ssl.SSLCertVerificationError):
            return EmailSendError(
                f"SMTP server {where} presented a certificate that is not trusted ({error.verify_message}); set "
                "SMTP_CA_FILE to the CA that signed it, or fix SMTP_HOST to the name in the certificate",
                permanent=True,
            )
        if isinstance(error, ConnectionRefusedError):
            return EmailSendError(f"SMTP connection to {where} refused: nothing listens there ({error})")
        if isinstance(error, socket.gaierror):
            return EmailSendError(f"SMTP host {self.settings.smtp_host!r} could not be resolved: {error}")
        return EmailSendError(f"SMTP {step} {where} failed: {error}")


class SendGridBackend:
    """Sends through SendGrid's v3 HTTP API (``POST /v3/mail/send``) with the official client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, email: OutgoingEmail, message: EmailMessage) -> str | None:
        # Imported here: the client costs ~0.3 s at import and only this backend needs it.
        from python_http_client.exceptions import HTTPError
        from sendgrid import SendGridAPIClient
        from sendgrid.helpers.mail import From, Mail, To

        s = self.settings
        if not s.sendgrid_api_key:
            raise EmailSendError("EMAIL_BACKEND=sendgrid but SENDGRID_API_KEY is not set", permanent=True)
        sender_name, sender_address = parseaddr(s.email_from)
        recipients = [parseaddr(to) for to in email.to]
        mail = Mail(
            from_email=From(sender_address, sender_name or None),
            to_emails=[To(address, name or None) for name, address in recipients],
            subject=email.subject,
            plain_text_content=email.text,
            html_content=email.html,
        )
        client = SendGridAPIClient(api_key=s.sendgrid_api_key, host=s.sendgrid_api_host)
        client.client.timeout = s.sendgrid_timeout_seconds  # copied into every request the client builds
        try:
            response = client.send(mail)
        except HTTPError as error:
            raise self._refusal(error) from error
        except (OSError, http.client.HTTPException) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            if isinstance(reason, TimeoutError):
                detail = f"no answer within {s.sendgrid_timeout_seconds:g} s"
            else:
                detail = str(reason) or type(reason).__name__
            raise EmailSendError(f"SendGrid API at {s.sendgrid_api_host} could not be reached: {detail}") from error
        message_id: str | None = response.headers.get("X-Message-Id")
        return message_id

    def _refusal(self, error: HTTPError) -> EmailSendError:
        status = int(error.status_code)
        detail = _sendgrid_messages(error.body) or str(error.reason)
        return EmailSendError(
            f"SendGrid API at {self.settings.sendgrid_api_host} answered {status}: {detail}",
            permanent=400 <= status < 500 and status != 429,
        )


def _sendgrid_messages(body: bytes | str | None) -> str:
    """SendGrid's ``{"errors": [{"message", "field", "help"}]}`` as one line ("" if the body is not that)."""
    try:
        errors = json.loads(body or b"").get("errors") or []
        parts = [f"{e['field']}: {e['message']}" if e.get("field") else str(e["message"]) for e in errors]
    except (ValueError, AttributeError, TypeError, KeyError):
        return ""
    return "; ".join(parts)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{to} ({code} {_text(reply)})" for to, (code, reply) in refused.items())


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
    if settings.email_backend is EmailBackend.SENDGRID:
        return SendGridBackend(settings)
    return FileBackend(settings.outbox_dir)


def send_email(email: OutgoingEmail) -> EmailMessage:
    """Send ``email`` with the configured backend.

    Returns:
        The message as built (its Message-ID identifies it; SendGrid's own id is added as ``X-Message-Id``).

    Raises:
        EmailSendError: It was not sent; ``permanent`` says whether trying again can help.
    """
    settings = get_settings()
    message = build_message(email, sender=settings.email_from)
    provider_id = get_backend(settings).send(email, message)
    if provider_id:
        message["X-Message-Id"] = provider_id
    return message
