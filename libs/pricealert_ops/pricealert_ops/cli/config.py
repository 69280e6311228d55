"""`pricealert config …`: the deployable configuration, backed up to a versioned bucket.

    config backup     export the configuration (and deployed stacks) if it changed
    config versions   the stored versions, newest first
    config diff V1 [V2]   unified diff per file between two versions, or V1 and the working tree

See `pricealert_ops.config_backup` for what is exported.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from pydantic import ValidationError

from pricealert.cli import CommandError, add_command
from pricealert.settings import PriceAlertSettings
from pricealert_ops import config_backup
from pricealert_ops.cli import add_group

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

WORKING_TREE = "working"


class ConfigBackupSettings(PriceAlertSettings):
    """Where configuration versions go (env `PRICEALERT_CONFIG_BACKUP_*`)."""

    #: infra/data.yaml's ConfigBucket (output ConfigBucketName).
    config_backup_bucket: str = ""
    #: Default `config/<environment>.json`.
    config_backup_key: str = ""
    #: Comma-separated CloudFormation stacks whose parameters and task definitions count.
    config_backup_stacks: str = ""
    config_backup_region: str | None = None
    #: An S3-compatible endpoint (moto server, MinIO); empty for AWS itself.
    config_backup_s3_endpoint_url: str | None = None

    def key(self) -> str:
        """The bundle's key."""
        return self.config_backup_key or f"config/{self.environment}.json"


def register(subparsers: Any) -> None:
    commands = add_group(subparsers, "config")

    backup = add_command(
        commands, "backup", _backup, "Export the configuration as a new version if it changed."
    )
    bucket_options(backup)
    backup.add_argument(
        "--stack",
        action="append",
        default=None,
        help="also record this deployed stack's parameters and task definitions "
        "(repeatable; default PRICEALERT_CONFIG_BACKUP_STACKS)",
    )

    versions = add_command(commands, "versions", _versions, "List the stored versions.")
    bucket_options(versions)

    diff = add_command(
        commands,
        "diff",
        _diff,
        "Unified diff per file between two versions, or a version and the working tree.",
    )
    diff.add_argument("old", help="version id (or `latest`)")
    diff.add_argument(
        "new", nargs="?", default=WORKING_TREE, help="version id, `latest` or `working` (default)"
    )
    bucket_options(diff)


def bucket_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--bucket", help="versioned bucket (PRICEALERT_CONFIG_BACKUP_BUCKET)")
    command.add_argument("--key", help="bundle key (default config/<environment>.json)")
    command.add_argument("--root", default=".", help="repository root (default: .)")


def _settings() -> ConfigBackupSettings:
    try:
        return ConfigBackupSettings()
    except ValidationError as exc:
        raise CommandError("invalid_settings", str(exc).replace("\n", "; ")) from exc


def where(args: argparse.Namespace) -> tuple[ConfigBackupSettings, S3Client, str, str]:
    settings = _settings()
    bucket = (args.bucket or settings.config_backup_bucket).removeprefix("s3://").rstrip("/")
    if not bucket:
        raise CommandError(
            "no_config_bucket",
            "pass --bucket or set PRICEALERT_CONFIG_BACKUP_BUCKET "
            "(infra/data.yaml output ConfigBucketName)",
        )
    s3: S3Client = boto3.client(
        "s3",
        region_name=settings.config_backup_region,
        endpoint_url=settings.config_backup_s3_endpoint_url,
    )
    return settings, s3, bucket, args.key or settings.key()


def repository_root(args: argparse.Namespace) -> Path:
    root = Path(args.root)
    if not (root / "infra").is_dir() or not (root / "monitoring").is_dir():
        raise CommandError(
            "not_a_repository_root", f"{root.resolve()} has no infra/ and monitoring/ directories"
        )
    return root


def _source(root: Path) -> str:
    """The commit the working tree is at, `+dirty` when it has changes; '' outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "infra", "monitoring"],  # noqa: S607
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f"{commit}+dirty" if dirty else commit


def _backup(args: argparse.Namespace) -> int:
    settings, s3, bucket, key = where(args)
    stacks = args.stack or [s for s in settings.config_backup_stacks.split(",") if s.strip()]
    export_configuration(
        repository_root(args), [s.strip() for s in stacks], settings, s3, bucket, key
    )
    return 0


def export_configuration(
    root: Path,
    stacks: list[str],
    settings: ConfigBackupSettings,
    s3: S3Client,
    bucket: str,
    key: str,
) -> config_backup.ExportResult:
    """Export the checkout's configuration and these deployed stacks'; say what happened."""
    files = config_backup.collect_files(root)
    if stacks:
        files.update(
            config_backup.collect_deployed(
                boto3.client("cloudformation", region_name=settings.config_backup_region),
                boto3.client("ecs", region_name=settings.config_backup_region),
                stacks,
            )
        )
    result = config_backup.export(s3, bucket, key, files, source=_source(root))
    if result.created:
        print(f"new version {result.version_id} of s3://{bucket}/{key} ({result.file_count} files)")
    else:
        print(f"unchanged: s3://{bucket}/{key} stays at version {result.version_id}")
    return result


def _versions(args: argparse.Namespace) -> int:
    _, s3, bucket, key = where(args)
    versions = config_backup.list_versions(s3, bucket, key)
    if not versions:
        print(f"no versions of s3://{bucket}/{key}")
    for version in versions:
        latest = "  (latest)" if version.is_latest else ""
        print(
            f"{version.version_id}  {version.last_modified.isoformat()}  "
            f"{version.file_count:>4} files  {version.source or '-'}{latest}"
        )
    return 0


def _diff(args: argparse.Namespace) -> int:
    _, s3, bucket, key = where(args)
    old = config_backup.load_version(s3, bucket, key, args.old)
    if args.new == WORKING_TREE:
        new = config_backup.collect_files(repository_root(args))
        # The working tree has no deployed state: compare the files it has only.
        old = {p: t for p, t in old.items() if not p.startswith(config_backup.DEPLOYED)}
    else:
        new = config_backup.load_version(s3, bucket, key, args.new)
    lines = config_backup.diff(old, new, args.old, args.new)
    if not lines:
        print(f"no differences between {args.old} and {args.new}")
    sys.stdout.writelines(lines)
    return 0
