"""`pricealert deploy plan`: the change set of each stack and its plan 7.3 class.

    deploy plan services jobs --parameter ImageUri=<ecr>/pricealert:2026.12.03
    deploy plan data --parameter DbInstanceClass=db.t3.xlarge
    deploy plan services --parameter ImageUri=… --emergency --reason "…" --approver lead
    deploy apply services jobs --change-set-name plan-20261203-101500
    deploy emergencies [--all] [--json]           emergency changes waiting for review
    deploy reviewed CHG-20261203-1 --notes "…"    close one's review

`plan` executes nothing. Exit code: 0 standard change (or no change), 10 normal
change (change advisory board), 11 emergency change (recorded for review),
3 refused (data at risk without --allow-data-loss, or a change set that
failed), 2 a named error. The rules are in `pricealert_ops.change_risk`.

`apply` runs the reviewed change sets (never a new computation), stack by stack in
the order given, waits for each to settle, and then exports the deployed
configuration to the versioned bucket (plan 5.1 "設定ファイル → Git + S3": every
change leaves a version, `pricealert config diff` shows it). Without a bucket it
refuses before executing anything, unless `--no-config-backup` says so.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from pricealert.cli import CommandError, add_command
from pricealert_ops import change_records, change_risk, deploy, incident
from pricealert_ops.cli import add_group
from pricealert_ops.cli import config as config_cli
from pricealert_ops.deploy import StackPlan
from pricealert_ops.monitoring.aws import load_template

_INFRA = Path("infra")


def register(subparsers: Any) -> None:
    commands = add_group(subparsers, "deploy")
    plan = add_command(
        commands,
        "plan",
        _plan,
        "Create each stack's CloudFormation change set (not executed), print the changes "
        "and the change class: standard (exit 0), normal (10), emergency (11), refused (3).",
    )
    plan.add_argument("stacks", nargs="+", metavar="STACK", help="services, jobs, data, …")
    plan.add_argument("--parameter", "-p", action="append", default=[], metavar="KEY=VALUE")
    _stack_options(plan)
    plan.add_argument(
        "--s3-bucket",
        help="bucket for templates over 51,200 bytes (as `aws cloudformation deploy`)",
    )
    plan.add_argument("--change-set-name", default=None, help="default: plan-<UTC time>")
    plan.add_argument("--emergency", action="store_true", help="an emergency change (緊急変更)")
    plan.add_argument("--reason", default="", help="why it cannot wait (with --emergency)")
    plan.add_argument("--approver", default="", help="who approved it (with --emergency)")
    plan.add_argument(
        "--allow-data-loss",
        action="store_true",
        help="go ahead although a stateful resource is removed or replaced",
    )
    plan.add_argument("--who", default=None, help="who plans (default: the login name)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")

    apply = add_command(
        commands,
        "apply",
        _apply,
        "Execute the reviewed change sets, wait for each stack, then back the deployed "
        "configuration up (plan 5.1).",
    )
    apply.add_argument("stacks", nargs="+", metavar="STACK", help="as planned, in this order")
    apply.add_argument("--change-set-name", required=True, help="the name `plan` printed")
    _stack_options(apply)
    apply.add_argument(
        "--no-config-backup",
        action="store_true",
        help="skip the configuration export (say why in the change record)",
    )
    config_cli.bucket_options(apply)

    listing = add_command(
        commands,
        "emergencies",
        _emergencies,
        "Emergency changes waiting for their review (due 7 days after), overdue first.",
    )
    listing.add_argument("--all", action="store_true", help="reviewed ones too")
    listing.add_argument("--json", action="store_true")

    reviewed = add_command(
        commands, "reviewed", _reviewed, "Close the review of an emergency change."
    )
    reviewed.add_argument("id", help="CHG-YYYYMMDD-n")
    reviewed.add_argument("--notes", required=True, help="the review's outcome")
    reviewed.add_argument("--who", default=None, help="who reviewed (default: the login name)")


def _stack_options(command: argparse.ArgumentParser) -> None:
    """Where the stacks are: their environment, region and templates."""
    command.add_argument("--env", default="production", help="stack names pricealert-<env>-<stack>")
    command.add_argument("--region", default=None)
    command.add_argument("--infra-dir", type=Path, default=_INFRA)


def _plan(args: argparse.Namespace) -> int:
    if args.emergency and not (args.reason.strip() and args.approver.strip()):
        raise CommandError(
            "emergency_needs_approval", "--emergency needs --reason and --approver (緊急承認)"
        )
    parameters = deploy.parse_parameters(args.parameter)
    requests = [deploy.stack_request(args.infra_dir, s, args.env) for s in args.stacks]
    known = {name for r in requests for name in _declared(r.template_path)}
    unused = sorted(set(parameters) - known)
    if unused:
        raise CommandError("invalid_parameter", f"no stack named takes {', '.join(unused)}")
    name = args.change_set_name or f"plan-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    cloudformation = boto3.client("cloudformation", region_name=args.region)
    s3 = boto3.client("s3", region_name=args.region) if args.s3_bucket else None
    plans = [
        deploy.plan_stack(
            cloudformation,
            request,
            parameters,
            change_set_name=name,
            emergency=args.emergency,
            allow_data_loss=args.allow_data_loss,
            s3=s3,
            template_bucket=args.s3_bucket,
        )
        for request in requests
    ]
    overall = change_risk.combine(p.assessment for p in plans)
    record_id = None
    if args.emergency and not overall.refused:
        record_id = change_records.record_emergency(
            incident.IncidentSettings().store(),
            [deploy.plan_as_dict(p) for p in plans],
            reason=args.reason,
            approver=args.approver,
            who=args.who or incident.who_default(),
        )
    if args.json:
        print(
            json.dumps(
                {
                    "class": overall.change_class,
                    "risk": overall.risk,
                    "refused": overall.refused,
                    "no_changes": overall.no_changes,
                    "exit_code": overall.exit_code,
                    "emergency_record": record_id,
                    "stacks": [deploy.plan_as_dict(p) for p in plans],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        for plan in plans:
            _print_plan(plan)
        # Only stacks with something to run: an empty change set was deleted.
        changed = [r.short_name for r, p in zip(requests, plans, strict=True) if p.change_set_id]
        apply_command = " ".join(
            ["pricealert deploy apply", *changed, "--change-set-name", name]
            + (["--env", args.env] if args.env != "production" else [])
            + (["--region", args.region] if args.region else [])
        )
        _print_verdict(overall, record_id, apply_command)
    return overall.exit_code


def _apply(args: argparse.Namespace) -> int:
    requests = [deploy.stack_request(args.infra_dir, s, args.env) for s in args.stacks]
    target = None
    if not args.no_config_backup:
        # Checked before anything runs: a deploy must not leave its configuration unrecorded.
        target = config_cli.where(args)
        root = config_cli.repository_root(args)
    cloudformation = boto3.client("cloudformation", region_name=args.region)
    for request in requests:
        status = deploy.apply_change_set(cloudformation, request.stack_name, args.change_set_name)
        print(f"{request.stack_name}: {status}")
    if target is not None:
        settings, s3, bucket, key = target
        config_cli.export_configuration(
            root, [r.stack_name for r in requests], settings, s3, bucket, key
        )
    return 0


def _declared(path: Path) -> list[str]:
    return list(load_template(path).get("Parameters", {}))


def _print_plan(plan: StackPlan) -> None:
    a = plan.assessment
    if plan.change_set_id is None:
        print(f"{plan.stack_name}: no changes ({plan.status_reason})")
        return
    print(f"{plan.stack_name}: {plan.change_set_type} — risk {a.risk}, {a.change_class} change")
    for name, (before, after) in plan.changed_parameters.items():
        print(f"  parameter {name}: {before if before is not None else '(new)'} → {after}")
    if plan.changes:
        print(f"  {'action':<8} {'resource':<44} {'replacement':<12} {'scope':<22} cause")
    for c in plan.changes:
        resource = f"{c.logical_id} ({c.resource_type})"
        causes = "; ".join(f"{s} {e}".strip() for s, e in c.causes) or "-"
        replacement = c.replacement or ("-" if c.action != "Modify" else "not stated")
        scope = ",".join(c.scope) or "-"
        print(f"  {c.action:<8} {resource:<44} {replacement:<12} {scope:<22} {causes}")
    for reason in a.reasons:
        print(f"  · {reason}")


def _print_verdict(
    overall: change_risk.Assessment, record_id: str | None, apply_command: str
) -> None:
    if overall.refused:
        print(f"REFUSED (risk {overall.risk}): data at risk; re-plan with --allow-data-loss")
        for line in overall.data_at_risk:
            print(f"  {line}")
        return
    if overall.no_changes:
        print("no changes: nothing to deploy")
        return
    else:
        print(f"class: {overall.change_class} change (risk {overall.risk}) — {overall.approval}")
    if record_id:
        print(f"emergency change recorded as {record_id}: review it within 7 days")
    print(f"after the approval: {apply_command}")


def _emergencies(args: argparse.Namespace) -> int:
    records = change_records.emergencies(
        incident.IncidentSettings().store(), include_reviewed=args.all
    )
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    if not records:
        print("no emergency change waits for its review")
    for r in records:
        state = (
            f"reviewed by {r['reviewed_by']}"
            if r["reviewed"]
            else ("OVERDUE" if change_records.is_overdue(r) else "review due")
            + f" {r['review_due'][:10]}"
        )
        stacks = ", ".join(s["stack"] for s in r["stacks"])
        who = f"by {r['who']}, approved by {r['approver']}"
        print(f"{r['id']}  {state}  {who}: {r['reason']} ({stacks})")
    return 0


def _reviewed(args: argparse.Namespace) -> int:
    record = change_records.mark_reviewed(
        incident.IncidentSettings().store(),
        args.id,
        who=args.who or incident.who_default(),
        notes=args.notes,
    )
    print(f"{record['id']} reviewed by {record['reviewed_by']}")
    return 0
