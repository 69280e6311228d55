"""Plan 9.4's own experiment: 30 % of the API containers stop, and availability holds.

    hypothesis    the system keeps its availability when 30 % of its API tasks stop
    steady state  api_success_rate >= 99.5 %, api_response_time (p99) < 500 ms
    method        SIGKILL round(30 %) of the API processes at a third of the run
    rollback      the scheduler starts replacements (as the ECS service does); capacity
                  recovers: every task back in the load balancer's rotation, serving

The world: `tasks` API processes (the very `uvicorn services.api.main:app` command
ECS runs) behind HAProxy, a real load balancer from Debian, which health-checks
each task on `/readyz` every 0.5 s (the ALB's target-group check, faster) and
redispatches a connection a dead task refused to another task (the ALB gets the
same from ECS deregistering a stopping task before it stops; SIGKILL gives no
such warning). A load generator sends authenticated reads through the load
balancer at a fixed rate — open loop, so a slow answer does not slow the
offered load and hide itself — and records every answer. The verdict comes from
those records and from HAProxy's own statistics, not from the services' logs:

- `availability`: at least 99.5 % of the requests answered without 5xx/timeout;
- `latency`: p99 under 500 ms over the run and in every 5-second window of it;
- `capacity_recovered`: after the replacements, every task is UP in HAProxy and
  serves requests again, within the stated time.

The servers are private (a PostgreSQL database on the experiment's cluster and a
redis-server of its own): the machine's shared servers are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pricealert.supervised import service_command
from pricealert_ops.chaos.invariants import Check
from pricealert_ops.chaos.servers import (
    PrivatePostgres,
    PrivateRedis,
    ServerError,
    private_workdir,
    terminate,
)
from pricealert_ops.devtools.stack import Api, StackError, free_port

NAME = "api-partial-failure"
PLAN: dict[str, object] = {
    "name": NAME,
    "hypothesis": "the system keeps its availability when 30 % of its API tasks stop",
    "steady_state": {
        "api_success_rate": ">= 99.5 % of requests through the load balancer without 5xx",
        "api_response_time": "p99 < 500 ms over the run and in every 5 s window",
    },
    "method": "SIGKILL round(30 %) of the API processes behind HAProxy at a third of the run",
    "rollback": "replacement tasks start after `replace_after` s (as the ECS service starts "
    "them); capacity recovers: every task UP in the load balancer and serving",
    "metrics_to_observe": [
        "api_success_rate",
        "api_response_time",
        "error_rate",
        "backends_up (the load balancer's statistics)",
    ],
    "blast_radius": "this machine only: API processes, HAProxy, a private redis-server and "
    "database on free loopback ports",
}
SUCCESS_OBJECTIVE = 99.5  # the plan's steady state (slo.yaml's SLA is also 99.5 %)
LATENCY_OBJECTIVE_SECONDS = 0.5
WINDOW_SECONDS = 5.0
REQUEST_TIMEOUT_SECONDS = 2.0
READY_TIMEOUT_SECONDS = 60.0
RECOVERY_TIMEOUT_SECONDS = 30.0
PATH = "/v1/products?limit=20"
API_ENV = {
    "PRICEALERT_ENVIRONMENT": "test",
    "PRICEALERT_RATE_LIMIT_PER_MINUTE": "1000000",
    "PRICEALERT_LOG_LEVEL": "WARNING",
    "PRICEALERT_DATABASE_POOL_SIZE": "15",  # the peak it had as 5 + 10 overflow
}


@dataclass(frozen=True)
class ApiFailureOptions:
    """How big and how long; the same experiment runs short in CI and longer by hand."""

    tasks: int = 6
    duration: float = 30.0
    rate: float = 40.0  # requests per second offered
    replace_after: float = 5.0
    fraction: float = 0.3
    seed: int = 9

    @property
    def to_kill(self) -> int:
        """round(30 %) of the tasks, at least one, never all."""
        return min(self.tasks - 1, max(1, round(self.tasks * self.fraction)))


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the run began
    status: int | None  # None: no answer within the timeout
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 500


@dataclass
class ApiFailureVerdict:
    options: ApiFailureOptions
    checks: list[Check]
    samples: list[Sample]
    actions: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.holds for check in self.checks)


class ApiTask:
    """One API process on its own port (an ECS task of the API service)."""

    def __init__(self, index: int, port: int, env: dict[str, str], log_dir: Path) -> None:
        self.index = index
        self.port = port
        self.env = env
        self.log_path = log_dir / f"api{index}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *service_command("api", host="127.0.0.1", port=self.port),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        process, self.process = self.process, None
        await terminate(process)

    async def wait_ready(self, http: httpx.AsyncClient) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process is None or self.process.returncode is not None:
                raise StackError(f"API task {self.index} exited; its log: {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{self.port}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
        raise StackError(f"API task {self.index} not ready in {READY_TIMEOUT_SECONDS:.0f} s")


class HaProxy:
    """HAProxy in front of the tasks: health checks, round robin, redispatch, stats socket."""

    def __init__(self, workdir: Path, task_ports: list[int]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.socket = workdir / "haproxy.sock"
        self.config = workdir / "haproxy.cfg"
        self.task_ports = task_ports
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def render(self) -> str:
        servers = "\n".join(
            f"    server api{i} 127.0.0.1:{port} check" for i, port in enumerate(self.task_ports)
        )
        return f"""global
    stats socket {self.socket} mode 600 level admin
    maxconn 4096

