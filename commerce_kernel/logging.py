"""Structured logging: JSON lines on stderr, each stamped with the request id it belongs to."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
import traceback
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return orjson.dumps(data, default=str).decode()


class RequestIdFilter(logging.Filter):
    """Stamps the current request's id on records logged while it is being served."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            rid = request_id_var.get()
            if rid:
                record.request_id = rid
        return True


# Kept at WARNING whatever the level. SQLAlchemy's engine logger would, at DEBUG, write every
# row it fetches, secrets stored for use (TOTP and webhook signing secrets) among them: SQL is
# for an engine made with `echo=True` while debugging, never turned on by `LOG_LEVEL`.
QUIET_LOGGERS = (
    "uvicorn.access",
    "arq.worker",
    "aiosqlite",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr at `level`. Called by the commands that serve or work (`serve`,
    `worker`), never on import: an embedding application keeps its own logging."""
    root = logging.getLogger()
    if any(getattr(h, "_commerce", False) for h in root.handlers):
        root.setLevel(level.upper())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RequestIdFilter())
    handler._commerce = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
