"""`make demo`, shortened: it prints verified alerts, leaves nothing running, and — on a
machine with only python3 and make — reaches its first signed alert on the embedded servers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from pricealert_ops.devtools.servers import redis_answers, stop_servers
from pricealert_ops.devtools.stack import processes_in_group
from tests.conftest import PG_HOST, REDIS_BASE, drop_database

ROOT = Path(__file__).resolve().parents[2]
DEMO_REDIS_DB = "7"

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_database() -> Iterator[str]:
    name = f"pricealert_t_demo_{os.getpid()}"
    yield name
    drop_database(name)


@pytest.fixture
def local_dir() -> Iterator[Path]:
    """A `.local/` of the test's own, which the `postgres` user can reach when run as root."""
    path = Path(tempfile.mkdtemp(prefix="pricealert-local-"))
    path.chmod(0o755)
    yield path
    stop_servers(path)  # only if the demo failed to
    shutil.rmtree(path, ignore_errors=True)


def run_demo(
    *args: str, timeout: float = 150, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PRICEALERT_")}
    # The servers the tests use, where a developer's PRICEALERT_* settings are not.
    environment["PRICEALERT_DATABASE_URL"] = f"postgresql+asyncpg://{PG_HOST}/pricealert"
    environment["PRICEALERT_REDIS_URL"] = f"{REDIS_BASE}/0"
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "scripts.demo", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_demo_prints_verified_alerts_and_leaves_no_process_behind(
    demo_database: str,
) -> None:
    done = run_demo("--duration", "20", "--database", demo_database, "--redis-db", DEMO_REDIS_DB)

    assert done.returncode == 0, done.stdout + done.stderr
    alerts = re.findall(r"ALERT\s+(\w+)", done.stdout)
    assert alerts, done.stdout
    assert done.stdout.count("signature verified") == len(alerts)
    assert "SIGNATURE INVALID" not in done.stdout
    group = int(re.search(r"process group (\d+)", done.stdout).group(1))  # type: ignore[union-attr]
    assert processes_in_group(group) == []
    assert "processes left running: 0" in done.stdout
    assert f"removed database {demo_database} and the log" in done.stdout
    log = Path(re.search(r"logs (\S+)", done.stdout).group(1))  # type: ignore[union-attr]
    assert not log.exists()
    assert not _database_exists(demo_database)


def _database_exists(name: str) -> bool:
    import asyncio

    import asyncpg

    async def probe() -> bool:
        connection = await asyncpg.connect(f"postgresql://{PG_HOST}/postgres")
        try:
            return bool(
                await connection.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", name)
            )
        finally:
            await connection.close()

    return asyncio.run(probe())


def test_on_embedded_servers_on_free_ports_the_demo_reaches_a_signed_alert_and_stops_them(
    demo_database: str, local_dir: Path
) -> None:
    """What a machine with only python3 and make does: the `local` extra's wheels, forced, with
    the configured ports taken (the test servers hold them), so free ones are written back."""
    done = run_demo(
        *("--alerts", "1", "--duration", "90", "--database", demo_database),
        *("--redis-db", DEMO_REDIS_DB),
        env={
            "PRICEALERT_LOCAL_SERVERS": "embedded",
            "PRICEALERT_LOCAL_DIR": str(local_dir),
        },
        timeout=240,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"postgres: PostgreSQL 1[89][.\d]* \(embedded, from the wheel\) started", out)
    assert re.search(r"redis: Valkey [\d.]+ \(embedded, from the wheel\) started", out)
    assert out.count(" is taken)") == 2, out  # both on free ports
    assert "signature verified" in out
    assert "SIGNATURE INVALID" not in out
    assert "postgres: stopped the embedded server it started" in out
    assert "redis: stopped the embedded server it started" in out
    assert not (local_dir / "pg-embedded" / "data" / "postmaster.pid").exists()
    assert not (local_dir / "redis-embedded" / "server.pid").exists()  # removed on shutdown
    redis_port = json.loads((local_dir / "redis-embedded" / "server.json").read_text())["port"]
    assert not redis_answers("127.0.0.1", redis_port)


def test_a_bad_database_name_is_refused_with_a_clear_message() -> None:
    done = run_demo("--database", 'demo"; DROP', timeout=60)

    assert done.returncode == 2
    assert "use lower-case letters, digits and _" in done.stderr
    assert "Traceback" not in done.stderr
