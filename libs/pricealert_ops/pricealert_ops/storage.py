"""Where backups are kept: an S3 bucket, or a local directory.

The location is one string (`PRICEALERT_BACKUP_BUCKET` or `--bucket`):

- `my-bucket` or `s3://my-bucket` — an S3 bucket (region and endpoint from the
  backup settings; the endpoint is for S3-compatible stores and moto);
- `file:///var/backups/pricealert` — a local directory: developer machines,
  the restore drill, or a mounted backup volume. Keys become relative paths.

Both stores stream: uploads read the source in chunks (S3 multipart), downloads
write to a file, so a dump is never held in memory whole.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from pricealert.errors import InvalidInput, NotFound, PriceAlertError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class StorageError(PriceAlertError, code="backup_storage_failed"):
    """The store refused or failed a read or write (S3's answer is in the detail)."""


class ObjectNotFound(StorageError, NotFound, code="backup_not_found"):
    """No object under that key, or no dump of the database asked for (`pricealert backup
    list` names the dumps)."""


class InvalidLocation(StorageError, InvalidInput, code="invalid_backup_location"):
    """The location names no store this module opens (a bucket, `s3://bucket` or
    `file:///directory`), or a key would leave the local store's directory."""


@dataclass(frozen=True)
class StoredObject:
    """One object in a store."""

    key: str
    size: int


class BackupStore(Protocol):
    """What backups need from a store."""

    location: str

    def upload(self, key: str, source: IO[bytes]) -> None: ...
    def download(self, key: str, target: IO[bytes]) -> None: ...
    def list(self, prefix: str) -> list[StoredObject]: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...


class S3Store:
    """Backups in an S3 bucket."""

    def __init__(self, bucket: str, client: S3Client) -> None:
        self.bucket = bucket
        self.location = f"s3://{bucket}"
        self._client = client

    def upload(self, key: str, source: IO[bytes]) -> None:
        """Stream `source` to `key` (multipart for large objects)."""
        with _s3_errors(key):
            self._client.upload_fileobj(source, self.bucket, key)

    def download(self, key: str, target: IO[bytes]) -> None:
        """Stream `key` into `target`."""
        with _s3_errors(key):
            self._client.download_fileobj(self.bucket, key, target)

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object under `prefix`."""
        found: list[StoredObject] = []
        with _s3_errors(prefix):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(StoredObject(item["Key"], item["Size"]))
        return found

    def delete(self, key: str) -> None:
        """Delete `key` (no error if it is gone already)."""
        with _s3_errors(key):
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def exists(self, key: str) -> bool:
        """Whether `key` exists."""
        try:
            with _s3_errors(key):
                self._client.head_object(Bucket=self.bucket, Key=key)
        except ObjectNotFound:
            return False
        return True


@contextmanager
def _s3_errors(key: str) -> Iterator[None]:
    # One translation of boto errors into named ones, for every S3 call.
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"404", "NoSuchKey", "NotFound"}:
            raise ObjectNotFound(f"no backup object {key!r}") from exc
        raise StorageError(f"S3 refused {key!r}: {code or exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 failed for {key!r}: {exc}") from exc


class LocalStore:
    """Backups in a local directory; keys are relative paths."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise InvalidLocation(f"key {key!r} leaves the backup directory")
        return path

    def upload(self, key: str, source: IO[bytes]) -> None:
        """Copy `source` to `key`, atomically (a partial file never has the final name)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
        partial.replace(path)

    def download(self, key: str, target: IO[bytes]) -> None:
        """Copy `key` into `target`."""
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(f"no backup object {key!r}")
        with path.open("rb") as source:
            shutil.copyfileobj(source, target, 1024 * 1024)

    def list(self, prefix: str) -> list[StoredObject]:
        """Every file whose key starts with `prefix`."""
        return [
            StoredObject(key, path.stat().st_size)
            for key, path in self._walk()
            if key.startswith(prefix) and not key.endswith(".partial")
        ]

    def _walk(self) -> Iterator[tuple[str, Path]]:
        if self.root.is_dir():
            for path in sorted(self.root.rglob("*")):
                if path.is_file():
                    yield path.relative_to(self.root).as_posix(), path

    def delete(self, key: str) -> None:
        """Delete `key` (no error if it is gone already)."""
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """Whether `key` exists."""
        return self._path(key).is_file()


def open_store(
    location: str, *, region: str | None = None, endpoint_url: str | None = None
) -> BackupStore:
    """The store a location string names (see module docstring)."""
    if not location:
        raise InvalidLocation(
            "no backup location: pass --bucket or set PRICEALERT_BACKUP_BUCKET "
            "(an S3 bucket name, s3://bucket or file:///directory)"
        )
    parts = urlsplit(location)
    if parts.scheme == "file":
        if parts.netloc not in {"", "localhost"}:
            raise InvalidLocation(f"file locations are local: {location!r}")
        return LocalStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        bucket = parts.netloc
    elif parts.scheme == "" and "/" not in location:
        bucket = location
    else:
        raise InvalidLocation(f"unsupported backup location {location!r}")
    client = boto3.client("s3", region_name=region, endpoint_url=endpoint_url)
    return S3Store(bucket, client)
