"""`pricealert review quarter`: the quarterly operations review of plan 9.3.

Reads Prometheus (SLOs, trends, task-hours, alerts) and the incident store
(`pricealert incident`), writes `review-<year>-Q<n>.md` and one PNG per trend
into `--out` (default build/review), and prints where.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pricealert.cli import add_command
from pricealert_ops.cli import add_group
from pricealert_ops.incident import IncidentSettings
from pricealert_ops.monitoring import default_monitoring_dir
from pricealert_ops.review import quarter_review, write_review


def register(subparsers: Any) -> None:
    quarter = add_command(
        add_group(subparsers, "review"),  # the group's only command
        "quarter",
        _quarter,
        "SLO attainment, incidents, resource trends, cost drivers, automation opportunities.",
    )
    quarter.add_argument("--prometheus", required=True, metavar="URL")
    quarter.add_argument("--days", type=int, default=91, help="the period (default 91)")
    quarter.add_argument("--out", type=Path, default=Path("build/review"))
    quarter.add_argument("--monitoring-dir", type=Path, help="default: ./monitoring")


def _quarter(args: argparse.Namespace) -> int:
    review = quarter_review(
        args.prometheus,
        args.monitoring_dir or default_monitoring_dir(),
        IncidentSettings().store(),
        args.out,
        days=args.days,
    )
    path = write_review(review, args.out)
    charts = sum(1 for t in review.trends if t.chart)
    print(f"wrote {path} and {charts} charts; {len(review.incidents)} incidents this period")
    return 0
