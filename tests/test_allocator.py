"""glibc's allocator fixed for large buffers (`pricealert.allocator`): bursts of page-sized
buffers reuse the heap instead of faulting fresh memory in. Each case runs in a fresh
process (a test process's heap, large and fragmented, absorbs part of a burst): glibc as it
starts, the thresholds set directly, and after a worker's, the API's and the web UI's own
startup."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from pricealert.allocator import tune_allocator, tune_collector, tune_for
from pricealert.settings import PriceAlertSettings
from services.web.main import create_app as create_web
from services.web.settings import WebSettings
from tests.support.allocation import PYTHON_THRESHOLDS, collector_as_python_starts

_PROBE = """
import asyncio, sys
from tests.support.allocation import burst_faults
how, database_url, redis_url = sys.argv[1:4]
if how == "set":
    from pricealert.allocator import tune_allocator
    from pricealert.settings import PriceAlertSettings
    defaults = PriceAlertSettings()
    tune_allocator(defaults.malloc_mmap_threshold_bytes, defaults.malloc_trim_threshold_bytes)
elif how == "worker":
    from services.evaluator.settings import EvaluatorSettings
    from services.evaluator.worker import worker_settings
    hooks = worker_settings(
        EvaluatorSettings(database_url=database_url, redis_url=redis_url, metrics_port=0)
    )
    async def start_and_stop() -> None:
        ctx: dict[str, object] = {}
        await hooks["on_startup"](ctx)
        await hooks["on_shutdown"](ctx)
    asyncio.run(start_and_stop())
elif how == "api":
    from services.api.main import create_app
    from services.api.settings import ApiSettings
    app = create_app(ApiSettings(environment="test", database_url=database_url,
                                 redis_url=redis_url, business_metrics_interval_seconds=3600))
    async def start_and_stop() -> None:
        async with app.router.lifespan_context(app):
            pass
    asyncio.run(start_and_stop())
elif how == "web":
    from services.web.main import create_app as create_web
    from services.web.settings import WebSettings
    web = create_web(WebSettings(environment="test", api_url="http://127.0.0.1:9"))
    async def start_and_stop() -> None:
        async with web.router.lifespan_context(web):
            pass
    asyncio.run(start_and_stop())
print("faults", burst_faults())
"""


def _faults_after(how: str, database_url: str = "", redis_url: str = "") -> float:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, how, database_url, redis_url],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    # the services log their startup on stdout too: the probe's figure is its last line
    label, faults = done.stdout.strip().splitlines()[-1].split()
    assert label == "faults", done.stdout
    return float(faults)


def test_fixed_thresholds_keep_a_burst_of_pages_in_the_heap() -> None:
    # 40 × 300 KB grown or mapped afresh each burst: ~3 000 faults; kept in the heap: ~none
    assert _faults_after("nothing") > 1_000
    assert _faults_after("set") < 50


def test_a_workers_startup_fixes_them(database_url: str, redis_url: str) -> None:
    assert _faults_after("worker", database_url, redis_url) < 50


def test_the_apis_startup_fixes_them(database_url: str, redis_url: str) -> None:
    assert _faults_after("api", database_url, redis_url) < 50


def test_zero_leaves_glibcs_own_allocator() -> None:
    assert tune_allocator(0, 32 * 2**20) is False


def test_the_settings_name_the_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICEALERT_MALLOC_MMAP_THRESHOLD_BYTES", "0")
    assert tune_for(PriceAlertSettings()) is False  # switched off
    assert PriceAlertSettings().malloc_mmap_threshold_bytes == 0
    monkeypatch.setenv("PRICEALERT_MALLOC_MMAP_THRESHOLD_BYTES", str(64 * 2**20))
    with pytest.raises(ValueError, match="less than or equal"):  # glibc's ceiling: 32 MiB
        PriceAlertSettings()


def test_the_web_uis_startup_fixes_them() -> None:
    assert _faults_after("web") < 50


def _young_collections(threshold: int) -> int:
    """First-generation collections while 50 requests are in flight, each holding 60 young
    objects, finishing in batches of 20 and replaced by new ones, 4 000 requests in all."""
    with collector_as_python_starts():
        tune_collector(threshold)
        before = gc.get_stats()[0]["collections"]
        in_flight: list[list[dict[str, int]]] = []
        for _ in range(200):
            in_flight.extend([{} for _ in range(60)] for _ in range(20))
            del in_flight[: max(0, len(in_flight) - 50)]
        return int(gc.get_stats()[0]["collections"] - before)


def test_the_collector_leaves_requests_in_flight_alone_at_the_services_threshold() -> None:
    # Python's 700 is less than what 50 requests in flight keep alive: it collects over and
    # over, finding nothing to free; the services' threshold does not.
    assert _young_collections(0) > 100
    assert _young_collections(PriceAlertSettings().gc_gen0_threshold) == 0


def test_zero_keeps_pythons_thresholds_and_freezes_all_the_same() -> None:
    with collector_as_python_starts():
        assert tune_collector(0) is False
        assert gc.get_threshold() == PYTHON_THRESHOLDS
        assert gc.get_freeze_count() > 0


def test_the_collector_threshold_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICEALERT_GC_GEN0_THRESHOLD", "2000")
    assert PriceAlertSettings().gc_gen0_threshold == 2000
    monkeypatch.setenv("PRICEALERT_GC_GEN0_THRESHOLD", "-1")
    with pytest.raises(ValueError, match="greater than or equal"):
        PriceAlertSettings()


async def test_the_web_uis_startup_freezes_its_heap_and_sets_the_collector() -> None:
    with collector_as_python_starts():
        web = create_web(WebSettings(environment="test", api_url="http://127.0.0.1:9"))
        async with web.router.lifespan_context(web):
            frozen, threshold = gc.get_freeze_count(), gc.get_threshold()
    assert frozen > 10_000
    assert threshold == (5000, 10, 10)
