"""The email backends against real counterparts: aiosmtpd (STARTTLS, implicit TLS, AUTH) and a local server that
answers like SendGrid's Mail Send API; which failures are permanent and which are worth retrying."""

from __future__ import annotations

import email
import email.policy
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from app.integrations.email import EmailSendError, OutgoingEmail, send_email
from app.services import team
from app.services.errors import ServiceUnavailable
from app.settings import Settings, get_settings
from tests.utils.factories import make_owner
from tests.utils.sendgrid_server import INVALID_KEY, SendGridRecorder
from tests.utils.server import free_port
from tests.utils.smtp import SmtpServer

SetEnv = Callable[..., None]

HELLO = OutgoingEmail(
    to=["ann@example.com", "bob@example.com"],
    subject="Spend alert: Spring sale",
    text="ROAS fell below 1.5 today.",
    html="<p>ROAS fell below <b>1.5</b> today.</p>",
)


@pytest.fixture
def use_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[SetEnv]:
    """Set settings through the environment (as a deployment does) for this test only."""

    def apply(values: dict[str, str] | None = None, **more: str) -> None:
        for name, value in {**(values or {}), **more}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def _send_error(email_: OutgoingEmail = HELLO) -> EmailSendError:
    with pytest.raises(EmailSendError) as caught:
        send_email(email_)
    return caught.value


# -- SMTP ------------------------------------------------------------------------------------------------------------


def test_smtp_delivers_text_and_html_over_starttls_after_login(use_env: SetEnv) -> None:
    with SmtpServer() as smtp:
        use_env(smtp.env(), EMAIL_FROM="PaidSignal Alerts <alerts@paidsignal.example>")
        sent = send_email(HELLO)
        [delivery] = smtp.deliveries

    assert (delivery.tls, delivery.login) == (True, smtp.username)
    assert [(a.mechanism, a.success, a.tls) for a in smtp.auth_attempts] == [("PLAIN", True, True)]
    assert delivery.mail_from == "alerts@paidsignal.example"
    assert delivery.rcpt_tos == ["ann@example.com", "bob@example.com"]
    message = delivery.message
    assert message["From"] == "PaidSignal Alerts <alerts@paidsignal.example>"
    assert message["To"] == "ann@example.com, bob@example.com"
    assert message["Subject"] == "Spend alert: Spring sale"
    assert message["Message-ID"] == sent["Message-ID"]
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip() == "ROAS fell below 1.5 today."
    assert message.get_body(("html",)).get_content().strip() == "<p>ROAS fell below <b>1.5</b> today.</p>"


def test_smtp_implicit_tls(use_env: SetEnv) -> None:
    with SmtpServer(tls="implicit") as smtp:
        use_env(smtp.env())
        assert get_settings().smtp_ssl
        send_email(HELLO)
        [delivery] = smtp.deliveries
    assert (delivery.tls, delivery.login) == (True, smtp.username)


def test_smtp_wrong_password_is_permanent_and_names_the_reply(use_env: SetEnv) -> None:
    with SmtpServer() as smtp:
        use_env(smtp.env(), SMTP_PASSWORD="not-the-api-key")
        error = _send_error()
        assert smtp.messages == [] and smtp.attempts == 0
        assert smtp.auth_attempts and not any(a.success for a in smtp.auth_attempts)
    assert error.permanent
    assert str(error).startswith(f"SMTP login to 127.0.0.1:{smtp.port} refused: 535 ")


def test_smtp_without_starttls_refuses_to_send_credentials_in_clear(use_env: SetEnv) -> None:
    with SmtpServer(tls="none") as smtp:
        use_env(smtp.env(), SMTP_STARTTLS="true")
        error = _send_error()
        assert error.permanent
        assert f"SMTP server 127.0.0.1:{smtp.port} does not offer STARTTLS, so nothing was sent" in str(error)
        assert smtp.auth_attempts == [] and smtp.messages == []

        # The same server takes a login in clear from a client told to allow it: the check above is what stopped it.
        use_env(SMTP_STARTTLS="false")
        send_email(HELLO)
        assert [(a.success, a.tls) for a in smtp.auth_attempts] == [(True, False)]
        assert [d.tls for d in smtp.deliveries] == [False]