defaults
    mode http
    timeout connect 500ms
    timeout client 10s
    timeout server 5s
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response
    option httpchk
    http-check send meth GET uri /readyz
    default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 2

frontend api
    bind 127.0.0.1:{self.port}
    default_backend api

backend api
    balance roundrobin
{servers}
"""

    async def start(self) -> None:
        binary = shutil.which("haproxy")
        if binary is None:
            raise ServerError("haproxy is not installed (apt-get install -y haproxy)")
        self.config.write_text(self.render())
        log = (self.workdir / "haproxy.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            binary, "-db", "-f", str(self.config),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise ServerError(f"haproxy did not start; see {self.workdir / 'haproxy.log'}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            await process.wait()

    async def servers(self) -> dict[str, dict[str, str]]:
        """`show stat` for the backend's servers: status (UP/DOWN...) and stot (sessions)."""
        reader, writer = await asyncio.open_unix_connection(str(self.socket))
        writer.write(b"show stat\n")
        await writer.drain()
        raw = (await reader.read()).decode()
        writer.close()
        rows = csv.DictReader(io.StringIO(raw.lstrip("# ")))
        return {
            row["svname"]: row
            for row in rows
            if row["pxname"] == "api" and row["svname"] not in ("FRONTEND", "BACKEND")
        }


class Load:
    """Open-loop load: a request every 1/rate s, each answer (or timeout) recorded."""

    def __init__(self, url: str, key: str, rate: float) -> None:
        self.url = url
        self.key = key
        self.rate = rate
        self.samples: list[Sample] = []
        self.started = 0.0
        self.began = asyncio.Event()

    async def run(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.began.set()
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(
            base_url=self.url, timeout=REQUEST_TIMEOUT_SECONDS, limits=limits
        ) as http:
            pending: set[asyncio.Task[None]] = set()
            count = int(seconds * self.rate)
            for n in range(count):
                due = self.started + n / self.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                task = asyncio.create_task(self._one(http))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending)

    async def _one(self, http: httpx.AsyncClient) -> None:
        began = time.monotonic()
        status: int | None
        try:
            status = (
                await http.get(PATH, headers={"Authorization": f"Bearer {self.key}"})
            ).status_code
        except httpx.HTTPError:
            status = None
        self.samples.append(
            Sample(round(began - self.started, 4), status, round(time.monotonic() - began, 4))
        )


