"""The JSON line itself, pinned byte for byte (all but the timestamp and duration values):
the API's access line as RequestContextMiddleware writes it, other structlog lines (typed
fields, bound and context fields, exceptions) and standard-library lines; and the routing
around it: levels, filters, extra handlers, disabled loggers, console output, a broken stream.

These pin the line as it was before the logging path was made cheaper (issue 17): a faster
path must write the same bytes, and leave every stdlib knob working as it did."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from pricealert.logging import (
    bind_context,
    clear_context,
    configure_logging,
    context,
    get_logger,
)
from services.api import middleware
from services.api.middleware import RequestContextMiddleware

TIMESTAMP = re.compile(r'"timestamp": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z"')
DURATION = re.compile(r'"duration_ms": \d+\.?\d*(e-?\d+)?')


def _pinned(text: str) -> list[str]:
    """The lines of `text` with the timestamp (checked to be ISO 8601 UTC) and duration
    values replaced by T and D; every line ends with a newline."""
    assert text.endswith("\n") or text == ""
    lines = []
    for line in text.splitlines():
        line, stamped = TIMESTAMP.subn('"timestamp": "T"', line)
        assert stamped == 1, line
        lines.append(DURATION.sub('"duration_ms": D', line))
    return lines


def _line_of(source: Path, needle: str) -> int:
    (number,) = [n for n, text in enumerate(source.read_text().splitlines(), 1) if needle in text]
    return number


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    clear_context()
    for name in ("pricealert.access", "pricealert", "tests.line"):
        logger = logging.getLogger(name)
        logger.filters.clear()
        logger.handlers.clear()
        logger.propagate = True
        logger.disabled = False
        logger.setLevel(logging.NOTSET)
    configure_logging("pricealert", json_output=True)


@pytest.fixture
def out() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("api", json_output=True, stream=stream)
    return stream


@pytest.fixture(params=["alone", "beside_pytest_handlers"])
def alone(request: pytest.FixtureRequest) -> bool:
    """Whether the test runs with the service's handler alone on the root logger (as in
    production) or beside the handlers pytest adds for the test's call (as a second handler
    would be): `_as_configured` applies it inside the test."""
    return bool(request.param == "alone")


def _as_configured(alone: bool, stream: io.StringIO) -> None:
    if alone:
        root = logging.getLogger()
        root.handlers[:] = [h for h in root.handlers if getattr(h, "stream", None) is stream]
        assert len(root.handlers) == 1


async def _serve(path: str, *, user_id: str | None = "42", status: int = 200) -> None:
    """One GET through RequestContextMiddleware, the inner app binding a user as auth does."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if user_id is not None:
            bind_context(user_id=user_id)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(b"x-request-id", b"req-123.abc")],
    }
    await RequestContextMiddleware(app)(scope, receive, send)
    assert sent[0]["status"] == status


async def test_the_access_line_is_the_same_bytes_as_before(out: io.StringIO, alone: bool) -> None:
    _as_configured(alone, out)
    await _serve("/v1/products/7")
    await _serve("/v1/検索/商品", user_id=None, status=404)

    # Written by `RequestLog.finish`, but placed where the middleware calls it.
    line = _line_of(Path(middleware.__file__), "log.finish()")
    assert _pinned(out.getvalue()) == [
        '{"timestamp": "T", "level": "INFO", "logger": "pricealert.access", '
        '"message": "http.request", "module": "middleware", "function": "__call__", '
        f'"line": {line}, "service": "api", "category": "access", "request_id": "req-123.abc", '
        '"user_id": "42", "method": "GET", "path": "/v1/products/7", "status": 200, '
        '"duration_ms": D}',
        '{"timestamp": "T", "level": "INFO", "logger": "pricealert.access", '
        '"message": "http.request", "module": "middleware", "function": "__call__", '
        f'"line": {line}, "service": "api", "category": "access", "request_id": "req-123.abc", '
        '"method": "GET", "path": "/v1/検索/商品", "status": 404, "duration_ms": D}',
    ]
    assert "検索".encode() in out.getvalue().encode()  # raw UTF-8, not \\u escapes


class _Shown:
    def __structlog__(self) -> str:
        return "shown"


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


