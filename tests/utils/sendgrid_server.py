"""A local HTTP server standing in for SendGrid's v3 Mail Send API (``SENDGRID_API_HOST`` points here).

``POST /v3/mail/send`` answers like SendGrid: 202 with an empty body and an ``X-Message-Id`` header when the
``Authorization: Bearer <key>`` matches; 401 otherwise; 400 with SendGrid's error shape
(``{"errors": [{"message", "field", "help"}]}``) when ``from``, ``personalizations`` (with ``to``), ``subject`` or
``content`` is missing; and whatever :meth:`SendGridRecorder.fail_next` asks for (500, 429, slow answers).
Every request is recorded (path, headers, body; :meth:`RecordedRequest.json` parses it).
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from tests.utils.stripe_fakes import RecordedRequest, Reply, _RecordingServer

_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
INVALID_KEY = "The provided authorization grant is invalid, expired, or revoked"

_FAILURE_MESSAGES = {429: "too many requests", 500: "internal server error", 503: "service unavailable"}


class SendGridRecorder(_RecordingServer):
    def __init__(self, api_key: str | None = None) -> None:
        """Create the server (call :meth:`start` or use it as a context manager).

        Args:
            api_key: The one key it accepts; a random ``SG.…`` key by default.
        """
        super().__init__()
        self.api_key = api_key or "SG." + secrets.token_urlsafe(16) + "." + secrets.token_urlsafe(32)
        self._failures: list[Reply] = []
        self._accepted: list[dict[str, Any]] = []
        self._failures_lock = threading.Lock()

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``: the value for ``SENDGRID_API_HOST``."""
        return self.url

    def env(self) -> dict[str, str]:
        """The settings that make PaidSignal send through this server."""
        return {"EMAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": self.api_key, "SENDGRID_API_HOST": self.base}

    @property
    def sends(self) -> list[RecordedRequest]:
        """The ``POST /v3/mail/send`` requests so far, answered or not, oldest first."""
        return self.requests_to("/v3/mail/send", "POST")

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """The JSON bodies answered 202, oldest first."""
        with self._lock:
            return list(self._accepted)

    def fail_next(self, n: int = 1, status: int = 500, *, body: Any = None, delay: float = 0.0) -> None:
        """Answer the next ``n`` sends with ``status`` (SendGrid's error shape unless ``body`` is given).

        Args:
            n: How many sends fail.
            status: The HTTP status, e.g. 500 or 429.
            body: The JSON body; by default ``{"errors": [{"message": ..., "field": null, "help": null}]}``.
            delay: Seconds to wait before answering (more than the client's timeout provokes a timeout).
        """
        if body is None:
            body = _errors((_FAILURE_MESSAGES.get(status, f"injected {status}"), None, None))
        headers = {"Retry-After": "1"} if status == 429 else {}
        with self._failures_lock:
            self._failures.extend([Reply(status, body, headers, delay)] * n)

    def reset(self) -> None:
        """Forget recorded requests and pending failures."""
        with self._lock:
            self._requests.clear()
            self._accepted.clear()
        with self._failures_lock:
            self._failures.clear()

    def _respond(self, request: RecordedRequest) -> Reply:
        if request.path != "/v3/mail/send" or request.method != "POST":
            return Reply(404, _errors(("resource not found", None, None)))
        authorization = request.header("Authorization")
        if not authorization:
            return Reply(401, _errors(("authorization required", None, None)))
        if not secrets.compare_digest(authorization.encode(), f"Bearer {self.api_key}".encode()):
            return Reply(401, _errors((INVALID_KEY, None, None)))
        with self._failures_lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return failure
        try:
            body = request.json()
        except ValueError:
            return Reply(400, _errors(("Bad Request", None, None)))
        problems = _missing_fields(body) if isinstance(body, dict) else [("Bad Request", None, None)]
        if problems:
            return Reply(400, _errors(*problems))
        with self._lock:
            self._accepted.append(body)
        return Reply(202, b"", {"X-Message-Id": secrets.token_urlsafe(16)})


def _missing_fields(body: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """SendGrid's validation of the fields every send needs, with its own messages."""
    problems: list[tuple[str, str | None, str | None]] = []
    sender = body.get("from")
    if not isinstance(sender, dict) or not sender.get("email"):
        problems.append(
            (
                "The from object must be provided for every email send. It is an object that requires the email "
                'parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or '
                '{"email" : "example@example.com", "name" : "Example Recipient"}.',
                "from.email",
                f"{_HELP}#message.from",
            )
        )
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(
            (
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
                f"{_HELP}#-Personalizations-Errors",
            )
        )
    else:
        for index, personalization in enumerate(personalizations):
            if not isinstance(personalization, dict) or not personalization.get("to"):
                problems.append(
                    (
                        "The to array is required for all personalization objects, and must have at least one email "
                        "object with a valid email address.",
                        f"personalizations.{index}.to",
                        f"{_HELP}#message.personalizations.to",
                    )
                )
    has_subject = bool(body.get("subject")) or (
        isinstance(personalizations, list)
        and bool(personalizations)
        and all(isinstance(p, dict) and p.get("subject") for p in personalizations)
    )
    if not has_subject and not body.get("template_id"):
        problems.append(
            (
                "The subject is required. You can get around this requirement if you use a template with a subject "
                "defined or if every personalization has a subject defined.",
                "subject",
                f"{_HELP}#message.subject",
            )
        )
    content = body.get("content")
    if not body.get("template_id") and (not isinstance(content, list) or not content):
        problems.append(
            (
                "Unless a valid template_id is provided, the content parameter is required. There must be at least "
                "one defined content block. We typically suggest both text/plain and text/html blocks are included, "
                "but only one block is required.",
                "content",
                f"{_HELP}#message.content",
            )
        )
    elif isinstance(content, list):
        types = [c.get("type") if isinstance(c, dict) else None for c in content]
        if "text/plain" in types and types.index("text/plain") != 0:
            problems.append(
                (
                    "If present, text/plain must be first, followed by text/html, followed by any other content.",
                    "content",
                    f"{_HELP}#message.content",
                )
            )
    return problems


def _errors(*items: tuple[str, str | None, str | None]) -> dict[str, Any]:
    return {"errors": [{"message": message, "field": field, "help": help_} for message, field, help_ in items]}
