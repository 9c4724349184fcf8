"""A DNS for tests: host names answer what the test sets, and answers can change from one lookup to the next
(DNS rebinding). Installed with ``address_guard.use_resolver``; numeric hosts never reach it."""

from __future__ import annotations

import socket
import threading

# A public address (example.com's, long ago) for names that must pass the guard; nothing connects to it in tests.
PUBLIC = "93.184.216.34"


class FakeDNS:
    def __init__(self) -> None:
        self._records: dict[str, list[list[str]]] = {}
        self._lock = threading.Lock()
        self.lookups: list[str] = []

    def set(self, name: str, *answers: str | list[str]) -> None:
        """``name`` answers ``answers[0]`` at the first lookup, ``answers[1]`` at the second, …; the last one stays."""
        with self._lock:
            self._records[name] = [[a] if isinstance(a, str) else list(a) for a in answers]

    def __call__(self, host: str, port: int) -> list[str]:
        with self._lock:
            self.lookups.append(host)
            answers = self._records.get(host)
            if not answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return answers.pop(0) if len(answers) > 1 else answers[0]
