"""Chaos experiments (ops plan 9.4): the real stack, a real fault, a verdict from records.

Each experiment (`experiments.EXPERIMENTS`) runs the four services as processes
(`pricealert run all --instances N`) against a private PostgreSQL cluster and a
private redis-server — never the machine's shared ones — with a shop whose
prices change on a known schedule and a receiver that verifies every webhook's
signature. It injects its fault while prices move, lets the system settle, and
judges what the witnesses recorded (`invariants`): the receiver's log,
PostgreSQL's rows and samples, and the API prober's answers — not the services'
own logs.

    verdicts = await run_all(["kill-workers"], RunOptions(duration=30, products=8), print)
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from pricealert_ops.chaos import api_failure
from pricealert_ops.chaos.experiments import EXPERIMENTS, Experiment
from pricealert_ops.chaos.runner import RunOptions, Verdict, run_experiment, verdict_json
from pricealert_ops.chaos.servers import PrivatePostgres, ServerError, private_workdir

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "RunOptions",
    "Verdict",
    "api_failure",
    "run_all",
    "verdict_json",
]


async def run_all(
    names: Sequence[str],
    options: RunOptions,
    say: Callable[[str], None],
    on_verdict: Callable[[Verdict], None] | None = None,
) -> list[Verdict]:
    """Run the named experiments one after another on one private PostgreSQL cluster.

    Files of passing experiments are removed; a failing one keeps its directory (the
    stack's log is in it) and the cluster's log.
    """
    workdir = private_workdir("pricealert-chaos-")
    postgres = PrivatePostgres(workdir / "postgres")
    verdicts: list[Verdict] = []
    keep = False
    try:
        say(f"private PostgreSQL cluster in {postgres.workdir} (port {postgres.port})")
        await postgres.create()
        for name in names:
            say(f"{name}: {EXPERIMENTS[name].hypothesis}")
            verdict = await run_experiment(
                EXPERIMENTS[name], postgres, options, _fresh(workdir / name), say
            )
            verdicts.append(verdict)
            keep = keep or not verdict.passed
            if on_verdict is not None:
                on_verdict(verdict)
    except BaseException:
        keep = True
        raise
    finally:
        if keep:
            with contextlib.suppress(ServerError):
                await postgres.stop("immediate")
        else:
            await postgres.destroy()
            shutil.rmtree(workdir, ignore_errors=True)
    return verdicts


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
