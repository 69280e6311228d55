"""`pricealert backup …` and `pricealert restore …`: logical backups, proven to restore.

    backup create   pg_dump to the store, with checksum and table fingerprints
    backup list     the dumps in the store
    backup prune    delete dumps older than the retention (plan 5.1: 90 days)
    backup verify   restore a dump into a scratch database and compare (plan 7.1, weekly)
    backup drill    the restore drill on the real schema: RTO and RPO, the app proven
    restore dump    restore a chosen dump into a target database

`restore rds-snapshot` and `restore rds-pitr` come from `pricealert_ops.cli.restore_rds`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from pricealert.cli import CommandError, add_command
from pricealert.errors import PriceAlertError
from pricealert_ops import backup, backup_health, drill, pg, restore
from pricealert_ops.cli import add_group
from pricealert_ops.cli.restore_rds import register_restore_subcommands
from pricealert_ops.storage import BackupStore


def register(subparsers: Any) -> None:
    commands = add_group(subparsers, "backup")

    create = add_command(commands, "create", _create, "Dump the database to the backup store.")
    _database_option(create)
    _store_options(create)

    listing = add_command(commands, "list", _list, "List the dumps in the backup store.")
    _store_options(listing)
    listing.add_argument("--database", help="only dumps of this database")

    prune = add_command(commands, "prune", _prune, "Delete dumps older than the retention.")
    _store_options(prune)
    prune.add_argument(
        "--retention-days", type=int, help="default PRICEALERT_BACKUP_RETENTION_DAYS (90)"
    )
    prune.add_argument("--dry-run", action="store_true", help="print, delete nothing")

    verify = add_command(
        commands, "verify", _verify, "Restore a dump into a scratch database and compare."
    )
    verify.add_argument("key", nargs="?", help="dump key (default: the newest of the database)")
    _database_option(verify)
    _store_options(verify)
    verify.add_argument(
        "--compare-source", action="store_true", help="also compare with the live database"
    )

    drill_command = add_command(
        commands,
        "drill",
        _drill,
        "Restore drill on the real schema: back up, destroy, restore, prove; RTO and RPO.",
    )
    drill_command.add_argument(
        "--database-url", help="server to drill on (a scratch database is created there)"
    )
    drill_command.add_argument(
        "--bucket", help="backup store for the drill (default: a temporary local directory)"
    )
    drill_command.add_argument(
        "--rows", type=int, default=100_000, help="price history rows to create (100000)"
    )
    drill_command.add_argument(
        "--no-app",
        action="store_true",
        help="skip starting the services on the restored database",
    )

    restore_commands = add_group(subparsers, "restore")
    dump = add_command(restore_commands, "dump", _restore_dump, "Restore a dump into a database.")
    dump.add_argument("key", help="dump key, as `backup list` prints it")
    dump.add_argument("--target-database-url", required=True, help="database to restore into")
    dump.add_argument(
        "--force", action="store_true", help="restore into a non-empty database (replaces objects)"
    )
    dump.add_argument("--no-owner", action="store_true", help="skip ownership and grants")
    _store_options(dump, prefix=False)
    register_restore_subcommands(restore_commands)


def _database_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--database-url", help="overrides PRICEALERT_DATABASE_URL")


def _store_options(command: argparse.ArgumentParser, *, prefix: bool = True) -> None:
    command.add_argument(
        "--bucket", help="S3 bucket, s3://bucket or file:///dir (PRICEALERT_BACKUP_BUCKET)"
    )
    if prefix:
        command.add_argument("--prefix", help="key prefix (PRICEALERT_BACKUP_PREFIX, 'backups/')")


def _settings() -> backup.BackupSettings:
    try:
        return backup.BackupSettings()
    except ValidationError as exc:
        raise CommandError("invalid_settings", str(exc).replace("\n", "; ")) from exc


def _create(args: argparse.Namespace) -> int:
    settings = _settings()
    url = args.database_url or settings.sync_database_url
    store = settings.store(args.bucket)
    prefix = args.prefix or settings.backup_prefix
    try:
        metadata = asyncio.run(backup.create_backup(url, store, prefix))
    except backup.BackupExists:
        raise  # another run of this second succeeded or is running: not a failure
    except Exception as exc:
        _record_failure(store, prefix, url, exc)
        raise
    rows = sum(t.rows for t in metadata.tables)
    print(f"backup {store.location}/{metadata.key}")
    print(f"  {metadata.size} bytes, sha256 {metadata.sha256}")
    print(f"  {len(metadata.tables)} tables, {rows} rows, PostgreSQL {metadata.server_version}")
    return 0


def _record_failure(store: BackupStore, prefix: str, url: str, exc: Exception) -> None:
    """Leave the failure where the backup exporter sees it (PriceAlertBackupFailed)."""
    code = exc.code if isinstance(exc, PriceAlertError) else type(exc).__name__
    detail = exc.detail if isinstance(exc, PriceAlertError) else str(exc)
    try:
        backup_health.record_failure(store, prefix, pg.database_name(url), code, detail)
    except Exception as record_exc:
        print(f"warning: could not record the failure: {record_exc}", file=sys.stderr)


def _list(args: argparse.Namespace) -> int:
    settings = _settings()
    store = settings.store(args.bucket)
    prefix = args.prefix or settings.backup_prefix
    entries = backup.list_backups(store, prefix, args.database)
    if not entries:
        print(f"no backups in {store.location}")
    for entry in entries:
        print(f"{entry.created_at.isoformat()}  {entry.size:>12}  {entry.key}")
    # The failure PriceAlertBackupFailed fires for, while no backup has succeeded since.
    for health in backup_health.dump_health(store, prefix):
        if not health.failing or args.database not in {None, health.target}:
            continue
        record = backup_health.read_failure(store, prefix, health.target)
        if record is not None:
            print(
                f"LAST ATTEMPT FAILED {record.failed_at.isoformat()}  {health.target}  "
                f"{record.error}: {record.detail}"
            )
    return 0


def _prune(args: argparse.Namespace) -> int:
    settings = _settings()
    days = (
        args.retention_days if args.retention_days is not None else settings.backup_retention_days
    )
    if days < 1:
        raise CommandError("invalid_retention", f"retention must be at least 1 day, not {days}")
    store = settings.store(args.bucket)
    expired = backup.prune_backups(
        store,
        args.prefix or settings.backup_prefix,
        retention=timedelta(days=days),
        dry_run=args.dry_run,
    )
    verb = "would delete" if args.dry_run else "deleted"
    for entry in expired:
        print(f"{verb} {entry.key} ({entry.created_at.isoformat()})")
    print(f"{verb} {len(expired)} backups older than {days} days from {store.location}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    settings = _settings()
    url = args.database_url or settings.sync_database_url
    store = settings.store(args.bucket)
    prefix = args.prefix or settings.backup_prefix
    key = args.key or backup.newest_backup(store, prefix, pg.database_name(url)).key
    report = asyncio.run(
        restore.verify_backup(store, key, url, source_url=url if args.compare_source else None)
    )
    print("\n".join(restore.format_verify_report(report)))
    return 0 if report.passed else 1


def _restore_dump(args: argparse.Namespace) -> int:
    settings = _settings()
    store = settings.store(args.bucket)
    report = asyncio.run(
        restore.restore_dump(
            store, args.key, args.target_database_url, force=args.force, no_owner=args.no_owner
        )
    )
    if report.created_target:
        print(f"created database {report.target}")
    print(f"restored {report.key} into {report.target}")
    print("\n".join(restore.format_comparison(report.comparisons, actual_label="restored")))
    ok = restore.all_match(report.comparisons)
    print("identical to the backup" if ok else "DIFFERS from the backup")
    return 0 if ok else 1


def _drill(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.rows < 1:
        raise CommandError("invalid_rows", f"--rows must be positive, not {args.rows}")
    url = args.database_url or settings.sync_database_url
    result = asyncio.run(
        drill.run_drill(
            url, settings, location=args.bucket, history_rows=args.rows, prove_app=not args.no_app
        )
    )
    print("\n".join(drill.format_drill(result)))
    return 0 if result.passed else 1
