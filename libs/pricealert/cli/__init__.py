"""The `pricealert` command: operators' and developers' entry point.

Commands are listed in tables, `name -> Command(module, one-line help)`, and a
command's module is imported only when that command runs: `pricealert --help`
imports no database driver, AWS SDK or plotting library. Each module has a
`register(subparsers)` function that adds its command(s).

- The runtime's own command (`migrate`, which deploys run) is in `COMMANDS` here.
- Other distributions add theirs through the `pricealert.commands` entry-point
  group, each entry pointing at such a table: the scraper's `extract`, `check`,
  `suggest` (`services.scraper.commands`) and the operators' and developers'
  tooling (`pricealert_ops.cli`), which the runtime image does not install. A
  tooling command asked for where it is not installed is a named error saying
  what provides it, not "invalid choice".

A command returns an exit code. Errors that users cause raise `CommandError`
(or a `PriceAlertError`): the CLI prints `error: <code>: <detail>` on stderr and
exits 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Final

from pricealert.errors import NamedError, PriceAlertError

Handler = Callable[[argparse.Namespace], int]

#: The entry-point group whose entries are command tables (`Mapping[str, Command]`).
ENTRY_POINT_GROUP: Final = "pricealert.commands"


@dataclass(frozen=True)
class Command:
    """Where a command lives (a module with `register(subparsers)`) and its line in --help."""

    module: str
    help: str


#: The runtime library's own commands.
COMMANDS: Mapping[str, Command] = {
    "migrate": Command("pricealert.cli.migrate", "Apply database migrations."),
}

#: The commands of `pricealert_ops.cli.COMMANDS`, named here so that where that
#: distribution is not installed (the runtime image) asking for one says so.
#: `tests/test_runtime_split.py` checks both lists agree.
OPS_DISTRIBUTION: Final = "pricealert-ops"
OPS_COMMANDS: Final = frozenset(
    {
        "alert", "audit", "backup", "chaos", "config", "db", "demo", "deploy", "forecast",
        "incident", "perf", "restore", "review", "run", "servers", "slo",
    }
)  # fmt: skip


class CommandError(NamedError, code="command_failed"):
    """A named error a command reports to its user."""


def available_commands() -> dict[str, Command]:
    """Every command installed here: the runtime's and each entry point's table."""
    found = dict(COMMANDS)
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        table: Mapping[str, Command] = entry.load()
        found.update(table)
    return dict(sorted(found.items()))


def build_parser(
    commands: Mapping[str, Command], chosen: str | None = None
) -> argparse.ArgumentParser:
    """The parser: the `chosen` command's module registers itself (its imports happen
    now); every other command is only a line in the listing."""
    parser = argparse.ArgumentParser(prog="pricealert", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if chosen is not None:
        importlib.import_module(commands[chosen].module).register(subparsers)
        if chosen not in subparsers.choices:
            raise RuntimeError(f"{commands[chosen].module} does not register {chosen!r}")
    for name, command in commands.items():
        if name not in subparsers.choices:
            subparsers.add_parser(name, help=command.help, add_help=False)
    return parser


def _command_named(argv: Sequence[str]) -> str | None:
    """The command word: the first argument that is not an option (the top level has
    only -h/--help, which takes no value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    commands = available_commands()
    name = _command_named(arguments)
    if name is not None and name not in commands and name in OPS_COMMANDS:
        print(
            f"error: command_not_installed: `pricealert {name}` is operator and developer "
            f"tooling from the {OPS_DISTRIBUTION} distribution, which is not installed here "
            "(the runtime image leaves it out): install it (`pip install libs/pricealert_ops`, "
            "as `make install` and the image's `ops` target do)",
            file=sys.stderr,
        )
        return 2
    parser = build_parser(commands, name if name in commands else None)
    args = parser.parse_args(arguments)
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
