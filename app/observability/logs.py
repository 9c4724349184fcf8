"""Log lines: plain text by default (logging is left as Reflex and the ASGI server set it up), one JSON object per
line with ``LOG_FORMAT=json``: time, level, logger, message, process id and role, and the fields a request adds
(request id, account id, route, status, duration)."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from app.settings import LogFormat, get_settings

ACCESS_LOG = "paidsignal.access"  # one line per answered request (JSON format only)
# Attributes every LogRecord has: anything else on a record came from ``extra=`` and goes into the line.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """A record as one JSON line; ``extra=`` fields are kept as they are (values JSON cannot hold become text)."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            "role": self.role,
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(role: str) -> bool:
    """With ``LOG_FORMAT=json``, route every log record of this process (ours, the ASGI server's, libraries') to
    stderr as JSON lines at INFO and above; returns whether it did. Text: nothing changes."""
    if get_settings().log_format is not LogFormat.JSON:
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(role))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in list(logging.root.manager.loggerDict):  # servers' own handlers would print text beside ours
        logger = logging.getLogger(name)
        if logger.handlers and not name.startswith("paidsignal"):
            logger.handlers[:] = []
            logger.propagate = True
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return True


def access_logging() -> bool:
    """Whether each answered request is logged (JSON only: a plain-text line per request would change what the
    embedded default prints)."""
    return get_settings().log_format is LogFormat.JSON
