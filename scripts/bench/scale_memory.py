"""Resident memory of each service started against the million-product database.

Each service runs with the supervisor's own command (`service_command`), on the
benchmark's Redis database, for a warm-up period, then its VmRSS is read from
/proc. Product URLs point at a closed loopback port that the guarded client is
allowed to reach, so the scraper really claims, fetches (refused at once) and
records failures, and no traffic leaves the machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg

from pricealert.supervised import SERVICES, service_command
from scripts.bench.api_server import cpu_seconds, free_port, rss_kib
from scripts.bench.common import REDIS_URL, REPO, async_url, load_average, plain_url


def service_memory(database: str, log_dir: Path, warm_up_seconds: float) -> dict[str, Any]:
    """VmRSS (MiB) of every service after `warm_up_seconds`, all running at once."""
    asyncio.run(_make_due(database))
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "PRICEALERT_DATABASE_URL": async_url(database),
            "PRICEALERT_REDIS_URL": REDIS_URL,
            "PRICEALERT_FETCH_ALLOWED_HOSTS": "127.0.0.1:9",
            "PRICEALERT_RESPECT_ROBOTS": "false",
            "PRICEALERT_METRICS_PORT": "0",
            # Every product is on one loopback "shop": lift the per-shop politeness so the
            # scraper works at full concurrency during the warm-up.
            "PRICEALERT_PER_DOMAIN_CONCURRENCY": "50",
            "PRICEALERT_PER_DOMAIN_DELAY_SECONDS": "0",
        }
    )
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: (log_dir / f"{name}.log").open("wb") for name in SERVICES}
    try:
        for name in SERVICES:
            processes[name] = subprocess.Popen(  # noqa: S603 - the supervisor's own command
                service_command(name, host="127.0.0.1", port=port),
                env=env,
                cwd=REPO,
                stdout=logs[name],
                stderr=subprocess.STDOUT,
            )
        _hit_api(port)
        time.sleep(warm_up_seconds)
        report: dict[str, Any] = {}
        for name, process in processes.items():
            if process.poll() is not None:
                report[name] = {"error": f"exited with {process.returncode} during warm-up"}
                continue
            report[name] = {
                "rss_mib": round(rss_kib(process.pid) / 1024, 1),
                "cpu_seconds_during_warm_up": round(cpu_seconds(process.pid), 2),
            }
        report["warm_up_s"] = warm_up_seconds
        report["scraper_checks_during_warm_up"] = asyncio.run(_checks_recorded(database))
        if not report["scraper_checks_during_warm_up"]:
            logs["scraper"].flush()
            tail = (log_dir / "scraper.log").read_text(errors="replace").splitlines()[-3:]
            report["scraper_log_tail"] = tail
        report["load_average_1m"] = load_average()[0]
        return report
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs.values():
            log.close()


async def _make_due(database: str) -> None:
    # The claim benchmark moved what was due ahead in simulated time: make 5 % due now.
    connection = await asyncpg.connect(plain_url(database))
    try:
        await connection.execute(
            "UPDATE product SET next_check_at = now() - random() * interval '1 minute', "
            "lease_token = NULL, lease_expires_at = NULL, last_result = NULL WHERE id % 20 = 0"
        )
    finally:
        await connection.close()


async def _checks_recorded(database: str) -> int:
    connection = await asyncpg.connect(plain_url(database))
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM product WHERE last_result IS NOT NULL"
        )
        return count
    finally:
        await connection.close()


def _hit_api(port: int) -> None:
    # The API's memory after serving something, not just after importing.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                pass
            for _ in range(50):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5):
                    pass
            return
        except OSError:
            time.sleep(0.3)
