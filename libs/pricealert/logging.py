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


#: Modules whose frames are logging machinery, not a line's call site.
_MACHINERY: Final = ("structlog", "logging", "pricealert.logging")
#: A code object's module name (its file's stem), worked out once per code object.
_MODULE_OF: dict[Any, str] = {}


def _add_callsite(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """`module`, `func_name` and `lineno` of the line's call site, as structlog's
    CallsiteParameterAdder gives them, for a fraction of its cost: a stdlib record's are read
    from the record; a structlog line's caller is the first frame outside the logging
    machinery (two or three frames up), its module name remembered per code object rather
    than derived from the file name on every line."""
    record = event_dict.get("_record")
    if record is not None:
        event_dict["module"] = record.module
        event_dict["func_name"] = record.funcName
        event_dict["lineno"] = record.lineno
        return event_dict
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(_MACHINERY):
        frame = frame.f_back
    code = frame.f_code
    module = _MODULE_OF.get(code)
    if module is None:
        module = _MODULE_OF[code] = os.path.splitext(os.path.basename(code.co_filename))[0]
    event_dict["module"] = module
    event_dict["func_name"] = code.co_name
    event_dict["lineno"] = frame.f_lineno
    return event_dict


_PRE_CHAIN: Final[list[Any]] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    _add_callsite,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
]


class _NoCallerLookup:
    """The stdlib logger structlog hands its lines to, minus the stdlib's own search for the
    caller (`Logger.findCaller` walks the stack and normalises a file name per frame, on
    every line): a structlog line's call site is already in its event dict
    (CallsiteParameterAdder), and the record's own is never shown. Everything else is the
    wrapped logger's (level, handlers, propagation, filters)."""

    __slots__ = ("_logger",)

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)

    def _log(
        self, level: int, msg: Any, args: Any, exc_info: Any = None, extra: Any = None,
        stack_info: bool = False, stacklevel: int = 1,
    ) -> None:  # fmt: skip
        logger = self._logger
        if not logger.isEnabledFor(level):
            return
        if exc_info:
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
        record = logger.makeRecord(
            logger.name, level, "(structlog)", 0, msg, args, exc_info, None, extra, None
        )
        logger.handle(record)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(logging.DEBUG, msg, args, **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(logging.INFO, msg, args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(logging.WARNING, msg, args, **kwargs)

    warn = warning

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, args, **kwargs)

    def exception(self, msg: Any, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, args, exc_info=exc_info, **kwargs)

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(logging.CRITICAL, msg, args, **kwargs)

    fatal = critical

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(level, msg, args, **kwargs)


def _logger_factory(*args: Any) -> _NoCallerLookup:
    """structlog's stdlib LoggerFactory, its loggers wrapped in `_NoCallerLookup`."""
    logger: logging.Logger = structlog.stdlib.LoggerFactory()(*args)
    return _NoCallerLookup(logger)


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
        logger_factory=_logger_factory,
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
