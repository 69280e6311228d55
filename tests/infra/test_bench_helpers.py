"""The benchmarks' shared helpers: explaining what a repository sent, reading a plan's scans,
stopping a server they started."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid

import asyncpg
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from scripts.bench import common
from scripts.bench.common import explain_last_statement, plan_scans, scratch, stop_process
from tests import conftest


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


def _databases(names: set[str]) -> set[str]:
    async def present() -> set[str]:
        connection = await asyncpg.connect(f"postgresql://{conftest.PG_HOST}/postgres")
        try:
            rows = await connection.fetch("SELECT datname FROM pg_database")
        finally:
            await connection.close()
        return {row["datname"] for row in rows} & names

    return asyncio.run(present())


@pytest.mark.parametrize("keep", [False, True])
def test_scratch_empties_redis_around_the_run_and_drops_its_database_unless_kept(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, keep: bool
) -> None:
    monkeypatch.setattr(common, "PG_HOST", conftest.PG_HOST)
    monkeypatch.setattr(common, "REDIS_URL", redis_url)
    name = f"pricealert_bench_probe_{uuid.uuid4().hex[:8]}"
    conftest.admin_execute(f'CREATE DATABASE "{name}"')
    client = redis.Redis.from_url(redis_url)

    def failing_run() -> None:
        with scratch(name, keep=keep):
            assert client.dbsize() == 0
            client.set("written-by-this-run", 1)
            raise RuntimeError("the benchmark failed")

    try:
        client.set("left-by-another-run", 1)
        with pytest.raises(RuntimeError, match="the benchmark failed"):
            failing_run()
        assert client.dbsize() == 0
        assert _databases({name}) == ({name} if keep else set())
    finally:
        client.close()
        conftest.drop_database(name)


def test_the_http_bench_pairs_rounds_and_says_how_sure_it_is() -> None:
    from scripts.bench.http_client_bench import paired

    worse = paired([1.1, 1.2, 1.1, 1.3], [1.0, 1.0, 1.0, 1.0])
    assert worse["ratio_median"] == 1.15
    assert worse["rounds_not_worse"] == "0/4"
    low, high = worse["ratio_95"]
    assert 1.1 <= low <= 1.15 <= high <= 1.3
    assert paired([0.9, 1.0], [1.0, 1.0])["rounds_not_worse"] == "2/2"
    with pytest.raises(ValueError, match="shorter"):  # rounds are pairs: one missing is an error
        paired([1.0, 1.0], [1.0])


def test_the_http_bench_loads_an_earlier_transport_beside_todays() -> None:
    import importlib

    import pricealert.http
    from scripts.bench.http_client_bench import baseline_package

    with baseline_package("HEAD") as name:
        module = importlib.import_module(name)
        try:
            # the same code under another name: its own classes, none of today's modules
            assert module.GuardedClient is not pricealert.http.GuardedClient
            assert module.GuardedClient.__module__.startswith(f"{name}.")
            classes = [v for v in vars(module).values() if isinstance(v, type)]
            from_http = [c for c in classes if ".http" in c.__module__ or name in c.__module__]
            assert from_http
            assert all(c.__module__.startswith(name) for c in from_http)
        finally:
            for loaded in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
                del sys.modules[loaded]


def test_the_http_bench_names_a_revision_it_cannot_load() -> None:
    from scripts.bench.http_client_bench import baseline_package

    with (
        pytest.raises(ValueError, match=r"no pricealert\.http at git revision 'no-such-rev'"),
        baseline_package("no-such-rev"),
    ):
        pass
