"""`pricealert restore rds-snapshot` and `pricealert restore rds-pitr` (plan 5.2.1, 5.2.2).

The `restore` group itself is created by `pricealert_ops.cli.backup` (beside
`restore dump`), which calls `register_restore_subcommands` here: argparse
cannot hold two parsers named `restore`. `register` builds a `restore` group of
its own for running this module alone; the CLI does not use it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError

from pricealert.cli import add_command
from pricealert_ops import rds_restore
from pricealert_ops.rds_restore import (
    DEFAULT_INSTANCE_CLASS,
    DEFAULT_SOURCE,
    RdsRestoreError,
    RestoredInstance,
)

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import WaiterConfigTypeDef


def register_restore_subcommands(restore_subparsers: Any) -> None:
    """Add `rds-snapshot` and `rds-pitr` to an existing `restore` sub-parser group."""
    snapshot = add_command(
        restore_subparsers,
        "rds-snapshot",
        _rds_snapshot,
        "Restore an RDS snapshot into a new DB instance (plan 5.2.1).",
    )
    snapshot.add_argument("snapshot", help="snapshot identifier (rds:…, awsbackup:…) or ARN")
    _add_target(snapshot)
    _add_common(snapshot)

    pitr = add_command(
        restore_subparsers,
        "rds-pitr",
        _rds_pitr,
        "Restore an RDS instance as it was at a point in time (plan 5.2.2).",
    )
    _add_target(pitr)
    pitr.add_argument("time", help="ISO 8601 time with a zone, e.g. 2023-06-15T08:45:00Z")
    pitr.add_argument(
        "--source", default=DEFAULT_SOURCE, help=f"source instance (default: {DEFAULT_SOURCE})"
    )
    _add_common(pitr)
    second = pitr.add_argument_group(
        "in the second region",
        "When --region has no instance named --source, the restore uses the source's "
        "automated backups that RDS replicates to that region.",
    )
    second.add_argument("--subnet-group", help="that region's DB subnet group (required there)")
    second.add_argument("--parameter-group", help="that region's DB parameter group")
    second.add_argument("--option-group", help="that region's option group")
    second.add_argument(
        "--source-region", help="the source's region, to carry its tags and monitoring settings"
    )

    add_command(
        restore_subparsers,
        "drill-rds",
        _rds_drill,
        "Drill both RDS restore paths against moto: each restore comes up like its source.",
    )


def _add_target(command: argparse.ArgumentParser) -> None:
    command.add_argument("target", help="new DB instance identifier")


def _add_common(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--instance-class",
        default=DEFAULT_INSTANCE_CLASS,
        help=f"default: {DEFAULT_INSTANCE_CLASS}",
    )
    command.add_argument(
        "--security-group-ids",
        nargs="+",
        default=[],
        metavar="SG",
        help="VPC security groups for the new instance (space- or comma-separated)",
    )
    command.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait until the instance is available and print its endpoint (default: wait)",
    )
    command.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    command.add_argument(
        "--poll-seconds", type=_positive_int, default=30, help="seconds between status checks"
    )
    command.add_argument(
        "--max-polls", type=_positive_int, default=120, help="status checks before giving up"
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _rds_snapshot(args: argparse.Namespace) -> int:
    print(f"restoring snapshot {args.snapshot} into {args.target} ({args.instance_class})")
    result = rds_restore.restore_from_snapshot(
        _client(args.region),
        args.snapshot,
        args.target,
        instance_class=args.instance_class,
        security_group_ids=_groups(args.security_group_ids),
        wait=args.wait,
        waiter_config=_waiter_config(args),
    )
    _report(result)
    return 0


def _rds_pitr(args: argparse.Namespace) -> int:
    restore_time = rds_restore.parse_restore_time(args.time)
    client = _client(args.region)
    common: dict[str, Any] = {
        "source_identifier": args.source,
        "instance_class": args.instance_class,
        "security_group_ids": _groups(args.security_group_ids),
        "wait": args.wait,
        "waiter_config": _waiter_config(args),
    }
    if rds_restore.instance_exists(client, args.source):
        print(f"restoring {args.source} as of {restore_time.isoformat()} into {args.target}")
        result = rds_restore.restore_to_point_in_time(client, args.target, restore_time, **common)
    else:
        print(
            f"restoring {args.source} as of {restore_time.isoformat()} into {args.target} "
            f"from its automated backups replicated to {client.meta.region_name}"
        )
        result = rds_restore.restore_replica_to_point_in_time(
            client,
            args.target,
            restore_time,
            subnet_group=args.subnet_group,
            parameter_group=args.parameter_group,
            option_group=args.option_group,
            source_rds=_client(args.source_region) if args.source_region else None,
            **common,
        )
    _report(result)
    return 0


def _rds_drill(args: argparse.Namespace) -> int:
    from pricealert_ops import rds_drill

    checks = rds_drill.run_rds_drill()
    print("\n".join(rds_drill.format_rds_drill(checks)))
    return 0 if checks and all(c.passed for c in checks) else 1


def _client(region: str | None) -> RDSClient:
    try:
        client: RDSClient = boto3.client("rds", region_name=region)
    except BotoCoreError as exc:  # no region configured, unknown region name
        raise RdsRestoreError("aws_error", str(exc)) from None
    return client


def _groups(values: list[str]) -> list[str]:
    return [part for value in values for part in value.split(",") if part]


def _waiter_config(args: argparse.Namespace) -> WaiterConfigTypeDef:
    return {"Delay": args.poll_seconds, "MaxAttempts": args.max_polls}


def _report(result: RestoredInstance) -> None:
    if result.endpoint is None:
        print(f"{result.identifier} is {result.status}; its endpoint is known once available")
        return
    print(f"{result.identifier} is {result.status} at {result.endpoint}:{result.port}")
