"""The evaluator worker's wiring."""

from __future__ import annotations

import gc

from services.evaluator.worker import freeze_startup_heap


async def test_startup_takes_the_loaded_heap_out_of_the_collectors_walks() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        await freeze_startup_heap({})
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
