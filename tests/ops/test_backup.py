"""Backups against the real PostgreSQL, stored in moto's S3 or a local directory."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from pricealert_ops import pg
from pricealert_ops.backup import (
    BackupExists,
    create_backup,
    list_backups,
    load_metadata,
    metadata_key,
    prune_backups,
)
from pricealert_ops.restore import ChecksumMismatch, restore_dump, verify_backup
from pricealert_ops.storage import BackupStore, InvalidLocation, ObjectNotFound, open_store

from .conftest import BUCKET, SERVER_URL, MakeDatabase

Cli = Callable[..., tuple[int, str, str]]
PREFIX = "backups/"


def _tamper(key: str, change: Callable[[bytes], bytes]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=key, Body=change(body))


async def test_backup_records_the_fingerprints_of_the_data_it_dumped(
    source_url: str, s3_store: BackupStore
) -> None:
    metadata = await create_backup(source_url, s3_store, PREFIX)

    assert metadata.key.startswith(f"{PREFIX}{pg.database_name(source_url)}/")
    assert metadata.key.endswith(".dump")
    assert {t.table: t.rows for t in metadata.tables} == {
        "audit.event": 3,
        "public.price_history": 4,
        "public.product": 3,
    }
    assert metadata.fingerprints() == await pg.fingerprint_database(source_url)
    assert metadata.size > 0
    assert len(metadata.sha256) == 64
    assert load_metadata(s3_store, metadata.key) == metadata


async def test_a_changed_value_changes_the_checksum_but_not_the_row_count(
    source_url: str,
) -> None:
    before = {f.table: f for f in await pg.fingerprint_database(source_url)}
    conn = await pg.connect(source_url)
    try:
        await conn.execute("UPDATE price_history SET price = 4480.01 WHERE id = 2")
    finally:
        await conn.close()
    after = {f.table: f for f in await pg.fingerprint_database(source_url)}

    assert after["public.price_history"].rows == before["public.price_history"].rows
    assert after["public.price_history"].checksum != before["public.price_history"].checksum
    assert after["public.product"] == before["public.product"]


def test_create_list_and_verify_pass_for_a_fresh_backup(
    source_url: str, s3_store: BackupStore, cli: Cli
) -> None:
    bucket = f"--bucket=s3://{BUCKET}"

    code, out, _ = cli("backup", "create", f"--database-url={source_url}", bucket)
    assert code == 0, out
    key = out.split()[1].removeprefix(f"s3://{BUCKET}/")

    code, out, _ = cli("backup", "list", bucket)
    assert code == 0
    assert key in out

    code, out, _ = cli(
        "backup", "verify", f"--database-url={source_url}", bucket, "--compare-source"
    )
    assert code == 0, out
    assert "PASSED: 3 tables identical" in out
    assert "live source   unchanged since the backup" in out


def test_verify_of_a_tampered_dump_fails_with_a_named_error(
    source_url: str, s3_store: BackupStore, cli: Cli
) -> None:
    metadata = asyncio.run(create_backup(source_url, s3_store, PREFIX))
    _tamper(metadata.key, lambda body: body[:-10] + b"0123456789")

    code, _, err = cli(
        "backup", "verify", metadata.key, f"--database-url={source_url}", f"--bucket={BUCKET}"
    )

    assert code == 2
    assert "error: backup_checksum_mismatch:" in err


def test_verify_fails_when_restored_data_differs_from_what_was_recorded(
    source_url: str, s3_store: BackupStore, cli: Cli
) -> None:
    metadata = asyncio.run(create_backup(source_url, s3_store, PREFIX))

    def wrong_count(body: bytes) -> bytes:
        recorded = json.loads(body)
        recorded["tables"][0]["rows"] += 1
        return json.dumps(recorded).encode()

    _tamper(metadata_key(metadata.key), wrong_count)

    code, out, _ = cli("backup", "verify", f"--database-url={source_url}", f"--bucket={BUCKET}")

    assert code == 1
    assert "FAILED: 1 of 3 tables differ" in out
    assert "audit.event" in out


async def test_verify_drops_its_scratch_database(source_url: str, s3_store: BackupStore) -> None:
    metadata = await create_backup(source_url, s3_store, PREFIX)

    report = await verify_backup(s3_store, metadata.key, source_url)

    assert report.passed
    assert not await pg.database_exists(SERVER_URL, report.scratch_database)


async def test_restore_into_an_empty_target_gives_identical_checksums(
    source_url: str, s3_store: BackupStore, make_database: MakeDatabase
) -> None:
    metadata = await create_backup(source_url, s3_store, PREFIX)
    target = await make_database()

    report = await restore_dump(s3_store, metadata.key, target)

    assert [c.status for c in report.comparisons] == ["ok", "ok", "ok"]
    assert await pg.fingerprint_database(target) == await pg.fingerprint_database(source_url)


def test_restore_into_a_non_empty_target_is_refused_without_force(
    source_url: str, s3_store: BackupStore, make_database: MakeDatabase, cli: Cli
) -> None:
    metadata = asyncio.run(create_backup(source_url, s3_store, PREFIX))
    target = source_url  # holds the same tables, changed since the backup
    asyncio.run(_execute(target, "DELETE FROM audit.event"))
    args = (
        "restore",
        "dump",
        metadata.key,
        f"--target-database-url={target}",
        f"--bucket={BUCKET}",
    )

    code, _, err = cli(*args)
    assert code == 2
    assert "error: restore_target_not_empty:" in err

    code, out, _ = cli(*args, "--force")
    assert code == 0, out
    assert "identical to the backup" in out
    assert asyncio.run(pg.fingerprint_database(target)) == metadata.fingerprints()


def test_restore_of_a_missing_key_is_a_named_error(s3_store: BackupStore, cli: Cli) -> None:
    code, _, err = cli(
        "restore", "dump", "backups/x/20240101T000000Z.dump",
        "--target-database-url=postgresql://postgres@127.0.0.1/unused", f"--bucket={BUCKET}",
    )  # fmt: skip

    assert code == 2
    assert "error: backup_metadata_missing:" in err


def test_restore_into_a_new_database_creates_it(
    source_url: str, s3_store: BackupStore, cli: Cli
) -> None:
    metadata = asyncio.run(create_backup(source_url, s3_store, PREFIX))
    target = source_url + "_new"
    try:
        code, out, _ = cli(
            "restore", "dump", metadata.key, f"--target-database-url={target}", f"--bucket={BUCKET}"
        )
        assert code == 0, out
        assert f"created database {pg.database_name(target)}" in out
    finally:
        asyncio.run(pg.drop_database(SERVER_URL, pg.database_name(target)))


async def test_prune_deletes_only_backups_older_than_the_retention(
    source_url: str, tmp_path: Path
) -> None:
    store = open_store(tmp_path.as_uri())
    now = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
    for age in (200, 91, 89, 1):
        await create_backup(source_url, store, PREFIX, now=now - timedelta(days=age))

    would = prune_backups(store, PREFIX, retention=timedelta(days=90), now=now, dry_run=True)
    assert len(list_backups(store, PREFIX)) == 4

    deleted = prune_backups(store, PREFIX, retention=timedelta(days=90), now=now)

    assert deleted == would
    assert [now - e.created_at for e in deleted] == [timedelta(days=200), timedelta(days=91)]
    kept = list_backups(store, PREFIX)
    assert [now - e.created_at for e in kept] == [timedelta(days=89), timedelta(days=1)]
    assert not any(o.key == metadata_key(deleted[0].key) for o in store.list(PREFIX))


async def test_prune_keeps_the_newest_backup_however_old(source_url: str, tmp_path: Path) -> None:
    store = open_store(tmp_path.as_uri())
    now = datetime(2025, 6, 30, tzinfo=UTC)
    await create_backup(source_url, store, PREFIX, now=now - timedelta(days=400))
    await create_backup(source_url, store, PREFIX, now=now - timedelta(days=300))

    deleted = prune_backups(store, PREFIX, retention=timedelta(days=90), now=now)

    assert [now - e.created_at for e in deleted] == [timedelta(days=400)]
    assert len(list_backups(store, PREFIX)) == 1


def test_prune_dry_run_prints_what_it_would_delete_and_deletes_nothing(
    source_url: str, tmp_path: Path, cli: Cli
) -> None:
    store = open_store(tmp_path.as_uri())
    for day in (1, 2):
        asyncio.run(
            create_backup(source_url, store, PREFIX, now=datetime(2020, 1, day, tzinfo=UTC))
        )

    code, out, _ = cli("backup", "prune", f"--bucket={tmp_path.as_uri()}", "--dry-run")

    assert code == 0
    assert "/20200101T000000Z.dump" in out
    assert "would delete 1 backups older than 90 days" in out
    assert len(list_backups(store, PREFIX)) == 2


async def test_a_second_backup_in_the_same_second_is_refused(
    source_url: str, tmp_path: Path
) -> None:
    store = open_store(tmp_path.as_uri())
    now = datetime(2025, 1, 1, tzinfo=UTC)
    await create_backup(source_url, store, PREFIX, now=now)

    with pytest.raises(BackupExists):
        await create_backup(source_url, store, PREFIX, now=now)


def test_backup_without_a_location_is_a_named_error(
    source_url: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRICEALERT_BACKUP_BUCKET", raising=False)

    code, _, err = cli("backup", "create", f"--database-url={source_url}")

    assert code == 2
    assert "error: invalid_backup_location:" in err


def test_backup_of_an_unreachable_database_is_a_named_error(tmp_path: Path, cli: Cli) -> None:
    code, _, err = cli(
        "backup",
        "create",
        f"--database-url={SERVER_URL}_does_not_exist",
        f"--bucket={tmp_path.as_uri()}",
    )

    assert code == 2
    assert "error: database_unreachable:" in err


def test_local_store_refuses_keys_that_leave_its_directory(tmp_path: Path) -> None:
    store = open_store((tmp_path / "store").as_uri())

    with pytest.raises(InvalidLocation):
        store.upload("../escape.dump", io.BytesIO(b"x"))
    with pytest.raises(ObjectNotFound):
        store.download("backups/none.dump", io.BytesIO())


async def test_restore_refuses_a_damaged_dump_before_touching_the_target(
    source_url: str, s3_store: BackupStore, make_database: MakeDatabase
) -> None:
    metadata = await create_backup(source_url, s3_store, PREFIX)
    _tamper(metadata.key, lambda body: body + b"\0")
    target = await make_database()

    with pytest.raises(ChecksumMismatch):
        await restore_dump(s3_store, metadata.key, target)
    assert await pg.fingerprint_database(target) == []


async def _execute(url: str, sql: str) -> None:
    conn = await pg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_the_restore_group_holds_dump_the_rds_restores_and_their_drill(
    cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli("restore", "--help")

    assert exited.value.code == 0
    listed = re.findall(r"^    (\S+)", capsys.readouterr().out, re.MULTILINE)
    assert listed == ["dump", "rds-snapshot", "rds-pitr", "drill-rds"]


@pytest.mark.parametrize(
    ("version_text", "server_version_num"),
    [
        ("pg_dump (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)", 160004),
        ("pg_dump (PostgreSQL) 9.6.24", 110022),
    ],
)
def test_a_pg_dump_older_than_the_server_is_refused_with_the_package_to_install(
    version_text: str, server_version_num: int
) -> None:
    with pytest.raises(pg.PgToolTooOld) as caught:
        pg.check_dump_tool(version_text, server_version_num)

    server = server_version_num // 10000
    assert caught.value.code == "pg_dump_too_old"
    assert f"install postgresql-client-{server}" in str(caught.value)


@pytest.mark.parametrize(
    ("version_text", "server_version_num"),
    [
        ("pg_dump (PostgreSQL) 16.4", 160004),
        ("pg_dump (PostgreSQL) 17.2 (Ubuntu 17.2-1.pgdg24.04+1)", 150010),
    ],
)
def test_a_pg_dump_as_new_as_the_server_or_newer_is_accepted(
    version_text: str, server_version_num: int
) -> None:
    pg.check_dump_tool(version_text, server_version_num)


def test_the_installed_pg_dump_dumps_the_test_server() -> None:
    # The machine's own pair: what `backup create` checks before every dump.
    async def server_version_num() -> int:
        conn = await pg.connect(SERVER_URL)
        try:
            return int(await conn.fetchval("SHOW server_version_num"))
        finally:
            await conn.close()

    pg.check_dump_tool(pg.tool_version("pg_dump"), asyncio.run(server_version_num()))
