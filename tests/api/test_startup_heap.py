"""The API process's startup heap is out of the cyclic collector's walks, and the collector's
first threshold is set for many requests in flight."""

from __future__ import annotations

import gc

from services.api.main import create_app
from services.api.settings import ApiSettings
from tests.support.allocation import collector_as_python_starts


async def test_startup_freezes_the_heap_it_built(api_settings: ApiSettings) -> None:
    with collector_as_python_starts():
        assert gc.get_freeze_count() == 0
        application = create_app(api_settings)
        async with application.router.lifespan_context(application):
            frozen, threshold = gc.get_freeze_count(), gc.get_threshold()
    # The whole heap of an imported API (tens of thousands of objects), not a handful.
    assert frozen > 10_000
    assert threshold == (5000, 10, 10)  # the settings' default
