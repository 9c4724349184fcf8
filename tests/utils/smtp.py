"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 with STARTTLS (a CA and a server certificate made for the
test) and AUTH LOGIN/PLAIN for one user. It records what it accepts and can refuse, or hold, DATA on demand.

    with SmtpServer() as smtp:
        os.environ.update(smtp.env())   # EMAIL_BACKEND=smtp, SMTP_HOST, ..., SMTP_CA_FILE
        ...
        [message] = smtp.wait_for(1)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.utils.server import free_port

TlsMode = Literal["starttls", "implicit", "none"]


@dataclass(frozen=True)
class Delivery:
    """One message the server accepted.

    Attributes:
        message: The message as parsed (``email.policy.default``).
        mail_from: The envelope sender (``MAIL FROM``).
        rcpt_tos: The envelope recipients (``RCPT TO``).
        login: The user that logged in on that connection, or None.
        tls: Whether the connection was encrypted when DATA arrived.
    """

    message: EmailMessage
    mail_from: str
    rcpt_tos: list[str]
    login: str | None
    tls: bool


@dataclass(frozen=True)
class AuthAttempt:
    """One AUTH exchange: which mechanism, which user, whether it succeeded, and whether it was encrypted."""

    mechanism: str
    login: str
    success: bool
    tls: bool


