"""JSON logs, one object per line, with the fields DESIGN.md fixes.

Fields: `timestamp` (ISO 8601 UTC), `level`, `logger`, `message`, `module`,
`function`, `line`, `exception{type,message,traceback}` when there is one,
`request_id` / `user_id` when known, `service`, `category` (`application` |
`security` | `access` | `database`), and `job_id`, `job_try`, `queue` in workers.

Standard-library loggers (uvicorn, arq, sqlalchemy) are rendered the same way,
so every line a service writes has one shape. Context (request id, user id, job
fields) is bound with `bind_context` and travels in contextvars.

The format is `PRICEALERT_LOG_FORMAT`: `json` (the production contract above),
`console` (one readable line per event, for people), or `auto` (the default):
console when the output is a terminal on a development or test machine, JSON
otherwise — staging and production always log JSON. arq's own per-job lines
("→ job started", "← job finished", health records) are logged at DEBUG: the
jobs' own events say what happened.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any, Final, Literal

import structlog
from structlog.typing import EventDict, WrappedLogger

Category = Literal["application", "security", "access", "database"]
CATEGORIES: Final = ("application", "security", "access", "database")
LogFormat = Literal["auto", "json", "console"]
LOG_FORMATS: Final = ("auto", "json", "console")

_SERVICE: dict[str, str] = {"name": "pricealert"}
_CONTEXT_KEYS: Final = ("request_id", "user_id", "job_id", "job_try", "queue")


def _shape(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Turn structlog's event dict into the documented line shape."""
    shaped: dict[str, Any] = {
        "timestamp": event_dict.pop("timestamp"),
        "level": str(event_dict.pop("level", "info")).upper(),
        "logger": event_dict.pop("logger", None) or "pricealert",
        "message": str(event_dict.pop("event", "")),
        "module": event_dict.pop("module", None),
        "function": event_dict.pop("func_name", None),
        "line": event_dict.pop("lineno", None),
        "service": _SERVICE["name"],
        "category": event_dict.pop("category", None) or "application",
    }
    if shaped["level"] == "WARN":
        shaped["level"] = "WARNING"
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        shaped["exception"] = _exception_fields(exc_info)
    for key in _CONTEXT_KEYS:
        if key in event_dict:
            shaped[key] = event_dict.pop(key)
    event_dict.pop("positional_args", None)
    shaped.update(event_dict)  # remaining structured fields follow the fixed ones
    return shaped


def _default_category(record: logging.LogRecord | None) -> Category:
    if record is not None:
        if record.name.startswith("uvicorn.access"):
            return "access"
        if record.name.startswith("sqlalchemy"):
            return "database"
    return "application"


def _exception_fields(exc_info: Any) -> dict[str, str]:
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    exc_type, exc, tb = exc_info
    return {
        "type": exc_type.__name__ if exc_type else "Exception",
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc_type, exc, tb)),
    }


_PRE_CHAIN: Final[list[Any]] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.CallsiteParameterAdder(
        {
            structlog.processors.CallsiteParameter.MODULE,
            structlog.processors.CallsiteParameter.FUNC_NAME,
            structlog.processors.CallsiteParameter.LINENO,
        }
    ),
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
]


def set_service(service: str) -> None:
    """Name the service every line carries (before logging is configured, too)."""
    _SERVICE["name"] = service


def use_json(
    log_format: str | None = None, *, stream: Any = None, environment: str | None = None
) -> bool:
    """Whether lines on `stream` are JSON: `log_format` (default `PRICEALERT_LOG_FORMAT`),
    where `auto` means console only on a terminal outside staging and production."""
    chosen = (log_format or os.environ.get("PRICEALERT_LOG_FORMAT") or "auto").lower()
    if chosen == "json":
        return True
    if chosen == "console":
        return False
    environment = environment or os.environ.get("PRICEALERT_ENVIRONMENT", "development")
    if environment in {"staging", "production"}:
        return True
    isatty = getattr(stream or sys.stdout, "isatty", None)
    return not (callable(isatty) and isatty())


