"""Each command's one-line help is the same in `pricealert --help` (its table: the
runtime's, the scraper's, `pricealert_ops.cli.COMMANDS`; listed without importing the
command) and in `pricealert <command> --help` (what the command's module registers)."""

from __future__ import annotations

import argparse

import pytest

from pricealert.cli import available_commands, build_parser

COMMANDS = available_commands()


def _registered(name: str) -> tuple[str | None, str | None]:
    """(its line in the command listing, its parser's description) once its module
    has registered it."""
    parser = build_parser(available_commands(), name)
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = next(a.help for a in subparsers._choices_actions if a.dest == name)
    return listed, subparsers.choices[name].description


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_s_help_is_its_line_in_the_table(name: str) -> None:
    assert _registered(name) == (COMMANDS[name].help, COMMANDS[name].help)


def test_the_listing_shows_the_table_s_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser(available_commands()).parse_args(["--help"])
    listing = " ".join(capsys.readouterr().out.split())
    for command in COMMANDS.values():
        assert command.help in listing
