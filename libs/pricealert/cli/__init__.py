"""The `pricealert` command: operators' and developers' entry point.

Each command group lives in its own module with a `register(subparsers)`
function. Library commands are listed in `_BUILTIN`; commands that belong to a
service (`extract`, `check`, ...) are found through the `pricealert.commands`
entry-point group, so the library never imports `services`.

A command returns an exit code. Errors that users cause raise `CommandError`
(or a `PriceAlertError`): the CLI prints `error: <code>: <detail>` on stderr and
exits 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from pricealert.errors import PriceAlertError

Handler = Callable[[argparse.Namespace], int]

#: Library command modules, each with `register(subparsers)`.
_BUILTIN = (
    "pricealert.cli.migrate",
    "pricealert_ops.cli.run",
    "pricealert_ops.cli.backup",  # also `restore` (dump, rds-snapshot, rds-pitr)
    "pricealert_ops.cli.forecast",
    "pricealert_ops.cli.maintenance",  # `db maintenance`, `perf report`, `alert review`, `audit`
    "pricealert_ops.cli.slo",
    "pricealert_ops.cli.chaos",  # chaos experiments (ops plan 9.4)
    "pricealert_ops.cli.incident",  # incident records and postmortems (ops plan 7.2)
    "pricealert_ops.cli.review",  # the quarterly operations review (ops plan 9.3)
    "pricealert_ops.cli.servers",  # development PostgreSQL and Redis (`make run`, `make stop`)
    "pricealert_ops.cli.demo",  # the demo shop and webhook receiver (README walk-through)
)


class CommandError(PriceAlertError):
    """A named error a command reports to its user."""

    code = "command_failed"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code  # type: ignore[misc]  # instance-level code for named CLI errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pricealert", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in _BUILTIN:
        importlib.import_module(module_name).register(subparsers)
    for entry in sorted(entry_points(group="pricealert.commands"), key=lambda e: e.name):
        entry.load()(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except PriceAlertError as exc:
        print(f"error: {exc.code}: {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def add_command(
    subparsers: Any, name: str, handler: Handler, help_text: str
) -> argparse.ArgumentParser:
    """Add one subcommand whose parsed arguments are passed to `handler`."""
    command: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=help_text
    )
    command.set_defaults(handler=handler)
    return command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
