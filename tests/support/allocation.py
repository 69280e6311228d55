"""How `pricealert.allocator` shows: minor page faults of a burst of page-sized buffers, and
the cyclic collector as a service's startup leaves it."""

from __future__ import annotations

import contextlib
import gc
import resource
from collections.abc import Iterator

#: glibc's own starting thresholds (128 KiB both): set explicitly, they make a process behave
#: as an untuned one does under many large buffers at once.
GLIBC_START = 128 * 1024


def burst_faults(rounds: int = 10) -> float:
    """Faults per burst of 40 zero-filled 300 KB buffers held at once, then freed (the
    scraper's 50 pages in flight, roughly), after one burst to warm the heap."""

    def burst() -> None:
        held = [bytearray(300_000) for _ in range(40)]
        del held

    burst()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        burst()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / rounds


#: Python's own thresholds (3.11, 3.12): what a process starts with.
PYTHON_THRESHOLDS = (700, 10, 10)


@contextlib.contextmanager
def collector_as_python_starts() -> Iterator[None]:
    """The collector as a fresh process has it (nothing frozen, Python's thresholds) for a
    startup to set; the test process's own restored afterwards."""
    saved = gc.get_threshold()
    gc.unfreeze()  # whatever another test froze
    gc.set_threshold(*PYTHON_THRESHOLDS)
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