def _console_shape(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """For people: time, level, event, its fields and [service] (the supervisor's terminal
    shows every service's lines); no call site, logger or default category."""
    for key in ("module", "func_name", "lineno", "positional_args"):
        event_dict.pop(key, None)
    if event_dict.get("category") == "application":
        del event_dict["category"]
    timestamp = str(event_dict.get("timestamp", ""))
    event_dict["timestamp"] = timestamp[11:19] + "Z" if len(timestamp) >= 19 else timestamp
    event_dict["logger"] = _SERVICE["name"]
    return event_dict


def json_formatter(json_output: bool = True) -> logging.Formatter:
    """The formatter that renders every record, structlog's or the stdlib's, as one line."""
    if json_output:
        tail: list[Any] = [_shape, structlog.processors.JSONRenderer(ensure_ascii=False)]
    else:
        tail = [
            _console_shape,
            structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()),
        ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[
            _category_from_record,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tail,
        ],
        pass_foreign_args=True,
    )


def configured_formatter() -> logging.Formatter:
    """The formatter `PRICEALERT_LOG_FORMAT` asks for on stdout (for arq's dictConfig)."""
    return json_formatter(use_json())


class ArqChatter(logging.Filter):
    """arq's per-job lines ("0.01s → job(...)", "← ● ", retries, health records) at DEBUG."""

    _PREFIXES: Final = ("%6.2fs ", "recording health")

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg.startswith(self._PREFIXES)):
            return True
        if record.levelno <= logging.DEBUG:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        # A logger-level filter runs after the level check: apply the effective level again.
        return logging.getLogger(record.name).getEffectiveLevel() <= logging.DEBUG


def _quiet_arq() -> None:
    worker_logger = logging.getLogger("arq.worker")
    if not any(isinstance(f, ArqChatter) for f in worker_logger.filters):
        worker_logger.addFilter(ArqChatter())


#: For `arq --custom-log-dict pricealert.logging.ARQ_LOG_CONFIG ...`: arq's CLI configures
#: logging before a worker starts; this gives even its first lines our shape and format.
ARQ_LOG_CONFIG: Final[dict[str, Any]] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"pricealert": {"()": "pricealert.logging.configured_formatter"}},
    "filters": {"arq_chatter": {"()": "pricealert.logging.ArqChatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "pricealert",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"handlers": ["stdout"], "level": "INFO"},
    "loggers": {
        "arq": {"handlers": [], "propagate": True, "level": "INFO"},
        "arq.worker": {"filters": ["arq_chatter"]},
    },
}


def configure_logging(
    service: str,
    *,
    level: str = "INFO",
    json_output: bool | None = None,
    stream: Any = None,
) -> None:
    """Route structlog and the standard library through one renderer on `stream`: JSON, or
    console lines when `json_output` is False (None: as `PRICEALERT_LOG_FORMAT` says)."""
    set_service(service)
    if json_output is None:
        json_output = use_json(stream=stream)
    structlog.configure(
        processors=[
            *_PRE_CHAIN,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(json_formatter(json_output))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("arq").setLevel(logging.NOTSET)  # PRICEALERT_LOG_LEVEL=DEBUG shows its jobs
    _quiet_arq()


def _category_from_record(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # The stdlib record is dropped before shaping; read what it tells about category first.
    if "category" not in event_dict:
        event_dict["category"] = _default_category(event_dict.get("_record"))
    return event_dict


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger whose lines have the documented shape."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


def bind_context(**fields: Any) -> None:
    """Bind fields (request_id, user_id, job fields) to every line of this task."""
    structlog.contextvars.bind_contextvars(**fields)


def clear_context() -> None:
    """Forget the bound fields (at the end of a request or job)."""
    structlog.contextvars.clear_contextvars()


def context() -> MutableMapping[str, Any]:
    """The fields bound to this task right now."""
    return structlog.contextvars.get_contextvars()
