"""Memory management for services that hold many requests and large buffers at once.

First glibc's allocator. A fetched page is a 100–300 KB `bytes` (and the socket read
before it a 256 KB one): larger than glibc's mmap threshold, which starts at 128 KB and
only creeps up to the size of the last such block freed. So with 50 checks in flight,
block after block is `mmap`ped fresh, every page of it faulted in by the kernel, and
`munmap`ped when freed; what the heap frees at its top beyond the trim threshold goes back
to the kernel, to be faulted in again. Measured here (`make bench-http`, one 212 KB page,
concurrency 50): 22–50 minor page faults per GET and half the client's CPU in the kernel;
with the thresholds below none to 0.8, and about a third less CPU per GET (see the
README's HTTP client row).

Fixed thresholds keep such blocks in the heap and reuse them: blocks up to
`mmap_threshold` come from the heap, and up to `trim_threshold` of free memory stays at
its top. The cost: up to 32 MiB of freed memory stays with the process between bursts
instead of going back to the kernel (its peak is not raised). Where the C library is not
glibc (musl, macOS) nothing is changed.

Python's cyclic collector is set at the same moment (`tune_collector`). What startup loaded
(modules, settings, engines, pools: ~145 000 objects in the API) lives as long as the
process: frozen, it is out of the collector's walks, so a full collection walks what the
work made, not the whole heap (50–150 ms measured, every request or job in flight waiting).
And the first generation is collected when 5 000 container objects more are alive than at
the last collection instead of Python's 700: 50 fetches in flight keep more than 700 young
objects alive at any moment, so at 700 the collector ran every few GETs, found nothing to
free, and promoted the survivors, which fed the older generations' walks too. Measured here
(`make bench-http`, c=50, aiohttp under the guard): 0.04–0.05 ms of collection per GET with
Python's thresholds, 0.003 with these; requests one at a time were collected as rarely
either way. The cost: up to 5 000 objects of cyclic garbage wait a little longer.
"""

from __future__ import annotations

import ctypes
import gc
import os
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pricealert.settings import PriceAlertSettings

#: mallopt(3) parameters (glibc's malloc.h).
M_TRIM_THRESHOLD: Final = -1
M_MMAP_THRESHOLD: Final = -3


def tune_allocator(mmap_threshold: int, trim_threshold: int) -> bool:
    """Fix glibc's mmap and trim thresholds (bytes); whether they were set.

    `mmap_threshold` 0 leaves the allocator as glibc starts it (its dynamic thresholds)."""
    if mmap_threshold <= 0 or not _glibc():
        return False
    mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt answers 1 when it took the value, 0 when it refused it (e.g. out of range)
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(M_TRIM_THRESHOLD, trim_threshold)
    )


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):  # the name is unknown where the C library is not glibc
        return False


def tune_collector(gen0_threshold: int) -> bool:
    """Freeze the heap made so far and set the collector's first threshold; whether it was set.

    `gen0_threshold` 0 keeps Python's own thresholds (the heap is frozen all the same)."""
    gc.freeze()
    if gen0_threshold <= 0:
        return False
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
    return True


def tune_for(settings: PriceAlertSettings) -> bool:
    """A service's memory management, once its startup is done: `tune_collector` and
    `tune_allocator` with its settings (`PRICEALERT_GC_GEN0_THRESHOLD`,
    `PRICEALERT_MALLOC_*_THRESHOLD_BYTES`); whether glibc's thresholds were fixed."""
    tune_collector(settings.gc_gen0_threshold)
    return tune_allocator(
        settings.malloc_mmap_threshold_bytes, settings.malloc_trim_threshold_bytes
    )
