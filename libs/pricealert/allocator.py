"""glibc's allocator, set for services that hold many large buffers at once.

A fetched page is a 100–300 KB `bytes` (and the socket read before it a 256 KB one): larger
than glibc's mmap threshold, which starts at 128 KB and only creeps up to the size of the
last such block freed. So with 50 checks in flight, block after block is `mmap`ped fresh,
every page of it faulted in by the kernel, and `munmap`ped when freed; what the heap frees
at its top beyond the trim threshold goes back to the kernel, to be faulted in again.
Measured here (`make bench-http`, one 212 KB page, concurrency 50): 22–50 minor page
faults per GET and half the client's CPU in the kernel; with the thresholds below none to
0.8, and about a third less CPU per GET (see the README's HTTP client row).

Fixed thresholds keep such blocks in the heap and reuse them: blocks up to
`mmap_threshold` come from the heap, and up to `trim_threshold` of free memory stays at
its top. The cost: up to 32 MiB of freed memory stays with the process between bursts
instead of going back to the kernel (its peak is not raised). Where the C library is not
glibc (musl, macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
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


def tune_for(settings: PriceAlertSettings) -> bool:
    """`tune_allocator` with a service's settings (`PRICEALERT_MALLOC_*_THRESHOLD_BYTES`)."""
    return tune_allocator(
        settings.malloc_mmap_threshold_bytes, settings.malloc_trim_threshold_bytes
    )