def test_smtp_untrusted_certificate_is_permanent(use_env: SetEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpServer() as smtp:
        use_env(smtp.env())
        monkeypatch.delenv("SMTP_CA_FILE")
        get_settings.cache_clear()
        error = _send_error()
        assert smtp.auth_attempts == [] and smtp.messages == []
    assert error.permanent
    assert "certificate that is not trusted" in str(error) and "SMTP_CA_FILE" in str(error)


def test_smtp_451_is_transient_and_the_next_try_goes_through(use_env: SetEnv) -> None:
    with SmtpServer() as smtp:
        use_env(smtp.env())
        smtp.fail_next(1, 451, "4.3.0 Mail server temporarily rejected message")
        error = _send_error()
        assert not error.permanent
        assert str(error) == (
            f"SMTP server 127.0.0.1:{smtp.port} refused the message: 451 4.3.0 Mail server temporarily rejected message"
        )
        send_email(HELLO)
        assert (smtp.attempts, len(smtp.messages)) == (2, 1)


def test_smtp_refused_recipients(use_env: SetEnv) -> None:
    with SmtpServer() as smtp:
        use_env(smtp.env())
        smtp.refuse_recipient("ann@example.com")
        smtp.refuse_recipient("bob@example.com", 450, "4.2.1 Mailbox busy")
        error = _send_error()
        # One refusal is temporary: trying again may reach everybody.
        assert not error.permanent
        assert "refused every recipient: ann@example.com (550 5.1.1 Mailbox unavailable), bob@example.com (450" in (
            str(error)
        )

        smtp.refuse_recipient("bob@example.com", 550)
        assert _send_error().permanent

        # Taken for one, refused for the other: permanent, as a retry would send the first a second copy.
        partial = _send_error(OutgoingEmail(to=["carl@example.com", "ann@example.com"], subject="s", text="t"))
        assert partial.permanent
        assert "took the message for carl@example.com but refused ann@example.com (550" in str(partial)
        assert [d.rcpt_tos for d in smtp.deliveries] == [["carl@example.com"]]


def test_smtp_server_can_hold_data_until_released(use_env: SetEnv) -> None:
    with SmtpServer() as smtp:
        use_env(smtp.env())
        smtp.hold()
        sender = threading.Thread(target=send_email, args=(HELLO,))
        sender.start()
        assert smtp.held.wait(10)
        time.sleep(0.1)
        assert sender.is_alive() and smtp.messages == []
        smtp.release()
        sender.join(10)
        assert not sender.is_alive()
        [message] = smtp.wait_for(1, timeout=5)
        assert message["Subject"] == HELLO.subject

        # A client that dies after sending the data, before the answer: the held message is still accepted.
        smtp.hold()
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=5)
        client.starttls(context=ssl.create_default_context(cafile=smtp.ca_file))
        client.login(smtp.username, smtp.password)
        client.mail("alerts@paidsignal.example")
        client.rcpt("ann@example.com")
        assert client.docmd("DATA")[0] == 354
        client.send(b"Subject: orphan\r\n\r\nbody\r\n.\r\n")
        assert smtp.held.wait(10)
        client.close()
        smtp.release()
        assert [m["Subject"] for m in smtp.wait_for(2, timeout=5)] == [HELLO.subject, "orphan"]


def test_smtp_connection_refused_is_transient(use_env: SetEnv) -> None:
    port = free_port()  # nothing listens there
    use_env(EMAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(port))
    error = _send_error()
    assert not error.permanent
    assert str(error).startswith(f"SMTP connection to 127.0.0.1:{port} refused")


