"""The benchmarks' shared helpers: explaining what a repository sent, reading a plan's scans,
stopping a server they started."""

from __future__ import annotations

import signal
import subprocess
import sys

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from scripts.bench import common
from scripts.bench.common import explain_last_statement, plan_scans, stop_process


def test_plan_scans_names_every_index_and_full_scan_below_the_top_node() -> None:
    plan = {
        "Node Type": "Nested Loop",
        "Plans": [
            {"Node Type": "Seq Scan", "Relation Name": "product"},
            {
                "Node Type": "Bitmap Heap Scan",
                "Relation Name": "price",
                "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "ix_price_product"}],
            },
            {"Node Type": "Index Scan", "Index Name": "pk_alert", "Relation Name": "alert"},
            {"Node Type": "Seq Scan"},
        ],
    }
    assert plan_scans(plan) == ({"ix_price_product", "pk_alert"}, {"product", "?"})
    assert plan_scans({"Node Type": "Result"}) == (set(), set())


def _started(code: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", f"{code}\nprint('ready', flush=True)\nimport time\ntime.sleep(60)"],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    return process


def _close(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    process.stdout.close()


def test_stop_process_ends_a_server_by_sigterm() -> None:
    process = _started("")
    stop_process(process)
    _close(process)
    assert process.returncode == -signal.SIGTERM


def test_stop_process_kills_a_server_that_ignores_sigterm_past_the_grace() -> None:
    process = _started("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)")
    stop_process(process, grace=0.5)
    _close(process)
    assert process.returncode == -signal.SIGKILL


async def test_explain_last_statement_explains_the_last_one_sent_and_rolls_it_back(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(fresh_database_url)
    monkeypatch.setattr(common, "PG_HOST", f"{url.username}@{url.host}:{url.port}")

    async def run(session: AsyncSession) -> object:
        await session.execute(text("CREATE TABLE bench_probe (x int)"))
        return await session.execute(text("INSERT INTO bench_probe VALUES (:x)"), {"x": 1})

    plan = await explain_last_statement(str(url.database), run)

    assert (plan["Plan"]["Node Type"], plan["Plan"]["Relation Name"]) == (
        "ModifyTable",
        "bench_probe",
    )
    assert plan["Plan"]["Operation"] == "Insert"
    assert plan["Execution Time"] >= 0
    connection = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    try:
        assert await connection.fetchval("SELECT to_regclass('bench_probe')") is None
    finally:
        await connection.close()