def test_typed_bound_and_context_fields_keep_their_rendering_and_order(
    out: io.StringIO, alone: bool
) -> None:
    _as_configured(alone, out)
    log = get_logger("tests.line").bind(order=5)
    bind_context(queue="pricealert:scrape", job_try=2, request_id="r-1", job_id="j:1", tag="x")
    fields: dict[str, Any] = {
        "price": Decimal("84.90"),
        "title": "日本語の商品",
        "ratio": 0.1,
        "none": None,
        "nested": {"a": [1, 2.5], "b": True},
        "shown": _Shown(),
        "opaque": _Opaque(),
        "tag": "kw wins",
    }
    line = sys._getframe().f_lineno + 1
    log.warning("price.changed", **fields)
    log.info("plain %s", "arg")
    get_logger("tests.line").info(None, category=None)

    assert _pinned(out.getvalue()) == [
        '{"timestamp": "T", "level": "WARNING", "logger": "tests.line", '
        '"message": "price.changed", "module": "test_logging_line", '
        '"function": "test_typed_bound_and_context_fields_keep_their_rendering_and_order", '
        f'"line": {line}, "service": "api", "category": "application", "request_id": "r-1", '
        '"job_id": "j:1", "job_try": 2, "queue": "pricealert:scrape", "order": 5, '
        '"price": "Decimal(\'84.90\')", "title": "日本語の商品", "ratio": 0.1, "none": null, '
        '"nested": {"a": [1, 2.5], "b": true}, "shown": "shown", "opaque": "<opaque>", '
        '"tag": "kw wins"}',
        '{"timestamp": "T", "level": "INFO", "logger": "tests.line", '
        '"message": "plain %s", "module": "test_logging_line", '
        '"function": "test_typed_bound_and_context_fields_keep_their_rendering_and_order", '
        f'"line": {line + 1}, "service": "api", "category": "application", '
        '"request_id": "r-1", "job_id": "j:1", "job_try": 2, "queue": "pricealert:scrape", '
        '"order": 5, "tag": "x"}',
        '{"timestamp": "T", "level": "INFO", "logger": "tests.line", '
        '"message": "", "module": "test_logging_line", '
        '"function": "test_typed_bound_and_context_fields_keep_their_rendering_and_order", '
        f'"line": {line + 2}, "service": "api", "category": "application", '
        '"request_id": "r-1", "job_id": "j:1", "job_try": 2, "queue": "pricealert:scrape", '
        '"tag": "x"}',
    ]


def test_fields_named_like_the_fixed_ones_keep_their_place_and_value(
    out: io.StringIO, alone: bool
) -> None:
    _as_configured(alone, out)
    log = get_logger("tests.line")
    fields: dict[str, Any] = {
        "service": "other",
        "function": "f",
        "message": "m",
        "exception": "x",
        "level": "debug",
        "logger": "l",
        "timestamp": "t",
        "module": "mo",
        "lineno": 1,
        "func_name": "fn",
        "positional_args": (1,),
    }
    line = sys._getframe().f_lineno + 1
    log.info("e", **fields)

    assert _pinned(out.getvalue()) == [
        '{"timestamp": "T", "level": "INFO", "logger": "tests.line", "message": "m", '
        '"module": "test_logging_line", "function": "f", '
        f'"line": {line}, "service": "other", "category": "application", "exception": "x"}}',
    ]


def test_the_category_of_a_structlog_line_follows_its_logger_name(
    out: io.StringIO, alone: bool
) -> None:
    _as_configured(alone, out)
    get_logger("sqlalchemy.engine.x").warning("db")  # sqlalchemy's loggers are at WARNING
    get_logger("uvicorn.access.x").info("hit")
    get_logger("sqlalchemy.pool").warning("db", category="security")

    assert [json.loads(line)["category"] for line in out.getvalue().splitlines()] == [
        "database",
        "access",
        "security",
    ]