def test_smtp_silent_server_times_out_as_transient(use_env: SetEnv) -> None:
    # A socket that is listened on but never answered: the connection succeeds, the greeting never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        use_env(EMAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_TIMEOUT_SECONDS="0.3")
        error = _send_error()
    assert not error.permanent
    assert str(error) == f"SMTP connection to 127.0.0.1:{port} timed out after 0.3 s"


def test_invites_go_out_through_smtp_and_a_down_server_is_reported(use_env: SetEnv, db: Session) -> None:
    _, _, owner = make_owner(db, name="Acme")
    with SmtpServer() as smtp:
        use_env(smtp.env())
        created = team.invite_member(session=db, actor=owner, email="new@example.com", role="viewer")
        [message] = smtp.wait_for(1)
    assert message["To"] == "new@example.com"
    assert created.link in message.get_body(("plain",)).get_content()

    use_env(SMTP_PORT=str(free_port()), SMTP_CA_FILE="")
    with pytest.raises(ServiceUnavailable, match="refused"):
        team.invite_member(session=db, actor=owner, email="other@example.com", role="viewer")


# -- SendGrid API ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _sendgrid_server() -> Iterator[SendGridRecorder]:
    with SendGridRecorder() as recorder:
        yield recorder


@pytest.fixture
def sendgrid(_sendgrid_server: SendGridRecorder, use_env: SetEnv) -> SendGridRecorder:
    """The SendGrid stand-in, emptied for this test; the app's email goes there."""
    _sendgrid_server.reset()
    use_env(_sendgrid_server.env(), EMAIL_FROM="PaidSignal Alerts <alerts@paidsignal.example>")
    return _sendgrid_server


def test_sendgrid_sends_the_documented_json_with_the_api_key(sendgrid: SendGridRecorder) -> None:
    sent = send_email(HELLO)
    [request] = sendgrid.requests
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.header("Authorization") == f"Bearer {sendgrid.api_key}"
    assert request.header("Content-Type") == "application/json"
    assert request.json() == {
        "from": {"name": "PaidSignal Alerts", "email": "alerts@paidsignal.example"},
        "subject": "Spend alert: Spring sale",
        "personalizations": [{"to": [{"email": "ann@example.com"}, {"email": "bob@example.com"}]}],
        "content": [
            {"type": "text/plain", "value": "ROAS fell below 1.5 today."},
            {"type": "text/html", "value": "<p>ROAS fell below <b>1.5</b> today.</p>"},
        ],
    }
    assert sendgrid.accepted == [request.json()]
    # The built message comes back for every backend, with SendGrid's own id for its activity feed and webhooks.
    assert sent["Message-ID"] and sent["X-Message-Id"]


def test_sendgrid_text_only_and_named_recipients(sendgrid: SendGridRecorder) -> None:
    send_email(OutgoingEmail(to=["Ann Lee <ann@example.com>"], subject="Hi", text="Just text."))
    body = sendgrid.requests[0].json()
    assert body["personalizations"] == [{"to": [{"name": "Ann Lee", "email": "ann@example.com"}]}]
    assert body["content"] == [{"type": "text/plain", "value": "Just text."}]


def test_sendgrid_rejected_key_is_permanent_with_sendgrid_s_message(
    sendgrid: SendGridRecorder, use_env: SetEnv
) -> None:
    use_env(SENDGRID_API_KEY="SG.revoked-key")
    error = _send_error()
    assert error.permanent
    assert str(error) == f"SendGrid API at {sendgrid.base} answered 401: {INVALID_KEY}"
    assert sendgrid.accepted == []


def test_sendgrid_field_errors_are_permanent_and_name_the_field(sendgrid: SendGridRecorder) -> None:
    message = "The from address does not match a verified Sender Identity."
    sendgrid.fail_next(1, 403, body={"errors": [{"message": message, "field": "from", "help": None}]})
    error = _send_error()
    assert error.permanent
    assert str(error).endswith(f"answered 403: from: {message}")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_sendgrid_rate_limits_and_server_errors_are_transient(sendgrid: SendGridRecorder, status: int) -> None:
    sendgrid.fail_next(1, status)
    error = _send_error()
    assert not error.permanent
    assert f"answered {status}: " in str(error)
    send_email(HELLO)  # the next try goes through
    assert len(sendgrid.sends) == 2 and len(sendgrid.accepted) == 1


