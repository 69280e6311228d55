"""`db maintenance` and `perf report` against real PostgreSQL servers."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest

from pricealert_ops import pg
from pricealert_ops.maintenance import estimate_btree_bloat, run_maintenance
from pricealert_ops.perf import StatementsUnavailable, slowest_statements

from .conftest import MakeDatabase
from .servers import PG_BIN, postgres_with_pg_stat_statements

Cli = Callable[..., tuple[int, str, str]]


async def _execute(url: str, *statements: str) -> None:
    conn = await pg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()  # closing flushes this session's statistics


@pytest.fixture
async def churned_url(make_database: MakeDatabase) -> str:
    """A table whose index kept its size after 90 % of the rows were deleted."""
    url = await make_database()
    await _execute(
        url,
        "CREATE TABLE item (id int PRIMARY KEY, label text NOT NULL)",
        "CREATE INDEX item_label ON item (label)",
        "INSERT INTO item SELECT i, 'ラベル-' || i FROM generate_series(1, 60000) AS i",
        "DELETE FROM item WHERE id % 10 <> 0",
    )
    return url


def test_a_compact_btree_has_no_estimated_bloat_and_a_sparse_one_has_much() -> None:
    # 8-byte keys: 16-byte index tuples + 4-byte line pointers, 366 per 90 %-full page,
    # so 10 000 entries need 28 pages and the metapage.
    assert estimate_btree_bloat(pages=29, tuples=10_000, width=8) == 0.0
    assert estimate_btree_bloat(pages=290, tuples=10_000, width=8) == pytest.approx(0.9)


async def test_maintenance_finds_dead_rows_bloat_and_the_unused_index(churned_url: str) -> None:
    report = await run_maintenance(churned_url)

    tables = {t.name: t for t in report.tables}
    assert tables["public.item"].dead_ratio == pytest.approx(0.9, abs=0.02)
    indexes = {i.name: i for i in report.indexes}
    assert indexes["public.item_label"].bloat_ratio is not None
    assert indexes["public.item_label"].bloat_ratio > 0.7
    assert [i.name for i in report.unused()] == ["public.item_label"]  # the primary key is kept
    assert report.reindexed == []


async def test_reindex_rebuilds_only_bloated_indexes_and_shrinks_them(churned_url: str) -> None:
    await _execute(churned_url, "VACUUM item")  # frees the entries, not the index pages
    before = {i.name: i for i in (await run_maintenance(churned_url)).indexes}

    report = await run_maintenance(churned_url, reindex=True, bloat_threshold=0.5, min_bytes=0)

    assert sorted(report.reindexed) == ["public.item_label", "public.item_pkey"]
    after = {i.name: i for i in report.indexes}
    assert after["public.item_label"].bytes < before["public.item_label"].bytes / 4
    assert (after["public.item_label"].bloat_ratio or 0) < 0.3


def test_maintenance_command_prints_the_report(churned_url: str, cli: Cli) -> None:
    code, out, _ = cli("db", "maintenance", f"--database-url={churned_url}")

    assert code == 0, out
    assert "ANALYZE done" in out
    assert "public.item_label" in out
    assert "BLOATED" in out
    assert "unused indexes" in out
    assert "reindexed" not in out


def test_perf_report_without_the_extension_names_what_is_missing(
    churned_url: str, cli: Cli
) -> None:
    code, _, err = cli("perf", "report", f"--database-url={churned_url}")

    assert code == 2
    assert "error: pg_stat_statements_unavailable:" in err
    assert "is not installed" in err


async def test_perf_report_with_the_extension_not_preloaded_says_so(churned_url: str) -> None:
    # The shared test server does not preload the library, so CREATE works but reading fails.
    await _execute(churned_url, "CREATE EXTENSION pg_stat_statements")

    with pytest.raises(StatementsUnavailable, match="shared_preload_libraries"):
        await slowest_statements(churned_url)


@pytest.fixture(scope="module")
def pgss_server() -> Iterator[str]:
    if shutil.which("runuser") is None or not (PG_BIN / "initdb").exists():
        pytest.fail(
            f"needs PostgreSQL server binaries in {PG_BIN}: apt-get install -y postgresql",
            pytrace=False,
        )
    with postgres_with_pg_stat_statements() as url:
        yield url


async def test_perf_report_ranks_statements_by_total_time(pgss_server: str, cli: Cli) -> None:
    await _execute(pgss_server, "CREATE EXTENSION pg_stat_statements")
    await _execute(pgss_server, *(["SELECT 1"] * 5))
    await _execute(pgss_server, "SELECT count(*) FROM generate_series(1, 3000000)")

    statements = await slowest_statements(pgss_server, limit=50)

    assert "generate_series" in statements[0].query
    assert statements[0].calls == 1
    select_one = next(s for s in statements if s.query == "SELECT $1")
    assert select_one.calls == 5
