"""Plan 9.4's API experiment: 30 % of the API tasks killed behind a real HAProxy."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from pricealert_ops.chaos import api_failure
from pricealert_ops.chaos.api_failure import (
    ApiFailureOptions,
    HaProxy,
    Sample,
    availability,
    latency,
)
from pricealert_ops.chaos.servers import PrivatePostgres, private_workdir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    workdir = private_workdir("pricealert-chaos-api-test-")
    postgres = PrivatePostgres(workdir / "postgres")
    try:
        await postgres.create()
        yield postgres
    finally:
        await postgres.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


async def test_availability_holds_while_30_percent_of_the_api_tasks_are_killed(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    options = ApiFailureOptions(tasks=4, duration=12, rate=30, replace_after=3)
    said: list[str] = []

    verdict = await api_failure.run_api_failure(private_postgres, options, tmp_path, said.append)

    assert [c.name for c in verdict.checks] == ["availability", "latency", "capacity_recovered"]
    assert verdict.passed, api_failure.summary(verdict)
    assert options.to_kill == 1
    assert any("SIGKILL 1 of 4 API tasks" in action for action in verdict.actions)
    assert any("replacement tasks started" in action for action in verdict.actions)
    # The load was really offered through the balancer for the whole run.
    assert len(verdict.samples) == 12 * 30
    assert max(s.at for s in verdict.samples) > 11


def test_the_load_balancer_health_checks_every_task_and_redispatches(tmp_path: Path) -> None:
    config = HaProxy(tmp_path, [41001, 41002, 41003]).render()

    assert "http-check send meth GET uri /readyz" in config
    assert "option redispatch" in config
    assert "retry-on conn-failure" in config
    assert config.count(" check\n") == 3


def _samples(statuses: Sequence[int | None], seconds: float = 0.01) -> list[Sample]:
    return [Sample(at=n * 0.1, status=s, seconds=seconds) for n, s in enumerate(statuses)]


def test_availability_fails_below_99_5_percent() -> None:
    held = availability(_samples([200] * 995 + [502] * 5))
    broken = availability(_samples([200] * 994 + [502] * 5 + [None]))

    assert held.holds
    assert not broken.holds
    assert broken.details["failed"] == 6


def test_latency_fails_when_one_window_is_slow_even_if_the_run_is_fast() -> None:
    fast = _samples([200] * 1000)
    slow_window = [Sample(at=20.0 + n * 0.01, status=200, seconds=0.8) for n in range(20)]

    assert latency(fast).holds
    result = latency(fast + slow_window)
    assert not result.holds
    assert result.details["p99_ms_per_window"]["20"] == 800.0


def test_thirty_percent_is_rounded_and_never_all_tasks() -> None:
    assert ApiFailureOptions(tasks=10).to_kill == 3
    assert ApiFailureOptions(tasks=6).to_kill == 2
    assert ApiFailureOptions(tasks=2).to_kill == 1
