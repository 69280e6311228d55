"""Every worker's startup (pricealert.worker) takes the heap it loaded out of the collector's
walks and sets its first threshold for many jobs in flight, whichever service it is."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from services.evaluator.settings import EvaluatorSettings
from services.evaluator.worker import worker_settings as evaluator_settings
from services.notifier.settings import NotifierSettings
from services.notifier.worker import worker_settings as notifier_settings
from tests.support.allocation import collector_as_python_starts


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
    ctx: dict[str, Any] = {}
    with collector_as_python_starts():
        assert gc.get_freeze_count() == 0
        try:
            await arq_settings["on_startup"](ctx)
            # The whole heap of an imported worker (tens of thousands of objects), not a handful.
            assert gc.get_freeze_count() > 10_000
            assert gc.get_threshold() == (5000, 10, 10)  # the settings' default
        finally:
            await arq_settings["on_shutdown"](ctx)
