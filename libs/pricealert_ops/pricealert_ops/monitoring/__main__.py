"""`python -m pricealert_ops.monitoring generate|check`: write or verify the generated files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pricealert_ops.monitoring import default_monitoring_dir
from pricealert_ops.monitoring.generated import stale_generated, write_generated


def main(argv: list[str] | None = None) -> int:
    """Write (`generate`) or verify (`check`) every generated file under monitoring/."""
    parser = argparse.ArgumentParser(prog="python -m pricealert_ops.monitoring")
    parser.add_argument("action", choices=("generate", "check"))
    parser.add_argument("--monitoring-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    monitoring_dir: Path = args.monitoring_dir or default_monitoring_dir()
    if args.action == "generate":
        for path in write_generated(monitoring_dir):
            print(f"wrote {monitoring_dir / path}")
        return 0
    stale = stale_generated(monitoring_dir)
    for path in stale:
        print(
            f"stale: {monitoring_dir / path} (run `python -m pricealert_ops.monitoring generate`)"
        )
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