async def run_api_failure(
    postgres: PrivatePostgres,
    options: ApiFailureOptions,
    workdir: Path,
    say: Callable[[str], None],
) -> ApiFailureVerdict:
    """Run the experiment against a fresh database on `postgres`; return its verdict."""
    database_url = await postgres.migrated_database("chaos_api_partial_failure")
    redis = PrivateRedis(workdir / "redis")
    await redis.start()
    env = {
        **os.environ,
        **API_ENV,
        "PRICEALERT_DATABASE_URL": database_url,
        "PRICEALERT_REDIS_URL": redis.url(0),
    }
    tasks = [ApiTask(i, free_port(), env, workdir) for i in range(options.tasks)]
    proxy = HaProxy(workdir, [t.port for t in tasks])
    actions: list[str] = []
    try:
        say(f"  starting {options.tasks} API tasks behind HAProxy")
        await asyncio.gather(*(t.start() for t in tasks))
        async with httpx.AsyncClient(timeout=2.0) as http:
            await asyncio.gather(*(t.wait_ready(http) for t in tasks))
        await proxy.start()
        await _wait_all_up(proxy, READY_TIMEOUT_SECONDS)
        async with Api(proxy.url) as api:
            key = await api.sign_up("chaos-api@pricealert.example")
            for n in range(20):
                await api.call("POST", "/v1/products", {"url": f"https://shop.example/p/{n}"})
        load = Load(proxy.url, key, options.rate)
        say(
            f"  run: {options.rate:.0f} req/s for {options.duration:.0f} s; fault: {PLAN['method']}"
        )
        faults = asyncio.create_task(_fault(tasks, options, load, actions))
        await load.run(options.duration)
        await faults
        say("  rollback: waiting for every task to be back in rotation")
        recovered = await _capacity_recovered(proxy, key, options, actions)
    finally:
        await proxy.stop()
        await asyncio.gather(*(t.stop() for t in tasks))
        await redis.stop()
    checks = [
        availability(load.samples),
        latency(load.samples),
        recovered,
    ]
    return ApiFailureVerdict(options, checks, load.samples, actions)


async def _fault(
    tasks: list[ApiTask], options: ApiFailureOptions, load: Load, actions: list[str]
) -> None:
    await load.began.wait()
    await asyncio.sleep(max(0.0, load.started + options.duration / 3 - time.monotonic()))
    victims = random.Random(options.seed).sample(tasks, options.to_kill)
    for task in victims:
        task.kill()
    killed_at = time.monotonic() - load.started
    actions.append(
        f"{killed_at:.1f} s: SIGKILL {len(victims)} of {len(tasks)} API tasks "
        f"({', '.join(f'api{t.index}' for t in victims)})"
    )
    await asyncio.sleep(options.replace_after)
    for task in victims:
        await task.start()
    actions.append(
        f"{time.monotonic() - load.started:.1f} s: replacement tasks started "
        f"({options.replace_after:.0f} s after the kill)"
    )