def _exception_line(level: str, function: str, line: int, exc: BaseException) -> str:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    exception = json.dumps(
        {"type": type(exc).__name__, "message": str(exc), "traceback": tb}, ensure_ascii=False
    )
    return (
        f'{{"timestamp": "T", "level": "{level}", "logger": "pricealert.api", '
        f'"message": "request.failed", "module": "test_logging_line", "function": "{function}", '
        f'"line": {line}, "service": "api", "category": "application", '
        f'"exception": {exception}, "request_id": "r-9", "path": "/x"}}'
    )


def test_exception_lines_carry_type_message_and_traceback(out: io.StringIO, alone: bool) -> None:
    _as_configured(alone, out)
    log = get_logger("pricealert.api")
    bind_context(request_id="r-9")
    try:
        raise ValueError("prix invalide: 価格")
    except ValueError as exc:
        caught = exc
        here = sys._getframe().f_lineno
        log.error("request.failed", exc_info=exc, path="/x")
        log.exception("request.failed", path="/x")
        log.critical("request.failed", exc_info=True, path="/x")
    log.error("request.failed", exc_info=False, path="/x")

    function = "test_exception_lines_carry_type_message_and_traceback"
    assert _pinned(out.getvalue()) == [
        _exception_line("ERROR", function, here + 1, caught),
        _exception_line("ERROR", function, here + 2, caught),
        _exception_line("CRITICAL", function, here + 3, caught),
        '{"timestamp": "T", "level": "ERROR", "logger": "pricealert.api", '
        '"message": "request.failed", "module": "test_logging_line", '
        f'"function": "{function}", "line": {here + 4}, "service": "api", '
        '"category": "application", "request_id": "r-9", "path": "/x"}',
    ]


def test_standard_library_lines_keep_their_shape(out: io.StringIO, alone: bool) -> None:
    _as_configured(alone, out)
    bind_context(request_id="r-2")
    here = sys._getframe().f_lineno
    logging.getLogger("uvicorn.access").info('%s - "%s %s" %d', "10.0.0.1", "GET", "/x", 200)
    logging.getLogger("sqlalchemy.engine").warning("slow: %s", "select")
    logging.getLogger("tests.line").error("boom %d", 1, exc_info=ValueError("v"))

    function = "test_standard_library_lines_keep_their_shape"
    common = f'"module": "test_logging_line", "function": "{function}"'
    v_tb = json.dumps("ValueError: v\n")
    assert _pinned(out.getvalue()) == [
        '{"timestamp": "T", "level": "INFO", "logger": "uvicorn.access", '
        f'"message": "10.0.0.1 - \\"GET /x\\" 200", {common}, "line": {here + 1}, '
        '"service": "api", "category": "access", "request_id": "r-2"}',
        '{"timestamp": "T", "level": "WARNING", "logger": "sqlalchemy.engine", '
        f'"message": "slow: select", {common}, "line": {here + 2}, '
        '"service": "api", "category": "database", "request_id": "r-2"}',
        '{"timestamp": "T", "level": "ERROR", "logger": "tests.line", '
        f'"message": "boom 1", {common}, "line": {here + 3}, '
        '"service": "api", "category": "application", "exception": {"type": "ValueError", '
        f'"message": "v", "traceback": {v_tb}}}, "request_id": "r-2"}}',
    ]


def _access(**fields: Any) -> None:
    get_logger("pricealert.access").info("http.request", category="access", **fields)


def test_a_level_above_info_drops_the_access_line() -> None:
    stream = io.StringIO()
    configure_logging("api", level="WARNING", json_output=True, stream=stream)
    _access(status=200)
    get_logger("pricealert.access").warning("kept")
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["kept"]


def test_a_logger_level_a_disabled_logger_and_filters_still_apply(out: io.StringIO) -> None:
    access = logging.getLogger("pricealert.access")
    access.setLevel(logging.WARNING)
    _access(status=1)
    access.setLevel(logging.NOTSET)
    access.disabled = True
    _access(status=2)
    access.disabled = False
    access.addFilter(lambda record: False)
    _access(status=3)
    access.filters.clear()
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is out]
    handler.addFilter(lambda record: record.levelno > logging.INFO)
    _access(status=4)
    get_logger("pricealert.access").error("kept")
    handler.filters.clear()
    handler.setLevel(logging.ERROR)
    _access(status=5)
    handler.setLevel(logging.NOTSET)
    _access(status=6)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["message"], line.get("status")) for line in lines] == [
        ("kept", None),
        ("http.request", 6),
    ]


