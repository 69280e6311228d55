"""Restoring logical backups, and proving that they restore (plan 5.1 / 7.1).

Every restore first downloads the dump to a temporary file and checks its
SHA-256 against the metadata (`ChecksumMismatch` otherwise): a damaged dump is
never half-restored. `pg_restore` runs with `--single-transaction
--exit-on-error`, so a restore either lands whole or not at all.

`verify_backup` is the weekly "backup verification": restore into a scratch
database (created, then dropped), fingerprint it, and compare table by table
with the fingerprints recorded at backup time.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pricealert.errors import Conflict, PriceAlertError
from pricealert_ops import pg
from pricealert_ops.backup import BackupMetadata, load_metadata
from pricealert_ops.storage import BackupStore


class ChecksumMismatch(PriceAlertError, code="backup_checksum_mismatch"):
    """The downloaded dump's SHA-256 is not the one its metadata records: the dump is damaged or was
    changed, and nothing was restored."""


class TargetNotEmpty(Conflict, code="restore_target_not_empty"):
    """The target database has objects in it: a restore does not write over them unless told to
    (`--force`)."""


@dataclass(frozen=True)
class TableComparison:
    """One table's fingerprint in the backup and in the restored (or live) database."""

    table: str
    expected: pg.TableFingerprint | None
    actual: pg.TableFingerprint | None

    @property
    def status(self) -> str:
        """`ok`, `missing` (not restored), `extra` (not in the backup) or `mismatch`."""
        if self.actual is None:
            return "missing"
        if self.expected is None:
            return "extra"
        same = (self.expected.rows, self.expected.checksum) == (
            self.actual.rows,
            self.actual.checksum,
        )
        return "ok" if same else "mismatch"


def compare(
    expected: list[pg.TableFingerprint], actual: list[pg.TableFingerprint]
) -> list[TableComparison]:
    """Table-by-table comparison of two sets of fingerprints."""
    by_table = {f.table: f for f in expected}
    found = {f.table: f for f in actual}
    names = sorted(by_table.keys() | found.keys())
    return [TableComparison(name, by_table.get(name), found.get(name)) for name in names]


def all_match(comparisons: list[TableComparison]) -> bool:
    """Whether every table came back identical."""
    return all(c.status == "ok" for c in comparisons)


def format_comparison(comparisons: list[TableComparison], *, actual_label: str) -> list[str]:
    """A readable table of a comparison."""
    width = max([len(c.table) for c in comparisons] + [5])
    lines = [f"  {'table':<{width}}  {'backup rows':>11}  {actual_label + ' rows':>14}  status"]
    for c in comparisons:
        expected = str(c.expected.rows) if c.expected else "-"
        actual = str(c.actual.rows) if c.actual else "-"
        lines.append(f"  {c.table:<{width}}  {expected:>11}  {actual:>14}  {c.status}")
    return lines


@contextmanager
def checked_dump(store: BackupStore, key: str) -> Iterator[tuple[Path, BackupMetadata]]:
    """Download dump `key` to a temporary file and prove its checksum; yields path and metadata."""
    metadata = load_metadata(store, key)
    with tempfile.TemporaryDirectory(prefix="pricealert-restore-") as directory:
        path = Path(directory) / "backup.dump"
        with path.open("wb") as target:
            store.download(key, target)
        with path.open("rb") as source:
            digest = hashlib.file_digest(source, "sha256").hexdigest()
        if digest != metadata.sha256:
            raise ChecksumMismatch(
                f"{key!r} has SHA-256 {digest}, its metadata records {metadata.sha256}: "
                "the dump is damaged or was changed; it was not restored"
            )
        yield path, metadata


def pg_restore(path: Path, target_url: str, *, clean: bool, no_owner: bool) -> None:
    """Restore a custom-format dump into `target_url`, all or nothing."""
    args = ["pg_restore", "--no-password", "--single-transaction", "--exit-on-error"]
    if clean:
        args += ["--clean", "--if-exists"]
    if no_owner:
        args += ["--no-owner", "--no-acl"]
    process = pg.run_pg_tool([*args, str(path)], target_url)
    pg.finish_pg_tool(process, "pg_restore")


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did and whether the result matches the backup."""

    key: str
    target: str
    created_target: bool
    comparisons: list[TableComparison]


async def restore_dump(
    store: BackupStore, key: str, target_url: str, *, force: bool = False, no_owner: bool = False
) -> RestoreReport:
    """Restore dump `key` into `target_url` (created if missing; refused if not empty)."""
    name = pg.database_name(target_url)
    with checked_dump(store, key) as (path, metadata):
        created = not await pg.database_exists(target_url, name)
        if created:
            await pg.create_database(target_url, name)
        conn = await pg.connect(target_url)
        try:
            empty = await pg.is_empty(conn)
        finally:
            await conn.close()
        if not empty and not force:
            raise TargetNotEmpty(
                f"database {name!r} is not empty; pass --force to drop and recreate "
                "the backup's objects in it"
            )
        await asyncio.to_thread(pg_restore, path, target_url, clean=not empty, no_owner=no_owner)
    restored = await pg.fingerprint_database(target_url)
    return RestoreReport(key, name, created, compare(metadata.fingerprints(), restored))


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of restoring a backup into a scratch database."""

    metadata: BackupMetadata
    scratch_database: str
    comparisons: list[TableComparison]
    source_comparisons: list[TableComparison] | None

    @property
    def passed(self) -> bool:
        """Whether the restored data is identical to what was recorded at backup time."""
        return all_match(self.comparisons)


async def verify_backup(
    store: BackupStore, key: str, server_url: str, *, source_url: str | None = None
) -> VerifyReport:
    """Restore `key` into a scratch database on `server_url`'s server and compare fingerprints."""
    scratch = pg.scratch_name("verify")
    scratch_url = pg.with_database(server_url, scratch)
    with checked_dump(store, key) as (path, metadata):
        await pg.create_database(server_url, scratch)
        try:
            await asyncio.to_thread(pg_restore, path, scratch_url, clean=False, no_owner=True)
            restored = await pg.fingerprint_database(scratch_url)
        finally:
            await pg.drop_database(server_url, scratch)
    source = None
    if source_url is not None:
        live = await pg.fingerprint_database(source_url)
        source = compare(metadata.fingerprints(), live)
    return VerifyReport(metadata, scratch, compare(metadata.fingerprints(), restored), source)


def format_verify_report(report: VerifyReport) -> list[str]:
    """The readable verification report."""
    m = report.metadata
    lines = [
        f"backup        {m.key}",
        f"taken at      {m.created_at.isoformat()} (PostgreSQL {m.server_version})",
        f"size          {m.size} bytes, sha256 {m.sha256} (verified)",
        f"restored into scratch database {report.scratch_database} (dropped)",
        *format_comparison(report.comparisons, actual_label="restored"),
    ]
    bad = [c for c in report.comparisons if c.status != "ok"]
    lines.append(
        f"result        PASSED: {len(report.comparisons)} tables identical"
        if not bad
        else f"result        FAILED: {len(bad)} of {len(report.comparisons)} tables differ"
    )
    if report.source_comparisons is not None:
        changed = [c for c in report.source_comparisons if c.status != "ok"]
        lines.append(
            "live source   unchanged since the backup"
            if not changed
            else f"live source   {len(changed)} tables changed since the backup (expected on a "
            "live database; informational): " + ", ".join(c.table for c in changed)
        )
    return lines
