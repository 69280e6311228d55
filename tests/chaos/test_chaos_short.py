"""Every chaos experiment, very short: the real stack survives each fault with every invariant.

One private PostgreSQL cluster serves the module (each experiment gets a fresh
database in it, and its own redis-server); the machine's shared servers are not
used at all. Each experiment moves prices for a few seconds only; a failure
here is a broken invariant, printed as the verdict's summary.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pricealert.cli import CommandError
from pricealert_ops.chaos import EXPERIMENTS, RunOptions, verdict_json
from pricealert_ops.chaos.report import summary
from pricealert_ops.chaos.runner import run_experiment
from pricealert_ops.chaos.servers import PrivatePostgres, private_workdir
from pricealert_ops.cli import chaos as chaos_command

pytestmark = pytest.mark.slow

#: Long enough for a fault and several price changes, short enough for CI (2 loaded cores).
VERY_SHORT = RunOptions(duration=10, products=4, instances=2)

#: Invariants these experiments are known to break, because of open bugs in the services
#: (see the verdicts in the chaos report). Anything else breaking fails the test; when a
#: bug is fixed, its entry goes and the experiment must hold every invariant again.
#: (Empty since leases outlast arq's in-progress window and the rate limiter fails open.)
KNOWN_BROKEN: dict[str, set[str]] = {}


@pytest.fixture(scope="module")
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    workdir = private_workdir("pricealert-chaos-test-")
    postgres = PrivatePostgres(workdir / "postgres")
    try:
        await postgres.create()
        yield postgres
    finally:
        await postgres.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
async def test_the_experiment_holds_every_invariant(
    name: str, private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    said: list[str] = []

    verdict = await run_experiment(
        EXPERIMENTS[name], private_postgres, VERY_SHORT, tmp_path, said.append
    )

    broken = {check.name for check in verdict.checks if not check.holds}
    assert broken <= KNOWN_BROKEN.get(name, set()), summary(verdict) + "\n" + "\n".join(said)
    document = verdict_json(verdict)
    assert json.loads(json.dumps(document))["passed"] is verdict.passed
    alerts = next(c for c in verdict.checks if c.name == "alerts_exactly_as_ruled")
    assert alerts.details["changes_due"] > 0  # the run did move prices and alert on them
    assert verdict.records.actions  # and the fault was really injected


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pricealert")
    chaos_command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["chaos", *argv])


def test_an_unknown_experiment_is_a_named_error_listing_the_known_ones() -> None:
    args = parse("kill-everything")

    with pytest.raises(CommandError) as raised:
        args.handler(args)

    assert raised.value.code == "unknown_experiment"
    assert "kill-workers" in raised.value.detail


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (("--duration", "0"), "bad_duration"),
        (("--products", "0"), "bad_products"),
        (("--products", "1000"), "bad_products"),
        (("--instances", "0"), "bad_instances"),
    ],
)
def test_a_nonsensical_size_is_a_named_error(argv: tuple[str, ...], code: str) -> None:
    with pytest.raises(CommandError) as raised:
        chaos_command.options_from(parse(*argv))

    assert raised.value.code == code


def test_short_runs_are_shorter_and_explicit_sizes_win() -> None:
    assert chaos_command.options_from(parse("--short")) == RunOptions(30.0, 8, 2)
    assert chaos_command.options_from(parse("--short", "--duration", "12")).duration == 12
