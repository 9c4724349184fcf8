"""A local HTTP server standing in for Meta's Graph API, GA4's Measurement Protocol, Google's OAuth token endpoint,
the Data Manager API and a shop's webhook receiver. It records every request and answers like the real ones
(including the errors PaidSignal must handle), and can be told to fail, go down, or be slow.

Routes (``META_GRAPH_BASE``, ``GA4_BASE``, ``GOOGLE_DATAMANAGER_BASE`` and ``GOOGLE_OAUTH_TOKEN_URL`` all point here):

* ``POST /{version}/{pixel_id}/events?access_token=…`` — Meta CAPI: 400 (code 100, subcode 2804003) when an
  event is older than 7 days, 400 when a website event lacks ``client_user_agent``, 400 (code 100) when an event's
  ``event_id`` is in :attr:`AdPlatforms.bad_event_ids`, 400 (code 190) for a token in :attr:`AdPlatforms.bad_tokens`;
  each refuses the whole request, as Meta does; else ``{events_received, messages, fbtrace_id}``.
* ``POST /mp/collect`` — 204, like GA4 (which never reports errors); ``POST /debug/mp/collect`` — 200 with
  ``validationMessages`` for a missing ``client_id``, a bad event name, or ``value`` without ``currency``.
* ``POST /token`` — OAuth refresh: ``invalid_grant`` for a refresh token in :attr:`revoked_tokens`.
* ``POST /v1/events:ingest`` — Data Manager: 401 without a token this server issued, 400 (google.rpc.Status)
  without ``transactionId``/``eventTimestamp`` or without any identifier; else ``{"requestId": …}``.
* ``POST /hooks/…`` — 200 (a shop's generic webhook receiver).
* Meta Insights and Google Ads reporting: see :mod:`tests.utils.ad_reports`.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from tests.utils.ad_reports import ReportingRoutes
from tests.utils.stripe_fakes import RecordedRequest, Reply, _RecordingServer

_GA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


@dataclass
class _Failure:
    path_prefix: str
    reply: Reply
    remaining: int


class AdPlatforms(ReportingRoutes, _RecordingServer):
    def __init__(self) -> None:
        super().__init__()
        self.reset_reporting()
        self._failures: list[_Failure] = []
        self._down: dict[str, Reply] = {}
        self.bad_tokens: set[str] = set()
        self.bad_event_ids: set[str] = set()  # Meta refuses any request carrying one of these
        self.revoked_tokens: set[str] = set()
        self.issued: set[str] = set()
        self.hold = threading.Event()  # set: requests to held paths wait until it is cleared
        self.held_paths: tuple[str, ...] = ()
        self.arrived_held = threading.Event()

    # -- control -----------------------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._failures.clear()
            self._down.clear()
        self.bad_tokens.clear()
        self.bad_event_ids.clear()
        self.revoked_tokens.clear()
        self.reset_reporting()

    def fail_next(
        self,
        path_prefix: str,
        status: int = 503,
        body: Any = None,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests under ``path_prefix`` with this reply instead."""
        body = {"error": {"message": f"injected {status}", "code": status}} if body is None else body
        with self._lock:
            self._failures.append(_Failure(path_prefix, Reply(status, body, dict(headers or {}), delay), times))

    def down(self, path_prefix: str, status: int = 503) -> None:
        """Every request under ``path_prefix`` fails until :meth:`up`."""
        with self._lock:
            self._down[path_prefix] = Reply(status, {"error": {"message": "Service Unavailable", "code": status}})

    def up(self) -> None:
        with self._lock:
            self._down.clear()

    def bodies(self, path_prefix: str) -> list[Any]:
        return [r.json() for r in self.requests_to(path_prefix, "POST")]

    # -- answers -----------------------------------------------------------------------------------------------------

    def _respond(self, request: RecordedRequest) -> Reply:
        with self._lock:
            for prefix, reply in self._down.items():
                if request.path.startswith(prefix):
                    return reply
            for failure in self._failures:
                if request.path.startswith(failure.path_prefix) and failure.remaining > 0:
                    failure.remaining -= 1
                    return failure.reply
        if self.held_paths and request.path.startswith(self.held_paths):
            self.arrived_held.set()
            while self.hold.is_set():
                time.sleep(0.02)
        if request.path == "/token":
            return self._token(request)
        if request.path.startswith("/hooks/"):
            return Reply(200, {"ok": True})
        if request.path == "/mp/collect":
            return Reply(204, b"")
        if request.path == "/debug/mp/collect":
            return Reply(200, {"validationMessages": self._ga_messages(request.json())})
        if request.path == "/v1/events:ingest":
            return self._ingest(request)
        reporting = self._reporting(request)  # Meta Insights, Google Ads reporting (tests/utils/ad_reports.py)
        if reporting is not None:
            return reporting
        match = re.fullmatch(r"/v\d+\.\d+/(\d+)/events", request.path)
        if match:
            return self._meta(request)
        return Reply(404, {"error": {"message": f"no route {request.path}"}})

    def _meta(self, request: RecordedRequest) -> Reply:
        token = request.query.get("access_token", "")
        if not token or token in self.bad_tokens:
            message = "Invalid OAuth access token - Cannot parse access token"
            return Reply(400, _meta_error(message, 190, "OAuthException"))
        body = request.json()
        events = body.get("data") or []
        for event in events:
            if int(event.get("event_time", 0)) < time.time() - 7 * 86400:
                return Reply(
                    400,
                    _meta_error(
                        "Invalid parameter", 100, "OAuthException", subcode=2804003,
                        title="Event Timestamp Too Old",
                        user_msg="The timestamp for this event is too far in the past. Events need to be sent from "
                        "your server within 7 days of when they occurred.",
                    ),
                )  # fmt: skip
            if event.get("event_id") in self.bad_event_ids:
                return Reply(
                    400,
                    _meta_error("Invalid parameter", 100, "OAuthException", title="Invalid custom_data",
                                user_msg=f"The event {event['event_id']} has an invalid parameter."),
                )  # fmt: skip
            if event.get("action_source") == "website" and not (event.get("user_data") or {}).get("client_user_agent"):
                message = "Invalid parameter: client_user_agent is required"
                return Reply(400, _meta_error(message, 100, "OAuthException"))
        return Reply(200, {"events_received": len(events), "messages": [], "fbtrace_id": secrets.token_urlsafe(9)})

    def _ga_messages(self, body: dict[str, Any]) -> list[dict[str, str]]:
        messages = []
        if not body.get("client_id"):
            messages.append(
                {"fieldPath": "client_id", "description": "client_id is required.", "validationCode": "VALUE_REQUIRED"}
            )
        for index, event in enumerate(body.get("events") or []):
            if not _GA_NAME.match(str(event.get("name", ""))):
                messages.append(
                    {
                        "fieldPath": "events",
                        "description": f"Event at index: [{index}] has invalid name [{event.get('name')}].",
                        "validationCode": "NAME_INVALID",
                    }
                )
            params = event.get("params") or {}
            if "value" in params and not params.get("currency"):
                messages.append(
                    {
                        "fieldPath": "currency",
                        "description": "Currency is required when value is set.",
                        "validationCode": "VALUE_REQUIRED",
                    }
                )
        return messages

    def _token(self, request: RecordedRequest) -> Reply:
        form = dict(parse_qsl(request.body.decode()))
        if form.get("grant_type") != "refresh_token" or not form.get("client_id") or not form.get("client_secret"):
            return Reply(400, {"error": "invalid_request", "error_description": "Missing required parameter."})
        if form.get("refresh_token") in self.revoked_tokens or not form.get("refresh_token"):
            return Reply(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        token = "ya29.test-" + secrets.token_urlsafe(12)
        with self._lock:
            self.issued.add(token)
        return Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer", "scope": "datamanager"})

    def _ingest(self, request: RecordedRequest) -> Reply:
        auth = request.header("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] not in self.issued:
            return Reply(401, _google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."))
        body = request.json()
        if not body.get("destinations") or not body.get("events"):
            return Reply(400, _google_error(400, "INVALID_ARGUMENT", "destinations and events are required."))
        for event in body["events"]:
            if not event.get("eventTimestamp"):
                return Reply(400, _google_error(400, "INVALID_ARGUMENT", "events[0].event_timestamp is required."))
            if not event.get("adIdentifiers") and not event.get("userData"):
                return Reply(400, _google_error(400, "INVALID_ARGUMENT", "No identifiers provided."))
        return Reply(200, {"requestId": secrets.token_hex(16)})


def _meta_error(
    message: str, code: int, type_: str, *, subcode: int | None = None, title: str = "", user_msg: str = ""
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": type_, "code": code, "fbtrace_id": secrets.token_urlsafe(9)}
    if subcode:
        error["error_subcode"] = subcode
    if title:
        error["error_user_title"] = title
        error["error_user_msg"] = user_msg
    return {"error": error}


def _google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}
