"""Keeping the parser's memory from one page to the next (glibc).

Lexbor allocates about 2 MB to parse a 200 KB shop page and frees it all when
the tree goes. glibc hands freed memory at the top of the heap back to the
kernel as soon as more than 128 KB of it is free, so the next page
page-faults the same 2 MB in again: on the benchmark pages that was 30–45 % of
`extract()`'s CPU time (system time, ~400 minor faults a page).
`keep_parser_memory()` raises glibc's trim threshold so that a process keeps
freed heap for the next page instead. It is process-wide, so a worker calls it
once at startup (the benchmark does too); `extract()` never calls it itself.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1  # from glibc's <malloc.h>

#: Free heap a process may keep: a few pages' worth of parse trees.
KEEP_BYTES = 32 * 1024 * 1024


def keep_parser_memory(keep_bytes: int = KEEP_BYTES) -> bool:
    """Let the C heap keep up to `keep_bytes` freed; False where the C library cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, keep_bytes))  # musl's stub returns 0