def test_sendgrid_timeout_and_unreachable_host_are_transient(sendgrid: SendGridRecorder, use_env: SetEnv) -> None:
    use_env(SENDGRID_TIMEOUT_SECONDS="0.3")
    sendgrid.fail_next(1, 202, body=b"", delay=1.5)
    slow = _send_error()
    assert not slow.permanent
    assert str(slow) == f"SendGrid API at {sendgrid.base} could not be reached: no answer within 0.3 s"

    down = f"http://127.0.0.1:{free_port()}"
    use_env(SENDGRID_API_HOST=down)
    unreachable = _send_error()
    assert not unreachable.permanent
    assert str(unreachable).startswith(f"SendGrid API at {down} could not be reached: ")


def test_sendgrid_recorder_answers_missing_fields_like_sendgrid(sendgrid: SendGridRecorder) -> None:
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{sendgrid.base}/v3/mail/send",
        data=json.dumps(
            {"content": [{"type": "text/html", "value": "x"}, {"type": "text/plain", "value": "y"}]}
        ).encode(),
        headers={"Authorization": f"Bearer {sendgrid.api_key}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 400
    fields = [e["field"] for e in json.loads(caught.value.read())["errors"]]
    assert fields == ["from.email", "personalizations", "subject", "content"]


def test_sendgrid_without_an_api_key_is_permanent(use_env: SetEnv) -> None:
    use_env(EMAIL_BACKEND="sendgrid", SENDGRID_API_KEY="")
    error = _send_error()
    assert error.permanent and "SENDGRID_API_KEY" in str(error)


# -- file backend and settings ---------------------------------------------------------------------------------------


def test_file_backend_is_the_default_and_writes_the_eml(outbox: Path) -> None:
    assert get_settings().email_backend == "file"
    sent = send_email(HELLO)
    [eml] = list(outbox.glob("*.eml"))
    assert eml.stem == sent["Message-ID"].strip("<>").split("@")[0]
    written = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert written["Subject"] == HELLO.subject and written["To"] == "ann@example.com, bob@example.com"
    assert "X-Message-Id" not in sent


_PRODUCTION = {
    "paidsignal_env": "production",
    "secret_key": "x" * 40,
    "public_url": "https://ps.example.com",
    "password_hash_profile": "default",
}


def test_production_needs_the_chosen_backend_s_credentials() -> None:
    with pytest.raises(ValueError, match="EMAIL_BACKEND=sendgrid needs SENDGRID_API_KEY"):
        Settings(**_PRODUCTION, email_backend="sendgrid")
    assert Settings(**_PRODUCTION, email_backend="sendgrid", sendgrid_api_key="SG.x").sendgrid_api_key == "SG.x"
    with pytest.raises(ValueError, match="EMAIL_BACKEND=smtp needs SMTP_HOST"):
        Settings(**_PRODUCTION, email_backend="smtp")
    assert Settings(**_PRODUCTION, email_backend="smtp", smtp_host="smtp.sendgrid.net").smtp_port == 587
    assert Settings(**_PRODUCTION).email_backend == "file"
    # Development keeps working without them (sending then fails with a message that says what is missing).
    assert Settings(email_backend="sendgrid").sendgrid_api_host == "https://api.sendgrid.com"


def test_email_settings_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be an absolute http"):
        Settings(sendgrid_api_host="api.sendgrid.com")
    assert Settings(sendgrid_api_host="http://127.0.0.1:9/").sendgrid_api_host == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="EMAIL_FROM"):
        Settings(email_from="PaidSignal")
    with pytest.raises(ValueError, match="SMTP_CA_FILE"):
        Settings(smtp_ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="email_backend"):
        Settings(email_backend="mailgun")
