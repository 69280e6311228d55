"""Logical backups (plan 5.1): `pg_dump` custom-format dumps with checksums and metadata.

Each backup is two objects in the store (see `storage`):

    <prefix><database>/<YYYYmmddTHHMMSSZ>.dump   the pg_dump --format=custom output
    <prefix><database>/<YYYYmmddTHHMMSSZ>.json   its metadata (`BackupMetadata`)

The metadata records the dump's size and SHA-256, and every table's row count
and content checksum (see `pg.fingerprint`), taken in the *same snapshot* as
the dump: one repeatable-read transaction exports its snapshot
(`pg_export_snapshot()`), `pg_dump --snapshot` dumps exactly that state while
the transaction fingerprints it. The dump streams from pg_dump's stdout to the
store through a hashing reader; it is never held in memory.

Retention is the plan's: weekly logical dumps are kept 90 days
(`PRICEALERT_BACKUP_RETENTION_DAYS`). Pruning always keeps each database's
newest backup, however old, so a stopped backup job never leaves none.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any, cast

from pydantic import BaseModel

from pricealert.errors import Conflict, PriceAlertError
from pricealert.settings import PriceAlertSettings
from pricealert_ops import pg
from pricealert_ops.storage import BackupStore, ObjectNotFound, open_store

KEY_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_KEY = re.compile(r"^(?P<base>.*?)(?P<db>[^/]+)/(?P<ts>\d{8}T\d{6}Z)\.(?P<kind>dump|json)$")


class BackupSettings(PriceAlertSettings):
    """Where backups go and how long they stay (env `PRICEALERT_BACKUP_*`)."""

    #: S3 bucket name, `s3://bucket`, or `file:///directory` (see `storage`).
    backup_bucket: str = ""
    backup_prefix: str = "backups/"
    #: Plan 5.1: weekly logical dumps are kept 90 days.
    backup_retention_days: int = 90
    backup_region: str | None = None
    #: An S3-compatible endpoint (moto server, MinIO); empty for AWS itself.
    backup_s3_endpoint_url: str | None = None

    def store(self, location: str | None = None) -> BackupStore:
        """The store at `location`, or at the configured bucket."""
        return open_store(
            location or self.backup_bucket,
            region=self.backup_region,
            endpoint_url=self.backup_s3_endpoint_url,
        )


class BackupExists(Conflict, code="backup_exists"):
    """A backup of this database with this second's timestamp is in the store already (two backups
    started in the same second): nothing was written; run it again."""


class BackupMetadataMissing(ObjectNotFound, code="backup_metadata_missing"):
    """The backup has no metadata object beside it (its checksum and fingerprints), so it cannot be
    verified and is not restored."""


class TableRecord(BaseModel):
    """One table's row count and content checksum at backup time."""

    table: str
    rows: int
    checksum: str


class BackupMetadata(BaseModel):
    """The JSON sidecar of one dump."""

    key: str
    created_at: datetime
    database: str
    server_version: str
    pg_dump_version: str
    size: int
    sha256: str
    checksum_algorithm: str
    tables: list[TableRecord]

    def fingerprints(self) -> list[pg.TableFingerprint]:
        """The recorded table fingerprints."""
        return [pg.TableFingerprint(t.table, t.rows, t.checksum) for t in self.tables]


@dataclass(frozen=True)
class BackupEntry:
    """A dump found in the store."""

    key: str
    database: str
    created_at: datetime
    size: int


def dump_key(prefix: str, database: str, created_at: datetime) -> str:
    """The key of a dump of `database` taken at `created_at`."""
    return f"{prefix}{database}/{created_at.astimezone(UTC).strftime(KEY_TIME_FORMAT)}.dump"


def metadata_key(key: str) -> str:
    """The key of a dump's metadata sidecar."""
    return key.removesuffix(".dump") + ".json"


