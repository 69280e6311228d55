"""What the pipeline benchmark measures with: CPU time from /proc, percentiles, machine facts."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds each live process has used so far."""
    used = {}
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = raw.rsplit(")", 1)[1].split()  # fields[0] is stat field 3 (state)
        used[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
    return used


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two samples by the processes alive at the second one."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p99 (nearest rank) and max, in seconds rounded to milliseconds."""
    if not values:
        return {"p50": None, "p99": None, "max": None, "count": 0}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[max(math.ceil(q * len(ordered)) - 1, 0)], 3)

    return {
        "p50": rank(0.50),
        "p99": rank(0.99),
        "max": round(ordered[-1], 3),
        "count": len(ordered),
    }
