"""Index maintenance (plan 7.1, monthly): ANALYZE, a bloat estimate, unused indexes, reindex.

Bloat is *estimated* from the planner's statistics, so it needs no extension
and reads no table data (run right after ANALYZE, which this does first):

- tables: dead tuples as a share of all tuples (`pg_stat_user_tables`), the
  space VACUUM can reuse;
- B-tree indexes: actual pages against the pages `reltuples` entries of the
  indexed columns' average width (`pg_stats`) need at the default fillfactor
  (90 %). Expression columns have no width in `pg_stats`, so such indexes look
  more bloated than they are; tiny indexes are noise, hence `min_bytes`.

Unused indexes are those with no scans since statistics were last reset,
leaving out unique and primary-key indexes (they enforce constraints, scanned
or not). `REINDEX INDEX CONCURRENTLY` runs only when asked, one index at a
time, and never blocks writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pricealert_ops import pg

_PAGE = 8192
_USABLE = _PAGE - 24 - 16  # page header and B-tree special space
_FILLFACTOR = 0.9

_TABLES = """
SELECT s.schemaname || '.' || s.relname AS name, s.n_live_tup AS live, s.n_dead_tup AS dead,
       pg_total_relation_size(s.relid) AS bytes, s.last_autovacuum, s.last_analyze
FROM pg_stat_user_tables s ORDER BY bytes DESC
"""

_INDEXES = """
SELECT n.nspname || '.' || i.relname AS name, n.nspname AS schema, i.relname AS relname,
       n.nspname || '.' || t.relname AS table_name,
       am.amname AS method, x.indisunique AS is_unique, i.relpages AS pages,
       t.reltuples AS tuples, pg_relation_size(i.oid) AS bytes,
       coalesce(st.idx_scan, 0) AS scans, x.indisvalid AS valid,
       (SELECT coalesce(sum(s.avg_width), 0) FROM pg_attribute a
        JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = t.relname
                       AND s.attname = a.attname
        WHERE a.attrelid = t.oid AND a.attnum = ANY (x.indkey)) AS width
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_stat_user_indexes st ON st.indexrelid = x.indexrelid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
ORDER BY bytes DESC, name
"""


@dataclass(frozen=True)
class TableHealth:
    """A table's size and dead tuples."""

    name: str
    live: int
    dead: int
    bytes: int

    @property
    def dead_ratio(self) -> float:
        """Dead tuples as a share of all tuples."""
        total = self.live + self.dead
        return self.dead / total if total else 0.0


@dataclass(frozen=True)
class IndexHealth:
    """An index's size, use and estimated bloat."""

    name: str
    table: str
    method: str
    unique: bool
    bytes: int
    scans: int
    bloat_ratio: float | None  # None: not a B-tree, no estimate
    sql_name: str  # schema-qualified and quoted, for statements


def estimate_btree_bloat(pages: int, tuples: float, width: int) -> float:
    """Share of a B-tree's pages beyond what its entries need at fillfactor 90 %."""
    if pages <= 1:
        return 0.0
    entry = 8 * math.ceil((8 + width) / 8) + 4  # IndexTuple header + data, MAXALIGNed; line pointer
    per_page = max(1, int(_USABLE * _FILLFACTOR // entry))
    expected = math.ceil(max(tuples, 0) / per_page) + 1  # + the metapage
    return max(0.0, (pages - expected) / pages)


@dataclass(frozen=True)
class MaintenanceReport:
    """What `db maintenance` found and did."""

    database: str
    stats_reset: datetime | None
    tables: list[TableHealth]
    indexes: list[IndexHealth]
    reindexed: list[str]

    def unused(self) -> list[IndexHealth]:
        """Non-unique indexes never scanned since the statistics were reset."""
        return [i for i in self.indexes if i.scans == 0 and not i.unique]


async def _health(conn: Any) -> tuple[list[TableHealth], list[IndexHealth]]:
    tables = [
        TableHealth(r["name"], r["live"], r["dead"], r["bytes"]) for r in await conn.fetch(_TABLES)
    ]
    indexes = [
        IndexHealth(
            r["name"],
            r["table_name"],
            r["method"],
            r["is_unique"],
            r["bytes"],
            r["scans"],
            estimate_btree_bloat(r["pages"], r["tuples"], r["width"])
            if r["method"] == "btree" and r["valid"]
            else None,
            f"{pg.quote_ident(r['schema'])}.{pg.quote_ident(r['relname'])}",
        )
        for r in await conn.fetch(_INDEXES)
    ]
    return tables, indexes


async def run_maintenance(
    url: str, *, reindex: bool = False, bloat_threshold: float = 0.3, min_bytes: int = 1 << 20
) -> MaintenanceReport:
    """ANALYZE, estimate bloat, find unused indexes; reindex bloated ones if asked."""
    conn = await pg.connect(url)
    try:
        await conn.execute("ANALYZE")
        tables, indexes = await _health(conn)
        reindexed = []
        if reindex:
            for index in indexes:
                ratio = index.bloat_ratio
                if ratio is not None and ratio >= bloat_threshold and index.bytes >= min_bytes:
                    # Not in a transaction: CONCURRENTLY refuses to run inside one.
                    await conn.execute(f"REINDEX INDEX CONCURRENTLY {index.sql_name}")
                    reindexed.append(index.name)
            if reindexed:
                tables, indexes = await _health(conn)
        stats_reset = await conn.fetchval(
            "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()
    return MaintenanceReport(pg.database_name(url), stats_reset, tables, indexes, reindexed)


def _size(count: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1024:
            return f"{count:.0f} {unit}"
        count //= 1024
    return f"{count} TB"


def format_maintenance(report: MaintenanceReport, *, bloat_threshold: float) -> list[str]:
    """The readable maintenance report."""
    lines = [f"database {report.database}: ANALYZE done"]
    lines.append("tables (largest first):")
    for t in report.tables:
        lines.append(
            f"  {t.name:<40} {_size(t.bytes):>8}  {t.live:>10} live  {t.dead_ratio:6.1%} dead"
        )
    lines.append(f"indexes (estimated B-tree bloat; flagged at {bloat_threshold:.0%}):")
    for i in report.indexes:
        bloat = "      -" if i.bloat_ratio is None else f"{i.bloat_ratio:7.1%}"
        flag = "  BLOATED" if i.bloat_ratio is not None and i.bloat_ratio >= bloat_threshold else ""
        lines.append(f"  {i.name:<40} {_size(i.bytes):>8}  {bloat} bloat  {i.scans:>8} scans{flag}")
    since = report.stats_reset.isoformat() if report.stats_reset else "the statistics began"
    unused = report.unused()
    lines.append(f"unused indexes (no scans since {since}; unique ones left out): {len(unused)}")
    lines += [f"  {i.name} on {i.table}, {_size(i.bytes)}" for i in unused]
    if report.reindexed:
        lines.append("reindexed concurrently: " + ", ".join(report.reindexed))
    return lines
