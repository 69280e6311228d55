"""The API process's startup heap is out of the cyclic collector's walks; its allocator is
fixed for large buffers as the workers' is (`pricealert.allocator`)."""

from __future__ import annotations

import gc

from pricealert.allocator import tune_allocator
from services.api.main import create_app
from services.api.settings import ApiSettings
from tests.support.allocation import GLIBC_START, burst_faults


async def test_startup_freezes_the_heap_it_built(api_settings: ApiSettings) -> None:
    gc.unfreeze()  # whatever another test froze
    assert gc.get_freeze_count() == 0
    application = create_app(api_settings)
    async with application.router.lifespan_context(application):
        frozen = gc.get_freeze_count()
    # The whole heap of an imported API (tens of thousands of objects), not a handful.
    assert frozen > 10_000


async def test_startup_fixes_the_allocator(api_settings: ApiSettings) -> None:
    tune_allocator(GLIBC_START, GLIBC_START)  # as an untuned process starts
    assert burst_faults() > 1_000
    application = create_app(api_settings)
    async with application.router.lifespan_context(application):
        assert burst_faults() < 50
