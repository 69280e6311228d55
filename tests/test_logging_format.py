"""Log format selection: readable on a terminal, JSON otherwise (and always in production);
arq's per-job chatter at DEBUG. The JSON shape itself is tested in tests/monitoring."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from typing import Any, TextIO

import pytest

from pricealert.logging import configure_logging, get_logger, use_json


@pytest.fixture
def terminal() -> Iterator[TextIO]:
    """The writing end of a real pseudo-terminal (isatty() is true), and a drain for it."""
    leader, follower = os.openpty()
    stream = open(follower, "w", buffering=1, closefd=True)  # noqa: SIM115 - closed below
    yield stream
    stream.close()
    os.close(leader)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure_logging("pricealert", json_output=True)


def test_auto_is_console_on_a_terminal_and_json_on_a_pipe(
    terminal: TextIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRICEALERT_LOG_FORMAT", raising=False)
    monkeypatch.setenv("PRICEALERT_ENVIRONMENT", "development")

    assert use_json(stream=terminal) is False
    assert use_json(stream=io.StringIO()) is True


def test_production_logs_json_even_on_a_terminal(terminal: TextIO) -> None:
    assert use_json("auto", stream=terminal, environment="production") is True
    assert use_json("auto", stream=terminal, environment="staging") is True


def test_the_setting_wins_over_the_terminal(terminal: TextIO) -> None:
    assert use_json("json", stream=terminal, environment="development") is True
    assert use_json("console", stream=io.StringIO(), environment="development") is False


def test_console_lines_are_readable_and_name_the_service() -> None:
    out = io.StringIO()
    configure_logging("scraper", json_output=False, stream=out)

    get_logger("services.scraper.tasks").info("scrape.finished", product_id=3, price="84.90")

    line = out.getvalue().strip()
    assert not line.startswith("{")
    assert "scrape.finished" in line
    assert "price=84.90" in line
    assert "product_id=3" in line
    assert "[scraper]" in line
    assert "function=" not in line  # call sites are for machines


def test_json_lines_keep_the_contract() -> None:
    out = io.StringIO()
    configure_logging("scraper", json_output=True, stream=out)

    get_logger("services.scraper.tasks").info("scrape.finished", product_id=3)

    record = json.loads(out.getvalue())
    assert {"timestamp", "level", "logger", "message", "module", "function", "line"} <= set(record)
    assert record["service"] == "scraper"
    assert record["category"] == "application"


def _arq_job_line() -> None:
    logging.getLogger("arq.worker").info("%6.2fs → %s(%s)%s", 0.01, "job:1", "x", "")


def test_arq_per_job_lines_are_debug() -> None:
    out = io.StringIO()
    configure_logging("evaluator", json_output=True, stream=out)

    _arq_job_line()
    logging.getLogger("arq.worker").info("recording health: %s", "j_complete=1")
    logging.getLogger("arq.worker").info("Starting worker for %d functions", 2)

    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert line["message"] == "Starting worker for 2 functions"


def test_arq_per_job_lines_show_at_debug_level() -> None:
    out = io.StringIO()
    configure_logging("evaluator", level="DEBUG", json_output=True, stream=out)

    _arq_job_line()

    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert line["level"] == "DEBUG"
    assert "job:1(x)" in line["message"]


def test_a_request_keeps_a_sane_client_id_and_gets_a_random_one_otherwise() -> None:
    from pricealert.logging import request_id

    assert request_id([(b"host", b"t"), (b"x-request-id", b"abc.DEF:1-2_3")]) == "abc.DEF:1-2_3"
    made = {
        request_id(headers)
        for headers in ([], [(b"x-request-id", b"bad id\n")], [(b"x-request-id", b"x" * 129)])
    }
    assert len(made) == 3
    assert all(len(made_id) == 32 and int(made_id, 16) >= 0 for made_id in made)


def test_a_request_context_binds_its_id_to_every_line_and_keeps_it_in_the_scope() -> None:
    from pricealert.logging import bind_context, clear_context, context, start_request_context

    bind_context(user_id="left over from the last request")
    scope: dict[str, Any] = {"type": "http", "headers": [(b"x-request-id", b"req-7")]}
    try:
        assert start_request_context(scope) == "req-7"
        assert context() == {"request_id": "req-7"}
        assert scope["state"] == {"request_id": "req-7"}
    finally:
        clear_context()
