"""Every worker's startup (pricealert.worker) takes the heap it loaded out of the collector's
walks, whichever service it is."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from services.evaluator.settings import EvaluatorSettings
from services.evaluator.worker import worker_settings as evaluator_settings
from services.notifier.settings import NotifierSettings
from services.notifier.worker import worker_settings as notifier_settings


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