async def _wait_all_up(proxy: HaProxy, within_seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within_seconds:
        states = await proxy.servers()
        if states and all(row["status"] == "UP" for row in states.values()):
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise TimeoutError


async def _capacity_recovered(
    proxy: HaProxy, key: str, options: ApiFailureOptions, actions: list[str]
) -> Check:
    try:
        took = await _wait_all_up(proxy, RECOVERY_TIMEOUT_SECONDS)
    except TimeoutError:
        states = {name: row["status"] for name, row in (await proxy.servers()).items()}
        return Check(
            "capacity_recovered",
            False,
            f"not every task UP {RECOVERY_TIMEOUT_SECONDS:.0f} s after the run: {states}",
            {"states": states},
        )
    before = {name: int(row["stot"]) for name, row in (await proxy.servers()).items()}
    burst = Load(proxy.url, key, options.rate)
    await burst.run(2.0)
    after = {name: int(row["stot"]) for name, row in (await proxy.servers()).items()}
    idle = sorted(name for name in after if after[name] <= before.get(name, 0))
    actions.append(f"after the run: every task UP in {took:.1f} s; a 2 s burst to check each")
    holds = not idle and all(s.ok for s in burst.samples)
    summary = (
        f"all {len(after)} tasks UP {took:.1f} s after the run and each served requests again"
        if holds
        else f"tasks that served nothing after recovery: {idle or 'none'}; "
        f"burst errors: {sum(not s.ok for s in burst.samples)}"
    )
    return Check(
        "capacity_recovered", holds, summary, {"seconds": round(took, 1), "sessions": after}
    )


def availability(samples: list[Sample]) -> Check:
    """At least 99.5 % of the requests answered without a 5xx or a timeout."""
    total = len(samples)
    ok = sum(s.ok for s in samples)
    percent = 100.0 * ok / total if total else 0.0
    failed = [s for s in samples if not s.ok]
    return Check(
        "availability",
        bool(total) and percent >= SUCCESS_OBJECTIVE,
        f"{percent:.2f} % of {total} requests answered without 5xx/timeout "
        f"(objective >= {SUCCESS_OBJECTIVE} %)",
        {
            "requests": total,
            "failed": len(failed),
            "percent": round(percent, 3),
            "failures_at": [s.at for s in failed][:20],
        },
    )


def latency(samples: list[Sample]) -> Check:
    """p99 under 500 ms over the run and in every 5-second window (answered requests)."""
    answered = [s for s in samples if s.status is not None]
    if not answered:
        return Check("latency", False, "no request was answered", {})
    windows: dict[int, list[float]] = {}
    for s in answered:
        windows.setdefault(int(s.at // WINDOW_SECONDS), []).append(s.seconds)
    per_window = {k * WINDOW_SECONDS: p99(v) for k, v in sorted(windows.items())}
    overall = p99([s.seconds for s in answered])
    worst_at, worst = max(per_window.items(), key=lambda kv: kv[1])
    holds = overall < LATENCY_OBJECTIVE_SECONDS and worst < LATENCY_OBJECTIVE_SECONDS
    return Check(
        "latency",
        holds,
        f"p99 {overall * 1000:.0f} ms over the run, worst 5 s window {worst * 1000:.0f} ms "
        f"(at {worst_at:.0f} s); objective < {LATENCY_OBJECTIVE_SECONDS * 1000:.0f} ms",
        {
            "p50_ms": round(statistics.median(s.seconds for s in answered) * 1000, 1),
            "p99_ms": round(overall * 1000, 1),
            "p99_ms_per_window": {f"{k:.0f}": round(v * 1000, 1) for k, v in per_window.items()},
        },
    )


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def summary(verdict: ApiFailureVerdict) -> str:
    """The readable verdict, in the shape the other experiments print."""
    o = verdict.options
    lines = [
        f"{NAME}: {'PASSED' if verdict.passed else 'FAILED'}",
        f"  hypothesis: {PLAN['hypothesis']}",
        f"  method:     {PLAN['method']}",
        f"  run:        {o.duration:.0f} s at {o.rate:.0f} req/s, {o.tasks} tasks, "
        f"{o.to_kill} killed, replacements after {o.replace_after:.0f} s",
    ]
    for check in verdict.checks:
        lines.append(f"  {'ok ' if check.holds else 'BAD'} {check.name}: {check.summary}")
    lines += [f"      {action}" for action in verdict.actions]
    return "\n".join(lines)


def verdict_json(verdict: ApiFailureVerdict) -> dict[str, Any]:
    """The verdict as `pricealert chaos --json` prints it."""
    o = verdict.options
    return {
        "experiment": PLAN,
        "passed": verdict.passed,
        "run": {
            "tasks": o.tasks,
            "killed": o.to_kill,
            "duration_seconds": o.duration,
            "rate_per_second": o.rate,
            "replace_after_seconds": o.replace_after,
        },
        "checks": [
            {"name": c.name, "holds": c.holds, "summary": c.summary, "details": c.details}
            for c in verdict.checks
        ],
        "actions": verdict.actions,
    }


async def run_alone(
    options: ApiFailureOptions,
    say: Callable[[str], None],
    on_verdict: Callable[[ApiFailureVerdict], None] | None = None,
) -> ApiFailureVerdict:
    """Run the experiment on a private PostgreSQL cluster of its own (removed afterwards)."""
    workdir = private_workdir("pricealert-chaos-api-")
    postgres = PrivatePostgres(workdir / "postgres")
    passed = False
    try:
        say(f"{NAME}: {PLAN['hypothesis']}")
        await postgres.create()
        verdict = await run_api_failure(postgres, options, workdir, say)
        passed = verdict.passed
        if on_verdict is not None:
            on_verdict(verdict)
        return verdict
    finally:
        await postgres.destroy()
        if passed:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"  the tasks' and HAProxy's logs are in {workdir}")
