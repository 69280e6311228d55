"""One code, one status: a Prometheus that gives no usable answer is a 503
(`prometheus_unreachable`); a query the user typed that Prometheus refuses is a 422
(`prometheus_query_failed`). Every error class of the tooling keeps one status per code."""

from __future__ import annotations

import http.server
import importlib
import pkgutil
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

import pricealert_ops
from pricealert.errors import PriceAlertError
from pricealert_ops.monitoring.budget import Prometheus, PrometheusQueryError
from pricealert_ops.prometheus import PrometheusQueryFailed, PrometheusUnreachable, prometheus_api


def test_a_query_the_user_typed_is_422_and_a_silent_prometheus_503() -> None:
    assert (PrometheusQueryFailed.status, PrometheusQueryFailed.code) == (
        422,
        "prometheus_query_failed",
    )
    assert (PrometheusUnreachable.status, PrometheusUnreachable.code) == (
        503,
        "prometheus_unreachable",
    )


def _refusing(status: int, body: bytes) -> Prometheus:
    prom = Prometheus("http://prometheus.invalid")
    prom.close()
    prom._client = httpx.Client(
        base_url="http://prometheus.invalid",
        transport=httpx.MockTransport(lambda request: httpx.Response(status, content=body)),
    )
    return prom


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, b'{"status": "error", "errorType": "bad_data", "error": "parse error"}'),
        (502, b"<html>Bad Gateway</html>"),
        (200, b'{"status": "success", "data": {"result": [{"value": [0]}]}}'),
    ],
)
def test_budget_s_own_queries_failing_are_a_dependency_failure(status: int, body: bytes) -> None:
    prom = _refusing(status, body)
    with pytest.raises(PrometheusUnreachable) as raised:
        prom.scalar("up")
    prom.close()
    assert isinstance(raised.value, PrometheusQueryError)
    assert (raised.value.status, raised.value.code) == (503, "prometheus_unreachable")


def _classes(root: type[PriceAlertError]) -> Iterator[type[PriceAlertError]]:
    yield root
    for sub in root.__subclasses__():
        yield from _classes(sub)


def test_each_code_of_the_tooling_has_one_status() -> None:
    for module in pkgutil.walk_packages(pricealert_ops.__path__, "pricealert_ops."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    statuses: dict[str, set[int]] = {}
    for cls in _classes(PriceAlertError):
        if cls.__module__.startswith("pricealert_ops."):
            statuses.setdefault(cls.code, set()).add(cls.status)
    assert "prometheus_query_failed" in statuses
    assert {code: s for code, s in statuses.items() if len(s) > 1} == {}


@pytest.fixture
def answering() -> Iterator[Callable[[int, bytes], str]]:
    """A loopback HTTP server standing in for Prometheus: it answers every request with the
    status and body last set; yields a setter that returns its URL."""
    answer: list[tuple[int, bytes]] = [(200, b"{}")]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answer[0]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def set_answer(status: int, body: bytes) -> str:
        answer[0] = (status, body)
        return f"http://127.0.0.1:{server.server_address[1]}"

    try:
        yield set_answer
    finally:
        server.shutdown()
        server.server_close()


_REFUSED = b'{"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}'


@pytest.mark.parametrize(
    ("status", "body", "typed_by_user", "expected"),
    [
        (400, _REFUSED, True, PrometheusQueryFailed),  # the user's query: theirs to fix
        (422, _REFUSED, True, PrometheusQueryFailed),
        (400, _REFUSED, False, PrometheusUnreachable),  # ours refused: not the user's input
        (503, b'{"status": "error", "errorType": "timeout", "error": "query timed out"}',
         True, PrometheusUnreachable),
        (502, b"<html>Bad Gateway</html>", True, PrometheusUnreachable),  # a proxy's page
        (200, b"<html>a login page</html>", True, PrometheusUnreachable),
    ],
)  # fmt: skip
def test_prometheus_api_names_whose_failure_it_is(
    answering: Callable[[int, bytes], str],
    status: int,
    body: bytes,
    typed_by_user: bool,
    expected: type[PriceAlertError],
) -> None:
    url = answering(status, body)
    with pytest.raises(PriceAlertError) as raised:
        prometheus_api(url, "query", {"query": "sum("}, typed_by_user=typed_by_user)
    assert type(raised.value) is expected
    if expected is PrometheusQueryFailed:
        assert "bad_data: parse error at char 5" in raised.value.detail


def test_prometheus_api_returns_a_successful_answer(
    answering: Callable[[int, bytes], str],
) -> None:
    url = answering(200, b'{"status": "success", "data": {"result": []}}')
    assert prometheus_api(url, "query", {"query": "up"}) == {
        "status": "success",
        "data": {"result": []},
    }


def test_a_prometheus_that_is_not_there_is_unreachable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PrometheusUnreachable, match="cannot reach Prometheus"):
        prometheus_api(f"http://127.0.0.1:{port}", "query", {"query": "up"}, timeout=5)
