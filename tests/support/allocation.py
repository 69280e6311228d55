"""Minor page faults of a burst of page-sized buffers: how `pricealert.allocator` shows."""

from __future__ import annotations

import resource

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
