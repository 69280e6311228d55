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

A line costs a few dozen Python calls, not a hundred and fifty: `configure_logging` sets
`_BoundLogger`, which checks the level first, builds the event dict structlog's chain would
and, for the usual handler (a StreamHandler with the JSON formatter, no filters), writes the
rendered line itself with no LogRecord made, copied and formatted; any other handler, or a
logger with filters, gets the stdlib record as before. The bound fields are one context
variable. The lines are byte for byte the same (tests/test_logging_line.py pins them).
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, Final, Literal, cast

import structlog
from structlog._config import BoundLoggerLazyProxy
from structlog.typing import EventDict, WrappedLogger

Category = Literal["application", "security", "access", "database"]
CATEGORIES: Final = ("application", "security", "access", "database")
LogFormat = Literal["auto", "json", "console"]
LOG_FORMATS: Final = ("auto", "json", "console")

_SERVICE: dict[str, str] = {"name": "pricealert"}
_CONTEXT_KEYS: Final = ("request_id", "user_id", "job_id", "job_try", "queue")
#: The fields `bind_context` bound in this task: one context variable holding a dict that is
#: replaced, never changed in place (a task keeps what it started with, as per-field variables
#: would), so binding, clearing and reading are one `get`/`set` each, whatever else the
#: context holds (structlog's own contextvars walk every variable of the context each time).
_NOTHING_BOUND: Final[Mapping[str, Any]] = MappingProxyType({})
_BOUND: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "pricealert_log_context", default=_NOTHING_BOUND
)


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
    return "application" if record is None else _category_of(record.name)


def _category_of(logger_name: str) -> Category:
    if logger_name.startswith("uvicorn.access"):
        return "access"
    if logger_name.startswith("sqlalchemy"):
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
#: A code object's module name (its file's stem) and whether it is logging machinery, worked
#: out once per code object: one lookup per frame on every line.
_CODE_OF: dict[Any, tuple[str, bool]] = {}


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
    return _add_caller(sys._getframe(1), event_dict)


def _add_caller(frame: Any, event_dict: EventDict) -> EventDict:
    """`module`, `func_name`, `lineno` of the first frame from `frame` outwards that is not
    logging machinery."""
    while True:
        code = frame.f_code
        known = _CODE_OF.get(code)
        if known is None:
            known = _CODE_OF[code] = (
                os.path.splitext(os.path.basename(code.co_filename))[0],
                frame.f_globals.get("__name__", "").startswith(_MACHINERY),
            )
        if not known[1] or frame.f_back is None:
            break
        frame = frame.f_back
    event_dict["module"] = known[0]
    event_dict["func_name"] = code.co_name
    event_dict["lineno"] = frame.f_lineno
    return event_dict


def _merge_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """The bound fields, under the line's own (structlog's merge_contextvars, for `_BOUND`)."""
    for key, value in _BOUND.get().items():
        event_dict.setdefault(key, value)
    return event_dict


