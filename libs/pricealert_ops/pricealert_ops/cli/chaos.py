"""`pricealert chaos [EXPERIMENT ...]`: run chaos experiments on this machine and judge them.

Every experiment starts the real stack as processes against a private
PostgreSQL cluster and a private redis-server (the machine's shared servers are
never touched), moves prices in a local shop, injects its fault and prints its
verdict: a readable summary and a JSON document. The exit code is 0 when every
invariant of every experiment held, 1 when one broke.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from pricealert.cli import CommandError
from pricealert_ops.chaos import (
    EXPERIMENTS,
    RunOptions,
    Verdict,
    api_failure,
    run_all,
    verdict_json,
)
from pricealert_ops.chaos.report import summary
from pricealert_ops.chaos.servers import ServerError
from pricealert_ops.cli import add_top_command
from pricealert_ops.devtools.stack import StackError

#: (duration seconds, products) of a full and a short run.
FULL = (90.0, 20)
SHORT = (30.0, 8)
MAX_PRODUCTS = 100  # the setup reads them back in one API page
#: Every experiment: the pipeline's, then plan 9.4's own API experiment.
ALL = (*EXPERIMENTS, api_failure.NAME)


def register(subparsers: Any) -> None:
    command = add_top_command(subparsers, "chaos", _chaos)
    command.add_argument(
        "experiments",
        nargs="*",
        metavar="EXPERIMENT",
        help=f"which to run (default: all): {', '.join(ALL)}",
    )
    command.add_argument(
        "--short", action="store_true", help=f"{SHORT[0]:.0f} s and {SHORT[1]} products each"
    )
    command.add_argument("--duration", type=float, metavar="S", help="seconds prices move")
    command.add_argument("--products", type=int, metavar="N", help="products in the shop")
    command.add_argument(
        "--instances", type=int, default=2, metavar="N", help="processes per worker service"
    )
    command.add_argument("--json", action="store_true", help="print only the JSON verdicts")


def options_from(args: argparse.Namespace) -> RunOptions:
    """The run's size from the arguments; a named error for nonsense."""
    duration, products = SHORT if args.short else FULL
    duration = args.duration if args.duration is not None else duration
    products = args.products if args.products is not None else products
    if not 5 <= duration <= 3600:
        raise CommandError("bad_duration", "--duration must be between 5 and 3600 seconds")
    if not 1 <= products <= MAX_PRODUCTS:
        raise CommandError("bad_products", f"--products must be between 1 and {MAX_PRODUCTS}")
    if not 1 <= args.instances <= 8:
        raise CommandError("bad_instances", "--instances must be between 1 and 8")
    return RunOptions(duration=duration, products=products, instances=args.instances)


def _chaos(args: argparse.Namespace) -> int:
    unknown = [name for name in args.experiments if name not in ALL]
    if unknown:
        raise CommandError(
            "unknown_experiment",
            f"no experiment {', '.join(unknown)}; choose from {', '.join(ALL)}",
        )
    names = list(dict.fromkeys(args.experiments)) or list(ALL)
    options = options_from(args)

    def say(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    def show(verdict: Verdict | api_failure.ApiFailureVerdict) -> None:
        if not args.json:
            if isinstance(verdict, Verdict):
                print(summary(verdict))
                print(json.dumps(verdict_json(verdict), ensure_ascii=False), flush=True)
            else:
                print(api_failure.summary(verdict))
                print(json.dumps(api_failure.verdict_json(verdict)), flush=True)

    pipeline = [name for name in names if name in EXPERIMENTS]
    api_options = api_failure.ApiFailureOptions(
        tasks=4 if args.short else 6, duration=options.duration
    )
    try:
        verdicts: list[Any] = asyncio.run(run_all(pipeline, options, say, show)) if pipeline else []
        if api_failure.NAME in names:
            verdicts.append(asyncio.run(api_failure.run_alone(api_options, say, show)))
    except (ServerError, StackError) as exc:
        raise CommandError("chaos_setup_failed", str(exc)) from exc
    if args.json:
        print(json.dumps([_json(v) for v in verdicts], indent=2, ensure_ascii=False))
    else:
        passed = sum(v.passed for v in verdicts)
        print(f"chaos: {passed} of {len(verdicts)} experiments held every invariant")
    return 0 if all(v.passed for v in verdicts) else 1


def _json(verdict: Verdict | api_failure.ApiFailureVerdict) -> dict[str, Any]:
    if isinstance(verdict, Verdict):
        return verdict_json(verdict)
    return api_failure.verdict_json(verdict)
