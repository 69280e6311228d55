"""`pricealert forecast`: plan 6.2's resource forecast, and the task counts it implies (6.3).

    pricealert forecast --csv queue.csv --metric-kind queue_length
    pricealert forecast --prometheus http://prometheus:9090 \\
        --query 'sum(pricealert_queue_length{queue="pricealert:scrape"})' --start 2025-05-01 \\
        --step 1h --metric-kind queue_length --out build/forecast.csv --plot build/forecast.png
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pricealert.cli import CommandError
from pricealert_ops import capacity, forecast_io
from pricealert_ops.cli import add_top_command
from pricealert_ops.forecast import active_seasonalities, forecast, sampling_step


def register(subparsers: Any) -> None:
    command = add_top_command(subparsers, "forecast", _forecast)
    source = command.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, help="CSV with columns ds, y")
    source.add_argument("--prometheus", metavar="URL", help="Prometheus base URL")
    command.add_argument("--query", help="PromQL returning one series (with --prometheus)")
    command.add_argument("--start", help="range start, ISO 8601 or Unix seconds (default: -28d)")
    command.add_argument("--end", help="range end (default: now)")
    command.add_argument("--step", default="1h", help="range step (default 1h)")
    command.add_argument("--horizon-days", type=float, default=30, help="default 30 (plan 6.2)")
    command.add_argument("--interval-width", type=float, default=0.95, help="default 0.95")
    command.add_argument("--engine", choices=["auto", "builtin", "prophet"], default="auto")
    command.add_argument("--out", type=Path, default=Path("forecast.csv"), help="forecast CSV")
    command.add_argument("--plot", type=Path, default=Path("forecast.png"), help="PNG plot")
    command.add_argument("--title", help="plot title (default: the query or file name)")
    command.add_argument("--metric-kind", choices=sorted(capacity.RULES), help="task counts")
    command.add_argument("--per-task", type=float, help="load one task handles (plan default)")
    command.add_argument("--min-tasks", type=int, help="autoscaling minimum (plan default)")
    command.add_argument("--max-tasks", type=int, help="autoscaling maximum (plan default)")


def _forecast(args: argparse.Namespace) -> int:
    rule = None
    if args.metric_kind:
        rule = capacity.rule_for(
            args.metric_kind,
            per_task=args.per_task,
            min_tasks=args.min_tasks,
            max_tasks=args.max_tasks,
        )
        if rule.per_task <= 0 or not 0 <= rule.min_tasks <= rule.max_tasks:
            raise CommandError(
                "invalid_capacity", "need --per-task > 0 and 0 <= --min-tasks <= --max-tasks"
            )
    if args.csv is not None:
        series = forecast_io.read_csv(args.csv)
        title = args.title or args.csv.name
    else:
        if not args.query:
            raise CommandError("missing_query", "--prometheus needs --query")
        end = forecast_io.parse_time(args.end) if args.end else datetime.now(UTC)
        start = forecast_io.parse_time(args.start) if args.start else end - timedelta(days=28)
        series = forecast_io.fetch_prometheus(args.prometheus, args.query, start, end, args.step)
        title = args.title or args.query

    result = forecast(
        series,
        timedelta(days=args.horizon_days),
        interval_width=args.interval_width,
        engine=args.engine,
    )
    plan = capacity.plan_capacity(result, rule) if rule else None
    forecast_io.write_csv(result, args.out, plan)
    forecast_io.write_plot(result, series, args.plot, title)

    seasonal = ", ".join(f"{name} ±{amp:.3g}" for name, amp in result.amplitudes.items())
    horizon = result.ds[result.horizon_start :]
    print(f"forecast of {title} ({result.engine} engine)")
    print(
        f"  {len(series.y)} observations every {sampling_step(series)}, "
        f"{series.ds[0].isoformat()} … {series.ds[-1].isoformat()}"
    )
    print(f"  trend {result.slope_per_day:+.4g} per day; seasonality: {seasonal or 'none'}")
    names = [name for name, _, _ in active_seasonalities(series)]
    print(f"  fitted seasonalities: {', '.join(names) or 'none (too little data)'}")
    if horizon:
        last = len(result.ds) - 1
        print(
            f"  at {horizon[-1].isoformat()}: {result.yhat[last]:.4g} "
            f"[{result.yhat_lower[last]:.4g}, {result.yhat_upper[last]:.4g}] "
            f"({args.interval_width:.0%} band)"
        )
        if plan:
            print("\n".join(capacity.format_capacity(plan)))
    print(f"wrote {args.out} and {args.plot}")
    return 0