class _HashingReader:
    """Passes a stream through, counting bytes and hashing them on the way."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data


async def create_backup(
    database_url: str, store: BackupStore, prefix: str, *, now: datetime | None = None
) -> BackupMetadata:
    """Dump a database to the store, with its checksum and same-snapshot fingerprints."""
    created_at = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    database = pg.database_name(database_url)
    key = dump_key(prefix, database, created_at)
    if await asyncio.to_thread(store.exists, key):
        raise BackupExists(f"a backup {key!r} exists already; try again in a second")
    pg_dump_version = pg.tool_version("pg_dump")

    conn = await pg.connect(database_url, fingerprinting=True)
    try:
        transaction = conn.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        try:
            server_version = await conn.fetchval("SHOW server_version")
            pg.check_dump_tool(pg_dump_version, int(await conn.fetchval("SHOW server_version_num")))
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            process = pg.run_pg_tool(
                ["pg_dump", "--format=custom", "--no-password", f"--snapshot={snapshot}"],
                database_url,
            )
            reader = _HashingReader(cast(IO[bytes], process.stdout))
            uploaded, tables = await asyncio.gather(
                asyncio.to_thread(_upload_or_stop, store, key, reader, process),
                _fingerprint_or_stop(conn, process),
                return_exceptions=True,
            )
            failure = next((r for r in (uploaded, tables) if isinstance(r, BaseException)), None)
            await asyncio.to_thread(_finish_dump, process, store, key, failure)
            assert isinstance(tables, list)  # _finish_dump raised otherwise
        finally:
            await transaction.rollback()  # read-only: nothing to commit
    finally:
        await conn.close()

    metadata = BackupMetadata(
        key=key,
        created_at=created_at,
        database=database,
        server_version=server_version,
        pg_dump_version=pg_dump_version,
        size=reader.size,
        sha256=reader.sha256.hexdigest(),
        checksum_algorithm=pg.CHECKSUM_ALGORITHM,
        tables=[TableRecord(table=t.table, rows=t.rows, checksum=t.checksum) for t in tables],
    )
    body = io.BytesIO(metadata.model_dump_json(indent=2).encode())
    await asyncio.to_thread(store.upload, metadata_key(key), body)
    return metadata


def _upload_or_stop(
    store: BackupStore, key: str, reader: _HashingReader, process: subprocess.Popen[bytes]
) -> None:
    try:
        store.upload(key, cast(IO[bytes], reader))
    except BaseException:
        process.kill()  # nobody reads its pipe any more: it would block forever
        raise


async def _fingerprint_or_stop(
    conn: Any, process: subprocess.Popen[bytes]
) -> list[pg.TableFingerprint]:
    try:
        return await pg.fingerprint(conn)
    except BaseException:
        process.kill()
        raise


def _finish_dump(
    process: subprocess.Popen[bytes],
    store: BackupStore,
    key: str,
    failure: BaseException | None,
) -> None:
    try:
        if failure is not None:
            process.communicate()  # reap the stopped pg_dump; the failure is the news
            raise failure
        pg.finish_pg_tool(process, "pg_dump")
    except BaseException:
        with contextlib.suppress(PriceAlertError):
            store.delete(key)  # a partial dump must never look like a backup
        raise


def list_backups(store: BackupStore, prefix: str, database: str | None = None) -> list[BackupEntry]:
    """Dumps under `prefix` (of one database, if given), oldest first."""
    entries = []
    for item in store.list(prefix):
        match = _KEY.match(item.key)
        if match is None or match["kind"] != "dump" or match["base"] != prefix:
            continue
        if database is not None and match["db"] != database:
            continue
        created_at = datetime.strptime(match["ts"], KEY_TIME_FORMAT).replace(tzinfo=UTC)
        entries.append(BackupEntry(item.key, match["db"], created_at, item.size))
    return sorted(entries, key=lambda e: (e.database, e.created_at))


def newest_backup(store: BackupStore, prefix: str, database: str) -> BackupEntry:
    """The newest dump of `database`, or `ObjectNotFound`."""
    entries = list_backups(store, prefix, database)
    if not entries:
        raise ObjectNotFound(f"no backups of {database!r} in {store.location}/{prefix}")
    return entries[-1]


def load_metadata(store: BackupStore, key: str) -> BackupMetadata:
    """The metadata sidecar of dump `key`."""
    body = io.BytesIO()
    try:
        store.download(metadata_key(key), body)
    except ObjectNotFound as exc:
        raise BackupMetadataMissing(f"no metadata {metadata_key(key)!r} for {key!r}") from exc
    return BackupMetadata.model_validate_json(body.getvalue())


def prune_backups(
    store: BackupStore,
    prefix: str,
    *,
    retention: timedelta,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[BackupEntry]:
    """Delete dumps (and sidecars) older than `retention`, keeping each database's newest."""
    cutoff = (now or datetime.now(UTC)) - retention
    expired: list[BackupEntry] = []
    entries = list_backups(store, prefix)
    for index, entry in enumerate(entries):
        is_newest = index + 1 == len(entries) or entries[index + 1].database != entry.database
        if entry.created_at < cutoff and not is_newest:
            expired.append(entry)
    if not dry_run:
        for entry in expired:
            store.delete(entry.key)
            store.delete(metadata_key(entry.key))
    return expired