_PRE_CHAIN: Final[list[Any]] = [
    _merge_context,
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
        logger.handle(self._record(level, msg, args, exc_info, extra))

    def _record(
        self, level: int, msg: Any, args: Any, exc_info: Any, extra: Any
    ) -> logging.LogRecord:
        logger = self._logger
        if exc_info:
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
        return logger.makeRecord(
            logger.name, level, "(structlog)", 0, msg, args, exc_info, None, extra, None
        )

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


#: structlog's processors as `configure_logging` sets them, one list for every configuration:
#: a bound logger holding this very list renders its lines as `_BoundLogger._line` does.
_STRUCTLOG_CHAIN: Final[list[Any]] = [
    *_PRE_CHAIN,
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
]
#: A method's stdlib level, and the `level` add_log_level gives its lines.
_METHOD_LEVELS: Final = {
    "debug": (logging.DEBUG, "debug"),
    "info": (logging.INFO, "info"),
    "warning": (logging.WARNING, "warning"),
    "error": (logging.ERROR, "error"),
    "exception": (logging.ERROR, "error"),
    "critical": (logging.CRITICAL, "critical"),
}
#: JSONRenderer(ensure_ascii=False)'s `json.dumps`, its encoder made once.
_JSON: Final = json.JSONEncoder(
    ensure_ascii=False, default=structlog.processors._json_fallback_handler
)
_UTC: Final = datetime.UTC
_now = datetime.datetime.now


#: The keys `_shape` takes out of an event dict (the rest follow the fixed fields).
_SHAPED: Final = frozenset(
    {
        *("timestamp", "level", "logger", "event", "module", "func_name", "lineno", "category"),
        *("exc_info", "positional_args", "_record", "_from_structlog", *_CONTEXT_KEYS),
    }
)


#: `_shape`'s upper-cased level, looked up rather than computed.
_UPPER: Final = {name: name.upper() for name in ("debug", "info", "warning", "error", "critical")}


def _json_line(logger_name: str, event_dict: EventDict) -> str:
    """What `_JsonLines` makes of a structlog record carrying `event_dict` (as
    `_BoundLogger._line` builds it: level, logger, call site and timestamp set), field for
    field what `_category_from_record` and `_shape` make of a copy of it, and JSONRenderer's
    encoding; `event_dict` is left as it is, for any other handler's record."""
    level = event_dict["level"]
    level = _UPPER[level] if level in _UPPER else str(level).upper()
    # Key tests and subscripts rather than .get(): no call per line for them.
    event = event_dict["event"] if "event" in event_dict else ""  # noqa: SIM401
    shaped: dict[str, Any] = {
        "timestamp": event_dict["timestamp"],
        "level": "WARNING" if level == "WARN" else level,
        "logger": event_dict["logger"] or "pricealert",
        "message": event if event.__class__ is str else str(event),
        "module": event_dict["module"],
        "function": event_dict["func_name"],
        "line": event_dict["lineno"],
        "service": _SERVICE["name"],
        "category": (event_dict["category"] or "application")
        if "category" in event_dict
        else _category_of(logger_name),
    }
    if "exc_info" in event_dict and event_dict["exc_info"]:  # noqa: RUF019
        shaped["exception"] = _exception_fields(event_dict["exc_info"])
    for key in _CONTEXT_KEYS:
        if key in event_dict:
            shaped[key] = event_dict[key]
    for key in event_dict:  # the rest, as shaped.update(rest) would (no call per line)
        if key not in _SHAPED:
            shaped[key] = event_dict[key]
    return "".join(_JSON.iterencode(shaped, _one_shot=True))


class _BoundLogger(structlog.stdlib.BoundLogger):
    """structlog's stdlib BoundLogger, its lines the same, made for a fraction of the calls
    when configured by `configure_logging`: one function builds the event dict the processor
    chain would (context, fields, level, logger, call site, timestamp), only if the level is
    enabled, and hands it to the logger's handlers as the stdlib would, except that a plain
    StreamHandler with our JSON formatter and no filters gets the rendered line written
    directly, with no LogRecord made, copied and formatted for it. Any other handler (or a
    logger with filters) gets the record it always got."""

    def debug(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self._line("debug", event, args, kw)

    def info(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self._line("info", event, args, kw)

    def warning(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self._line("warning", event, args, kw)

    warn = warning

    def error(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self._line("error", event, args, kw)

    def exception(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        kw.setdefault("exc_info", True)
        return self._line("exception", event, args, kw)

    def critical(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self._line("critical", event, args, kw)

    def fatal(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self._line("critical", event, args, kw)

    def _line(self, method: str, event: str | None, args: Any, kw: dict[str, Any]) -> Any:
        wrapped: Any = self._logger
        if self._processors is not _STRUCTLOG_CHAIN or type(wrapped) is not _NoCallerLookup:
            return self._proxy_to_logger(method, event, *args, **kw)
        logger: logging.Logger = wrapped._logger
        level, level_name = _METHOD_LEVELS[method]
        if not logger.isEnabledFor(level):
            return None
        # The event dict _PRE_CHAIN makes, key for key and in the same order.
        event_dict = self._context.copy()
        event_dict.update(kw)
        if args:
            event_dict["positional_args"] = args
        if event is not None:
            event_dict["event"] = event
        for key, value in _BOUND.get().items():  # as _merge_context does
            if key not in event_dict:
                event_dict[key] = value
        event_dict["level"] = level_name
        event_dict["logger"] = logger.name
        _add_caller(sys._getframe(2), event_dict)
        event_dict["timestamp"] = _now(tz=_UTC).isoformat().replace("+00:00", "Z")
        _deliver(wrapped, logger, level, method, event_dict)
        return None


def _deliver(
    wrapped: _NoCallerLookup, logger: logging.Logger, level: int, method: str, event_dict: EventDict
) -> None:
    """`Logger.handle` and `callHandlers` for a structlog line, our JSON handlers written to
    without a record (as `StreamHandler.emit` would, under its lock, errors reported)."""
    record: logging.LogRecord | None = None
    extra = {"_logger": wrapped, "_name": method}
    exc_info = True if method == "exception" else None
    if logger.filters:
        logger.handle(wrapped._record(level, event_dict, (), exc_info, extra))
        return
    line: str | None = None
    found = 0
    node: Any = logger
    while node:
        for handler in node.handlers:
            found += 1
            if level < handler.level:
                continue
            if (
                type(handler) is logging.StreamHandler
                and type(handler.formatter) is _JsonLines
                and not handler.filters
                and handler.lock is not None
            ):
                try:
                    if line is None:
                        line = _json_line(logger.name, event_dict)
                    with handler.lock:
                        stream = handler.stream
                        stream.write(line + handler.terminator)
                        if stream and hasattr(stream, "flush"):
                            stream.flush()
                except RecursionError:
                    raise
                except Exception:
                    if record is None:
                        record = wrapped._record(level, event_dict, (), exc_info, extra)
                    handler.handleError(record)
            else:
                if record is None:
                    record = wrapped._record(level, event_dict, (), exc_info, extra)
                handler.handle(record)
        node = node.parent if node.propagate else None
    if not found:  # the stdlib's last resort (or its "no handlers" warning)
        logger.callHandlers(record or wrapped._record(level, event_dict, (), exc_info, extra))


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


class _JsonLines(structlog.stdlib.ProcessorFormatter):
    """The JSON formatter (`json_formatter(True)`): what it makes of a structlog line is
    `_json_line`, which `_BoundLogger` writes itself to a plain StreamHandler carrying it."""


def json_formatter(json_output: bool = True) -> logging.Formatter:
    """The formatter that renders every record, structlog's or the stdlib's, as one line."""
    if json_output:
        tail: list[Any] = [_shape, structlog.processors.JSONRenderer(ensure_ascii=False)]
    else:
        tail = [
            _console_shape,
            structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()),
        ]
    formatter = _JsonLines if json_output else structlog.stdlib.ProcessorFormatter
    return formatter(
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
        processors=_STRUCTLOG_CHAIN,
        logger_factory=_logger_factory,
        wrapper_class=_BoundLogger,
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


class _LazyLogger(BoundLoggerLazyProxy):
    """structlog's lazy proxy, as `structlog.stdlib.get_logger(name)` makes it, that keeps
    the logging methods of the bound logger structlog caches on first use as its own
    attributes: once cached, a line no longer pays for `__getattr__` and `bind()`. Before
    logging is configured (nothing cached) it asks structlog every time, as before."""

    def __getattr__(self, name: str) -> Any:
        attribute = super().__getattr__(name)
        if name in _LOGGING_METHODS and "bind" in self.__dict__:  # structlog cached it
            self.__dict__[name] = attribute
        return attribute


_LOGGING_METHODS: Final = frozenset(
    ("debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log")
)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger whose lines have the documented shape."""
    logger: Any = _LazyLogger(None, logger_factory_args=(name,))
    return cast(structlog.stdlib.BoundLogger, logger)


_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """An HTTP request's id, for its log lines and its `X-Request-ID` response header: the
    client's `X-Request-ID` if sane, else 128 random bits in 32 hex digits (what
    `uuid4().hex` gave, without building a UUID)."""
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return os.urandom(16).hex()


def start_request_context(scope: MutableMapping[str, Any]) -> str:
    """Begin an HTTP request's logging (its ASGI `scope`): forget what an earlier request on
    this task bound, bind the request's id (`request_id`) to every line, keep it in the
    scope's state for the handlers, and return it."""
    request_id_ = request_id(scope["headers"])
    clear_context()
    bind_context(request_id=request_id_)
    scope.setdefault("state", {})["request_id"] = request_id_
    return request_id_


_access_log = get_logger("pricealert.access")


class RequestLog:
    """One HTTP request's logging, as both services' middleware keep it: started with the
    request (`start_request_context`; its id is `request_id`), then `status` as the response
    starts (500 until one does), and `finish` at its end, whatever happened: the access line
    (`http.request`), then the request's context forgotten."""

    __slots__ = ("request_id", "scope", "started", "status")

    def __init__(self, scope: MutableMapping[str, Any]) -> None:
        self.scope = scope
        self.request_id = start_request_context(scope)
        self.started = time.perf_counter()
        self.status = 500

    def finish(self) -> float:
        """Write the access line, forget the request's context; return its seconds."""
        seconds = max(time.perf_counter() - self.started, 0.0)
        # This module is logging machinery: the line's call site is the middleware's.
        _access_log.info(
            "http.request",
            category="access",
            method=self.scope["method"],
            path=self.scope["path"],
            status=self.status,
            duration_ms=round(seconds * 1000, 2),
        )
        clear_context()
        return seconds


def bind_context(**fields: Any) -> None:
    """Bind fields (request_id, user_id, job fields) to every line of this task."""
    _BOUND.set({**_BOUND.get(), **fields})


def clear_context() -> None:
    """Forget the bound fields (at the end of a request or job)."""
    _BOUND.set(_NOTHING_BOUND)


def context() -> MutableMapping[str, Any]:
    """The fields bound to this task right now (a copy)."""
    return dict(_BOUND.get())
