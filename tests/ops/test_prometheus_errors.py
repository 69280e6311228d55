"""One code, one status: a Prometheus that gives no usable answer is a 503
(`prometheus_unreachable`); a query the user typed that Prometheus refuses is a 422
(`prometheus_query_failed`). Every error class of the tooling keeps one status per code."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import httpx
import pytest

import pricealert_ops
from pricealert.errors import PriceAlertError
from pricealert_ops.monitoring.budget import Prometheus, PrometheusQueryError
from pricealert_ops.prometheus import PrometheusQueryFailed, PrometheusUnreachable


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
