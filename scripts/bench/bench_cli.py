"""How long `pricealert --help` and one command's `--help` take: wall and CPU seconds.

Each is run as the installed console script (a fresh interpreter each time, as a
person runs it); the figures are medians over `--runs` runs. Prints one JSON object.
`python -c pass` is measured beside them: the interpreter's own start-up.

    python -m scripts.bench.bench_cli [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scripts.bench.common import emit

PRICEALERT = str(Path(sys.executable).with_name("pricealert"))
CASES: dict[str, list[str]] = {
    "python_pass": [sys.executable, "-c", "pass"],
    "help": [PRICEALERT, "--help"],
    "backup_help": [PRICEALERT, "backup", "--help"],
    "migrate_help": [PRICEALERT, "migrate", "--help"],
}


def _once(argv: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, cwd=os.sep)  # noqa: S603
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(runs: int) -> dict[str, Any]:
    result: dict[str, Any] = {"runs": runs}
    for name, argv in CASES.items():
        _once(argv)  # warm the page cache
        samples = [_once(argv) for _ in range(runs)]
        result[name] = {
            "wall_s_median": round(statistics.median(w for w, _ in samples), 4),
            "cpu_s_median": round(statistics.median(c for _, c in samples), 4),
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.bench_cli")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    emit(measure(args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
