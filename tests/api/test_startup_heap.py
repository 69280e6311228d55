"""The API process's startup heap is out of the cyclic collector's walks."""

from __future__ import annotations

import gc

from services.api.main import create_app
from services.api.settings import ApiSettings


async def test_startup_freezes_the_heap_it_built(api_settings: ApiSettings) -> None:
    gc.unfreeze()  # whatever another test froze
    assert gc.get_freeze_count() == 0
    application = create_app(api_settings)
    async with application.router.lifespan_context(application):
        frozen = gc.get_freeze_count()
    # The whole heap of an imported API (tens of thousands of objects), not a handful.
    assert frozen > 10_000
