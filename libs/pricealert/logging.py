"""JSON logs, one object per line, with the fields DESIGN.md fixes.

Fields: `timestamp` (ISO 8601 UTC), `level`, `logger`, `message`, `module`,
`function`, `line`, `exception{type,message,traceback}` when there is one,
`request_id` / `user_id` when known, `service`, `category` (`application` |
`security` | `access` | `database`), and `job_id`, `job_try`, `queue` in workers.

Standard-library loggers (uvicorn, arq, sqlalchemy) are rendered the same way,
so every line a service writes has one shape. Context (request id, user id, job
fields) is bound with `bind_context` and travels in contextvars.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any, Final, Literal

import structlog
from structlog.typing import EventDict, WrappedLogger

Category = Literal["application", "security", "access", "database"]
CATEGORIES: Final = ("application", "security", "access", "database")

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


def json_formatter(json_output: bool = True) -> logging.Formatter:
    """The formatter that renders every record, structlog's or the stdlib's, as one line."""
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer()
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[
            _category_from_record,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _shape,
            renderer,
        ],
        pass_foreign_args=True,
    )


#: For `arq --custom-log-dict pricealert.logging.ARQ_LOG_CONFIG ...`: arq's CLI configures
#: logging before a worker starts; this makes even its first lines JSON of our shape.
ARQ_LOG_CONFIG: Final[dict[str, Any]] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "pricealert.logging.json_formatter"}},
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"handlers": ["json"], "level": "INFO"},
    "loggers": {"arq": {"handlers": [], "propagate": True, "level": "INFO"}},
}


def configure_logging(
    service: str, *, level: str = "INFO", json_output: bool = True, stream: Any = None
) -> None:
    """Route structlog and the standard library through one JSON renderer on `stream`."""
    set_service(service)
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
