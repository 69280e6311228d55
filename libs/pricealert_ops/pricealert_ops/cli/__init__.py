"""The operators' and developers' `pricealert` commands, listed for the CLI's help.

Each command's one-line help is written once, in `COMMANDS`: `pricealert --help` lists
it without importing the command's module, and the module's `register()` adds the
command with `add_top_command`, `add_group` or `add_actions`, which take it from there
(so `pricealert <command> --help` says the same).

The runtime's `pricealert` finds this table through the `pricealert.commands` entry
point (libs/pricealert_ops/pyproject.toml) and imports a command's module only when
that command runs. `pricealert.cli.OPS_COMMANDS` names the same commands so that the
runtime image, which does not install this distribution, can say where they are.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from pricealert.cli import Command, CommandError, Handler, add_command

_CLI = "pricealert_ops.cli"

COMMANDS: Mapping[str, Command] = {
    "run": Command(f"{_CLI}.run", "Run services, restarting any that exits (Ctrl-C stops all)."),
    "backup": Command(f"{_CLI}.backup", "Logical backups (pg_dump) of the database."),
    "restore": Command(f"{_CLI}.backup", "Restore the database (a dump, an RDS snapshot or PITR)."),
    "forecast": Command(f"{_CLI}.forecast", "Forecast a metric and the tasks it will need."),
    "db": Command(f"{_CLI}.maintenance", "Database maintenance."),
    "audit": Command(
        f"{_CLI}.maintenance", "Audit installed dependencies for known vulnerabilities."
    ),
    "perf": Command(f"{_CLI}.maintenance", "Performance analysis."),
    "alert": Command(f"{_CLI}.maintenance", "Alert rules maintenance."),
    "slo": Command(f"{_CLI}.slo", "SLO rules and error budgets."),
    "chaos": Command(f"{_CLI}.chaos", "Run chaos experiments against a private local stack."),
    "incident": Command(f"{_CLI}.incident", "Record an incident (plan 7.2)."),
    "review": Command(f"{_CLI}.review", "Operations reviews (plan 9.3)."),
    "config": Command(
        f"{_CLI}.config", "Versioned backups of the deployable configuration (plan 5.1)."
    ),
    "deploy": Command(
        f"{_CLI}.deploy", "Plan and apply change sets; review emergency changes (plan 7.3)."
    ),
    "servers": Command(
        f"{_CLI}.servers", "PostgreSQL and Redis for development: find or start them."
    ),
    "demo": Command(f"{_CLI}.demo", "The demo shop and webhook receiver (README walk-through)."),
}


def add_top_command(subparsers: Any, name: str, handler: Handler) -> argparse.ArgumentParser:
    """`pricealert <name>`, run by `handler`."""
    return add_command(subparsers, name, handler, COMMANDS[name].help)


def add_group(subparsers: Any, name: str) -> Any:
    """`pricealert <name> COMMAND`: a command that only groups others; returns the group's
    sub-parsers (parsed into `<name>_command`)."""
    help_text = COMMANDS[name].help
    group = subparsers.add_parser(name, help=help_text, description=help_text)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def add_actions(subparsers: Any, name: str) -> Any:
    """`pricealert <name> ACTION`: returns the sub-parsers of the actions (parsed into
    `<name>_action`); without an action the command names each one."""

    def usage(args: argparse.Namespace) -> int:
        named = " or ".join(f"`pricealert {name} {action}`" for action in actions.choices)
        raise CommandError("missing_action", f"say {named}")

    command = add_command(subparsers, name, usage, COMMANDS[name].help)
    actions = command.add_subparsers(dest=f"{name}_action", metavar="ACTION")
    return actions
