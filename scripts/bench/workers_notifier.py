"""The workers benchmark's notifier: the real `WorkerSettings` under arq's `Worker`, in its own
process so its CPU is its own. Settings come from the environment, as in production.

Prints `{"pid", "max_jobs"}` once the worker has started, then answers each stdin line
(once its running jobs are done) with `{"cpu_seconds", ...counters}` so far. The line
`profile <path>` starts profiling on CPU time; the next line saves the profile there.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import os
import sys
import time
from typing import Any

from scripts.bench.workers_setup import announce, counters, install_counters, serve_requests


async def main() -> None:
    from arq.worker import Worker

    from services.notifier.worker import WorkerSettings

    install_counters()
    worker = Worker(**WorkerSettings, handle_signals=False)
    running = asyncio.create_task(worker.async_run())
    while "notifier" not in worker.ctx:  # noqa: ASYNC110 - arq has no "started" event
        await asyncio.sleep(0.05)
    profiling: list[tuple[cProfile.Profile, str]] = []
    announce({"pid": os.getpid(), "max_jobs": WorkerSettings["max_jobs"]})

    async def stats(request: str) -> dict[str, Any]:
        while any(not t.done() for t in worker.tasks.values()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        cpu = time.process_time()
        for profiler, path in profiling:
            profiler.disable()
            profiler.dump_stats(path)
        profiling.clear()
        if request.startswith("profile "):
            profiling.append((cProfile.Profile(time.process_time), request.split(" ", 1)[1]))
            profiling[0][0].enable()
        return {"cpu_seconds": cpu, **counters()}

    try:
        await serve_requests(stats)
    finally:
        await worker.close()
        with contextlib.suppress(asyncio.CancelledError):
            await running


if __name__ == "__main__":
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - log lines, as in production; replies go to sys.__stdout__
    asyncio.run(main())
