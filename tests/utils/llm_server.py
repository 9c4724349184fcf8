"""A local OpenAI-compatible chat completions server for the assistant's integration tests, used through litellm as
``model="openai/<name>"`` with ``api_base=server.url``.

``POST /v1/chat/completions`` answers each request with the next scripted :class:`ScriptedReply` (text, or tool
calls), streamed as server-sent events (``data: {chunk}`` … ``data: [DONE]``, with a final usage chunk when the
request asks for ``stream_options.include_usage``) or as one JSON completion. Every request body is recorded, so
tests can check the tools offered and the tool results sent back. A reply can wait before answering (timeouts) or
stop mid-stream until released (cancellation).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class ScriptedToolCall:
    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)  # a str is sent as it is (invalid JSON too)
    id: str = ""


@dataclass(frozen=True)
class ScriptedReply:
    """One answer of the fake model.

    Attributes:
        text: The content, streamed ``chunk_chars`` characters at a time.
        tool_calls: Tool calls (sent after the text), each call's arguments in two pieces.
        prompt_tokens / completion_tokens: The usage reported.
        delay: Seconds to wait before answering at all.
        chunk_delay: Seconds between two streamed chunks.
        hold_after: Stream this many text chunks, then wait until :meth:`LlmServer.release` (or 30 s).
        status / error: Answer this HTTP status with an OpenAI-style error instead.
    """

    text: str = ""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    prompt_tokens: int = 120
    completion_tokens: int = 30
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunk_chars: int = 4
    hold_after: int | None = None
    status: int = 200
    error: str = ""


def text(content: str, **options: Any) -> ScriptedReply:
    return ScriptedReply(text=content, **options)


def tool_calls(*calls: tuple[str, dict[str, Any] | str], **options: Any) -> ScriptedReply:
    return ScriptedReply(tool_calls=tuple(ScriptedToolCall(name, arguments) for name, arguments in calls), **options)


class LlmServer:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread (start/stop, or use it as a context manager)."""

    def __init__(self, model_name: str = "paidsignal-test") -> None:
        self.model_name = model_name
        self._lock = threading.Lock()
        self._script: deque[ScriptedReply] = deque()
        self._requests: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._release = threading.Event()
        self.held = threading.Event()  # set when a stream reached its ``hold_after`` point
        self.finished = threading.Event()  # set when a response was written completely (or the client left)

    # -- control -----------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base for litellm: ``http://127.0.0.1:PORT/v1``."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def model(self) -> str:
        """The litellm model name that reaches this server."""
        return f"openai/{self.model_name}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def script(self, *replies: ScriptedReply) -> None:
        """Queue replies; each request takes the next one (none left: a 500 saying so)."""
        with self._lock:
            self._script.extend(replies)

    def release(self) -> None:
        self._release.set()

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._requests.clear()
        self._release.set()  # let a stream still held from the last test finish
        self._release = threading.Event()
        self.held.clear()
        self.finished.clear()

    def start(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                    return
                try:
                    request = json.loads(body)
                except json.JSONDecodeError:
                    self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                    return
                with owner._lock:
                    owner._requests.append(request)
                    reply = owner._script.popleft() if owner._script else None
                    release = owner._release
                try:
                    if reply is None:
                        self._json(500, {"error": {"message": "no scripted reply left", "type": "server_error"}})
                    elif reply.delay and release.wait(reply.delay):
                        return  # released while waiting: the test is over
                    elif reply.status != 200:
                        self._json(
                            reply.status,
                            {
                                "error": {
                                    "message": reply.error or "scripted error",
                                    "type": "server_error",
                                    "code": reply.status,
                                }
                            },
                        )
                    elif request.get("stream"):
                        self._stream(request, reply, release)
                    else:
                        self._json(200, owner._completion(request, reply))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (cancelled or timed out)
                finally:
                    owner.finished.set()

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, request: dict[str, Any], reply: ScriptedReply, release: threading.Event) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunks = owner._chunks(request, reply)
                for index, (kind, payload) in enumerate(chunks):
                    if reply.hold_after is not None and kind == "text" and index == reply.hold_after + 1:
                        owner.held.set()
                        release.wait(30)
                    self._send(f"data: {json.dumps(payload)}\n\n")
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                self._send("data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _send(self, event: str) -> None:
                data = event.encode()
                self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="llm-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- replies -----------------------------------------------------------------------------------------------------

    def _usage(self, reply: ScriptedReply) -> dict[str, int]:
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }

    @staticmethod
    def _calls(reply: ScriptedReply) -> list[tuple[str, str, str]]:
        """(id, name, arguments JSON text) of each tool call."""
        return [
            (
                call.id or f"call_{secrets.token_hex(6)}",
                call.name,
                call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments),
            )
            for call in reply.tool_calls
        ]

    def _completion(self, request: dict[str, Any], reply: ScriptedReply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        calls = self._calls(reply)
        if calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": arguments}}
                for cid, name, arguments in calls
            ]
        return {
            "id": f"chatcmpl-{secrets.token_hex(8)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", self.model_name),
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": self._usage(reply),
        }

    def _chunks(self, request: dict[str, Any], reply: ScriptedReply) -> list[tuple[str, dict[str, Any]]]:
        """The stream's chunks in order, each tagged ``role``, ``text``, ``tool``, ``finish`` or ``usage``."""
        base = {
            "id": f"chatcmpl-{secrets.token_hex(8)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.get("model", self.model_name),
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        out: list[tuple[str, dict[str, Any]]] = [("role", chunk({"role": "assistant", "content": ""}))]
        size = max(1, reply.chunk_chars)
        out += [("text", chunk({"content": reply.text[i : i + size]})) for i in range(0, len(reply.text), size)]
        calls = self._calls(reply)
        for index, (cid, name, arguments) in enumerate(calls):
            out.append(
                (
                    "tool",
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": cid,
                                    "type": "function",
                                    "function": {"name": name, "arguments": ""},
                                }
                            ]
                        }
                    ),
                )
            )
            half = len(arguments) // 2
            for piece in (arguments[:half], arguments[half:]):
                out.append(("tool", chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})))
        out.append(("finish", chunk({}, "tool_calls" if calls else "stop")))
        if (request.get("stream_options") or {}).get("include_usage"):
            out.append(("usage", {**base, "choices": [], "usage": self._usage(reply)}))
        return out