def test_other_handlers_still_get_the_record_and_propagation_is_honoured(
    out: io.StringIO,
) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    logging.getLogger().addHandler(keep)
    _access(status=1)
    logging.getLogger().removeHandler(keep)

    parent = logging.getLogger("pricealert")
    parent.addHandler(keep)
    parent.propagate = False
    _access(status=2)
    parent.propagate = True
    _access(status=3)

    assert [record.levelno for record in records] == [logging.INFO, logging.INFO, logging.INFO]
    assert [json.loads(line)["status"] for line in out.getvalue().splitlines()] == [1, 3]


def test_console_output_still_shows_the_access_line() -> None:
    stream = io.StringIO()
    configure_logging("api", json_output=False, stream=stream)
    bind_context(request_id="r-3")
    _access(method="GET", path="/v1/products", status=200)

    (line,) = stream.getvalue().splitlines()
    assert not line.startswith("{")
    for part in ("http.request", "[api]", "method=GET", "status=200", "request_id=r-3"):
        assert part in line, line
    assert "function=" not in line


def test_a_line_that_cannot_be_written_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = io.StringIO()
    configure_logging("api", json_output=True, stream=stream)
    stream.close()
    _access(status=200)
    assert "--- Logging error ---" in capsys.readouterr().err


def test_the_service_handler_alone_gets_its_line_without_a_log_record(
    out: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cheap path (issue 17) is taken: no LogRecord is made for a line only our JSON
    handler writes; one is made, once, when another handler needs it."""
    _as_configured(True, out)
    made: list[str] = []
    make_record = logging.Logger.makeRecord

    def counted(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
        made.append(self.name)
        return make_record(self, *args, **kwargs)

    monkeypatch.setattr(logging.Logger, "makeRecord", counted)
    _access(status=200)
    assert made == []
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    try:
        _access(status=201)
    finally:
        logging.getLogger().removeHandler(other)
    assert made == ["pricealert.access"]
    assert [json.loads(line)["status"] for line in out.getvalue().splitlines()] == [200, 201]


async def test_bound_fields_belong_to_their_task(out: io.StringIO) -> None:
    """What bind_context/clear_context/context promise, however the fields are stored: a
    task sees what was bound when it started and its own binds, never another task's."""
    bind_context(request_id="parent")
    started = asyncio.Event()
    go_on = asyncio.Event()

    async def child() -> dict[str, Any]:
        bind_context(user_id="child-user", request_id="child")
        started.set()
        await go_on.wait()
        _access(status=1)
        return dict(context())

    task = asyncio.create_task(child())
    await started.wait()
    bind_context(job_id="parent-job")
    assert context() == {"request_id": "parent", "job_id": "parent-job"}
    go_on.set()
    assert await task == {"request_id": "child", "user_id": "child-user"}
    _access(status=2)

    shown = context()
    shown["request_id"] = "changed"  # a copy: the bound fields stay as they are
    bind_context(request_id="again")
    _access(status=3)
    clear_context()
    assert context() == {}
    _access(status=4)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [
        (line.get("request_id"), line.get("user_id"), line.get("job_id")) for line in lines
    ] == [
        ("child", "child-user", None),
        ("parent", None, "parent-job"),
        ("again", None, "parent-job"),
        (None, None, None),
    ]


def test_a_logger_used_before_logging_is_configured_follows_the_later_configuration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import structlog

    structlog.reset_defaults()
    log = get_logger("tests.line")
    log.info("early")  # structlog's own default: a plain line on stdout
    assert "early" in capsys.readouterr().out
    first, second = io.StringIO(), io.StringIO()
    configure_logging("api", json_output=True, stream=first)
    log.info("configured")
    configure_logging("api", json_output=True, stream=second)  # a cached logger follows too
    log.info("reconfigured")
    assert [json.loads(line)["message"] for line in first.getvalue().splitlines()] == ["configured"]
    assert [json.loads(line)["message"] for line in second.getvalue().splitlines()] == [
        "reconfigured"
    ]