class SmtpServer:
    """An aiosmtpd ``Controller`` on a free port of 127.0.0.1, in its own thread; use it as a context manager.

    ``tls="starttls"`` (the default) offers STARTTLS and AUTH only after it (``auth_require_tls=True``), like
    SendGrid's relay on port 587. ``tls="implicit"`` speaks TLS from the first byte (like port 465). ``tls="none"``
    offers no STARTTLS but would take AUTH in clear, so a client that wrongly logs in anyway shows up in
    :attr:`auth_attempts`. Mail is refused with 530 until the client has logged in (unless ``require_auth=False``).
    """

    def __init__(
        self,
        *,
        tls: TlsMode = "starttls",
        username: str = "apikey",
        password: str | None = None,
        require_auth: bool = True,
    ) -> None:
        self.tls: TlsMode = tls
        self.host = "127.0.0.1"
        self.port = 0
        self.username = username
        self.password = password if password is not None else "SG." + secrets.token_urlsafe(16)
        self.require_auth = require_auth
        self._folder: Path | None = None
        self._controller: Controller | None = None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._deliveries: list[Delivery] = []
        self._auth_attempts: list[AuthAttempt] = []
        self._failures: list[str] = []
        self._refused_recipients: dict[str, str] = {}
        self._attempts = 0
        self._holding = threading.Event()
        self.held = threading.Event()  # set when a DATA arrived while holding

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    @property
    def ca_file(self) -> str:
        """PEM file of the CA that signed the server's certificate (``SMTP_CA_FILE``)."""
        if self._folder is None:
            raise RuntimeError("the server is not started")
        return str(self._folder / "ca.pem")

    def start(self) -> Self:
        if self._controller is not None:
            return self
        self._folder = Path(tempfile.mkdtemp(prefix="paidsignal-smtp-"))
        server_context = make_certificates(self._folder)
        self.port = free_port()
        handler = _Handler(self)
        options: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": "localhost",  # the greeting's name: skips a DNS look-up of our own name
            "authenticator": self._authenticate,
        }
        if self.tls == "starttls":
            options.update(tls_context=server_context, auth_require_tls=True)
        elif self.tls == "implicit":
            # aiosmtpd only counts STARTTLS as TLS, so it would hide AUTH on an implicit-TLS connection.
            options.update(ssl_context=server_context, auth_require_tls=False)
        else:
            options.update(auth_require_tls=False)
        self._controller = Controller(handler, **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving, let a held DATA go, and delete the certificates (idempotent)."""
        controller, self._controller = self._controller, None
        self._holding.clear()
        if controller is not None:
            controller.stop()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The settings that make PaidSignal (this process or a server subprocess) send here."""
        return {
            "EMAIL_BACKEND": "smtp",
            "SMTP_HOST": self.host,
            "SMTP_PORT": str(self.port),
            "SMTP_USERNAME": self.username,
            "SMTP_PASSWORD": self.password,
            "SMTP_STARTTLS": "true" if self.tls == "starttls" else "false",
            "SMTP_SSL": "true" if self.tls == "implicit" else "false",
            "SMTP_CA_FILE": self.ca_file,
        }

    # -- what arrived ------------------------------------------------------------------------------------------------

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages accepted so far, oldest first."""
        return [d.message for d in self.deliveries]

    @property
    def deliveries(self) -> list[Delivery]:
        """The messages accepted so far with their envelope and connection, oldest first."""
        with self._lock:
            return list(self._deliveries)

    @property
    def auth_attempts(self) -> list[AuthAttempt]:
        """Every AUTH exchange so far (passwords are not kept)."""
        with self._lock:
            return list(self._auth_attempts)

    @property
    def attempts(self) -> int:
        """DATA commands received so far, refused ones included."""
        with self._lock:
            return self._attempts

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least ``count`` messages were accepted.

        Raises:
            TimeoutError: Fewer arrived within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._deliveries) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._deliveries)} of {count} messages arrived within {timeout} s")
                self._arrived.wait(left)
            return [d.message for d in self._deliveries]

    def clear(self) -> None:
        """Forget what arrived and every injected failure; release a hold."""
        with self._lock:
            self._deliveries.clear()
            self._auth_attempts.clear()
            self._failures.clear()
            self._refused_recipients.clear()
            self._attempts = 0
        self.release()
        self.held.clear()

    # -- misbehaving on demand ---------------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, code: int = 451, text: str = "4.3.0 Temporary failure, try again later") -> None:
        """Answer the next ``n`` DATA commands with ``code text`` instead of accepting the message."""
        with self._lock:
            self._failures.extend([f"{code} {text}"] * n)

    def refuse_recipient(self, address: str, code: int = 550, text: str = "5.1.1 Mailbox unavailable") -> None:
        """Answer ``RCPT TO:<address>`` with ``code text`` from now on."""
        with self._lock:
            self._refused_recipients[address.lower()] = f"{code} {text}"

    def hold(self) -> None:
        """Make DATA wait (before answering) until :meth:`release`; :attr:`held` is set when one arrives.

        A held message is accepted once released, even if its client has gone meanwhile, as a server that had
        already stored it would: a client killed mid-send may therefore deliver it twice when it retries.
        """
        self.held.clear()
        self._holding.set()

    def release(self) -> None:
        self._holding.clear()

    # -- called from the server's thread -----------------------------------------------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        success = secrets.compare_digest(auth_data.login, self.username.encode()) and secrets.compare_digest(
            auth_data.password, self.password.encode()
        )
        with self._lock:
            self._auth_attempts.append(AuthAttempt(mechanism, login, success, _encrypted(server)))
        return AuthResult(success=success, handled=False, auth_data=auth_data)

    def _refusal_for(self, address: str) -> str | None:
        with self._lock:
            return self._refused_recipients.get(address.lower())

    def _next_failure(self) -> str | None:
        with self._lock:
            self._attempts += 1
            return self._failures.pop(0) if self._failures else None

    def _record(self, delivery: Delivery) -> None:
        with self._arrived:
            self._deliveries.append(delivery)
            self._arrived.notify_all()


class _Handler:
    """aiosmtpd's handler hooks, delegating to the owning :class:`SmtpServer`."""

    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner
        self._pending: set[asyncio.Future[str]] = set()

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.owner.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self.owner._refusal_for(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        failure = self.owner._next_failure()
        if failure:
            return failure
        raw = envelope.original_content or envelope.content or b""
        message = email.message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        credentials = session.auth_data
        login = credentials.login.decode("utf-8", "replace") if isinstance(credentials, LoginPassword) else None
        delivery = Delivery(message, envelope.mail_from or "", list(envelope.rcpt_tos), login, _encrypted(server))
        # aiosmtpd cancels this handler when the client goes away; the data has arrived, so (like a server that
        # stored it) finish accepting it anyway: shielded, and kept referenced until done.
        task = asyncio.ensure_future(self._accept(delivery))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return await asyncio.shield(task)

    async def _accept(self, delivery: Delivery) -> str:
        owner = self.owner
        if owner._holding.is_set():
            owner.held.set()
            while owner._holding.is_set():  # poll: blocking would stall every other connection of this loop
                await asyncio.sleep(0.02)
        owner._record(delivery)
        return "250 2.0.0 Message accepted for delivery"


def _encrypted(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def make_certificates(folder: Path, host: str = "localhost") -> ssl.SSLContext:
    """A CA and a certificate for ``127.0.0.1``/``host`` signed by it, written to ``folder``.

    Returns:
        The server's TLS context (the client trusts ``folder/ca.pem``).
    """
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PaidSignal test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (folder / "cert.pem").write_bytes(cert.public_bytes(pem))
    key_file = folder / "key.pem"
    key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_file.chmod(0o600)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", key_file)
    return context
