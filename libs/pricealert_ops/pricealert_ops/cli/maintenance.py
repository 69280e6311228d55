"""Plan 7.1's recurring maintenance, each printing a readable report.

    db maintenance   ANALYZE, bloat estimate, unused indexes; --reindex (monthly)
    audit            dependency vulnerability audit with pip-audit (monthly)
    perf report      slowest statements from pg_stat_statements (weekly)
    alert review     alerts without runbooks, alerts firing now, the quarter's firings (quarterly)

Exit codes: 0 nothing to act on; 1 the report found something to act on
(vulnerabilities, alerts without runbooks); 2 the report could not be made.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from pricealert.cli import CommandError, add_command
from pricealert.settings import PriceAlertSettings
from pricealert_ops import alert_review, audit, maintenance, perf
from pricealert_ops.cli import add_group, add_top_command


def register(subparsers: Any) -> None:
    db_commands = add_group(subparsers, "db")
    maint = add_command(
        db_commands, "maintenance", _db_maintenance, "ANALYZE, bloat and unused-index report."
    )
    maint.add_argument("--database-url", help="overrides PRICEALERT_DATABASE_URL")
    maint.add_argument(
        "--reindex", action="store_true", help="REINDEX CONCURRENTLY the bloated indexes"
    )
    maint.add_argument("--bloat-threshold", type=float, default=0.3, help="default 0.3 (30 %%)")
    maint.add_argument(
        "--min-size-mb", type=float, default=1.0, help="leave smaller indexes alone (default 1)"
    )

    audit_command = add_top_command(subparsers, "audit", _audit)
    audit_command.add_argument(
        "--requirement", type=Path, help="audit this pinned requirements file instead"
    )

    perf_commands = add_group(subparsers, "perf")
    report = add_command(
        perf_commands, "report", _perf_report, "Slowest statements from pg_stat_statements."
    )
    report.add_argument("--database-url", help="overrides PRICEALERT_DATABASE_URL")
    report.add_argument("--limit", type=int, default=10, help="statements to show (default 10)")

    alert_commands = add_group(subparsers, "alert")
    review = add_command(
        alert_commands,
        "review",
        _alert_review,
        "Alerts without runbooks; alerts firing now; the quarter's firings.",
    )
    review.add_argument("--rules-dir", type=Path, default=Path("monitoring/prometheus/rules"))
    review.add_argument("--runbooks-dir", type=Path, default=Path("monitoring/runbooks"))
    review.add_argument("--alertmanager", metavar="URL", help="Alertmanager base URL")
    review.add_argument(
        "--prometheus", metavar="URL",
        help="Prometheus base URL: how often and how long each alert fired over --days",
    )  # fmt: skip
    review.add_argument("--days", type=int, default=91, help="review period (default a quarter)")


def _database_url(args: argparse.Namespace) -> str:
    return str(args.database_url or PriceAlertSettings().sync_database_url)


def _db_maintenance(args: argparse.Namespace) -> int:
    if not 0 <= args.bloat_threshold <= 1:
        raise CommandError("invalid_threshold", "--bloat-threshold is a ratio between 0 and 1")
    report = asyncio.run(
        maintenance.run_maintenance(
            _database_url(args),
            reindex=args.reindex,
            bloat_threshold=args.bloat_threshold,
            min_bytes=int(args.min_size_mb * 1024 * 1024),
        )
    )
    print("\n".join(maintenance.format_maintenance(report, bloat_threshold=args.bloat_threshold)))
    return 0


def _audit(args: argparse.Namespace) -> int:
    if args.requirement is not None and not args.requirement.is_file():
        raise CommandError("requirements_not_found", f"no file {args.requirement}")
    result = audit.judge(audit.run_pip_audit(args.requirement))
    print("\n".join(audit.format_audit(result)))
    return 1 if result.vulnerabilities else 0


def _perf_report(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CommandError("invalid_limit", "--limit must be positive")
    statements = asyncio.run(perf.slowest_statements(_database_url(args), args.limit))
    print("\n".join(perf.format_statements(statements)))
    return 0


def _alert_review(args: argparse.Namespace) -> int:
    if not 1 <= args.days <= 3650:
        raise CommandError("invalid_days", "--days must be between 1 and 3650")
    runbooks = alert_review.check_runbooks(args.rules_dir, args.runbooks_dir)
    firing = alert_review.firing_alerts(args.alertmanager) if args.alertmanager else None
    history = alert_review.alert_history(args.prometheus, args.days) if args.prometheus else None
    print("\n".join(alert_review.format_review(runbooks, firing, history, args.days)))
    return 1 if any(r.status in {"missing", "dangling"} for r in runbooks) else 0
