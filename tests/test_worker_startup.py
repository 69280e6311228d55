"""Every worker's startup (pricealert.worker) takes the heap it loaded out of the collector's
walks and fixes glibc's allocator thresholds, whichever service it is."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from pricealert.allocator import tune_allocator
from services.evaluator.settings import EvaluatorSettings
from services.evaluator.worker import worker_settings as evaluator_settings
from services.notifier.settings import NotifierSettings
from services.notifier.worker import worker_settings as notifier_settings
from tests.support.allocation import GLIBC_START, burst_faults


@pytest.mark.parametrize(
    ("build", "settings_type"),
    [(evaluator_settings, EvaluatorSettings), (notifier_settings, NotifierSettings)],
    ids=["evaluator", "notifier"],
)
async def test_startup_freezes_the_heap_it_built(
    build: Any, settings_type: Any, database_url: str, redis_url: str
) -> None:
    arq_settings = build(
        settings_type(database_url=database_url, redis_url=redis_url, metrics_port=0)
    )
    gc.unfreeze()  # whatever another test froze
    assert gc.get_freeze_count() == 0
    ctx: dict[str, Any] = {}
    try:
        await arq_settings["on_startup"](ctx)
        # The whole heap of an imported worker (tens of thousands of objects), not a handful.
        assert gc.get_freeze_count() > 10_000
    finally:
        await arq_settings["on_shutdown"](ctx)
        gc.unfreeze()


async def test_startup_fixes_the_allocator_for_page_sized_buffers(
    database_url: str, redis_url: str
) -> None:
    arq_settings = evaluator_settings(
        EvaluatorSettings(database_url=database_url, redis_url=redis_url, metrics_port=0)
    )
    tune_allocator(GLIBC_START, GLIBC_START)  # as an untuned process starts
    assert burst_faults() > 1_000
    ctx: dict[str, Any] = {}
    try:
        await arq_settings["on_startup"](ctx)
        assert burst_faults() < 50
    finally:
        await arq_settings["on_shutdown"](ctx)
        gc.unfreeze()
