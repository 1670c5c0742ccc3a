"""Structured logs: one JSON object per line (issue 2, item 4, "Structured JSON logs").

Each line carries ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the
``interaction_id`` of the call being served (a context variable that kaimen.gateway.entry sets) and
any ``extra=`` fields.

DESIGN.md, "Data that must never be lost or leaked": logs never hold a password, OTP, token or API
key. Callers must not log them; as a safeguard, every line is passed through :func:`redact` before it
is written, which masks anything shaped like a Kaimen API key or an HTTP credential, and the values of
fields whose name says they are secret.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, Any

import orjson

INTERACTION_ID: ContextVar[str | None] = ContextVar("kaimen_interaction_id", default=None)

MASK = "[REDACTED]"
_SHAPES = (
    # A Kaimen API key (kaimen.tpp.keys): kmn_<lookup prefix>_<secret>.
    (re.compile(r"kmn_[A-Za-z0-9_\-]+"), "kmn_" + MASK),
    # An access token after its RFC 6750 §2.1 / RFC 9449 §7.1 scheme name; tokens are long, so words
    # such as "DPoP proof" in ordinary messages are left alone.
    (re.compile(r"\b(Bearer|DPoP)\s+[A-Za-z0-9\-._~+/]{16,}=*", re.IGNORECASE), r"\1 " + MASK),
)
_SECRET_NAME = re.compile(
    r"(?:^|[_.-])(?:pass(?:word|wd)?|secret|token|otp|cookie|authori[sz]ation|api[_.-]?key)(?:$|[_.-])",
    re.IGNORECASE,
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    # Every line passes here: a substring test first keeps the regular expressions off clean lines.
    lowered = text.lower()
    if "kmn_" in lowered or "bearer" in lowered or "dpop" in lowered:
        for shape, replacement in _SHAPES:
            text = shape.sub(replacement, text)
    return text


@lru_cache(maxsize=1024)
def _is_secret_name(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")  # one tuple, replaced whole: safe across threads

    def _utc_iso(self, created: float) -> str:
        """ISO 8601 in UTC with milliseconds; the part up to the second is formatted once a second."""
        second = int(created)
        cached, text = self._second
        if second != cached:
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, text)
        return f"{text}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        interaction_id = INTERACTION_ID.get()
        if interaction_id is not None:
            line["interaction_id"] = interaction_id
        for name, value in record.__dict__.items():
            if name not in _STANDARD:
                line[name] = MASK if _is_secret_name(name) else value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(orjson.dumps(line, default=str).decode())


def configure_logging(level: str, stream: IO[str] | None = None) -> None:
    """Send every logger's records, as JSON lines, to ``stream`` (standard output by default)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The lines carry none of these, and the access log writes one line per call: skip collecting
    # them (Python logging HOWTO, "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # httpx logs every request's full URL (query string included) at INFO: keep it to warnings.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
