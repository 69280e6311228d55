"""Configuration backup (plan 5.1 "設定ファイル → Git + S3"): every deployable setting, versioned.

One export is one JSON bundle, `{"files": {path: text}}`, put at one key of a
versioned S3 bucket (infra/data.yaml `ConfigBucket`); each S3 object version is
one configuration version. The bundle holds

    infra/*.yaml                       the CloudFormation templates (and infra/parameters/)
    docker-compose.yml                 the compose deployment
    monitoring/...                     Prometheus rules and config, Alertmanager, Grafana
                                       dashboards and provisioning, escalation, SLOs, log routing
    deployed/stacks/<stack>.json       each named stack's parameters as deployed
    deployed/task-definitions/<f>.json each ECS task definition of those stacks, as
                                       registered (the rendered form: images, env, secrets' ARNs)

An export whose files equal the newest version's puts nothing (no new version),
so exporting on every deploy records exactly the changes. Git keeps the
source; this keeps what was deployed, where the source may not be at hand.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from pricealert.errors import InvalidInput, NotFound, PriceAlertError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: What "the deployable configuration" is, relative to the repository root.
CONFIG_PATTERNS: Final = (
    "docker-compose.yml",
    "infra/*.yaml",
    "infra/parameters/**/*",
    "monitoring/*.yaml",
    "monitoring/*.yml",
    "monitoring/prometheus/**/*.yml",
    "monitoring/alertmanager/**/*",
    "monitoring/grafana/**/*",
    "monitoring/exporters/**/*",
    "monitoring/logging/**/*",
)
DEPLOYED: Final = "deployed/"
_SHA_METADATA: Final = "content-sha256"
_COUNT_METADATA: Final = "file-count"
_SOURCE_METADATA: Final = "source"


class ConfigBackupError(PriceAlertError, code="config_backup_failed"):
    """A stack or the bucket could not be read (the AWS error is in the detail)."""


class VersioningDisabled(ConfigBackupError, InvalidInput, code="config_bucket_not_versioned"):
    """The bucket does not keep versions, so a new export would overwrite the previous
    configuration: use the data stack's `ConfigBucket` (versioning on)."""


class ConfigVersionNotFound(ConfigBackupError, NotFound, code="config_version_not_found"):
    """No such version of the bundle: `pricealert config versions` lists the stored ones."""


@dataclass(frozen=True)
class ConfigVersion:
    """One stored version of the configuration bundle."""

    version_id: str
    last_modified: datetime
    is_latest: bool
    file_count: int
    source: str


@dataclass(frozen=True)
class ExportResult:
    """What an export did: a new version, or none because nothing changed."""

    version_id: str
    created: bool
    file_count: int


def collect_files(root: Path, patterns: Sequence[str] = CONFIG_PATTERNS) -> dict[str, str]:
    """The configuration files under `root`, path (POSIX, relative) → text."""
    files: dict[str, str] = {}
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                files[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
    return files


def collect_deployed(cloudformation: Any, ecs: Any, stacks: Iterable[str]) -> dict[str, str]:
    """Each stack's deployed parameters and its ECS task definitions as registered."""
    # boto3 clients, typed Any: the project installs no stubs for CloudFormation and ECS.
    files: dict[str, str] = {}
    for name in stacks:
        try:
            (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            raise ConfigBackupError(f"cannot read stack {name!r}: {exc}") from exc
        parameters = {
            p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
        }
        files[f"{DEPLOYED}stacks/{name}.json"] = _canonical(
            {"stack": name, "parameters": parameters, "tags": {
                t["Key"]: t["Value"] for t in stack.get("Tags", [])
            }}
        )  # fmt: skip
        paginator = cloudformation.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=name):
            for resource in page["StackResourceSummaries"]:
                if resource["ResourceType"] != "AWS::ECS::TaskDefinition":
                    continue
                arn = resource.get("PhysicalResourceId", "")
                definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
                family = definition["family"]
                files[f"{DEPLOYED}task-definitions/{family}.json"] = _canonical(definition)
    return files


def _canonical(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def _digest(files: Mapping[str, str]) -> str:
    return hashlib.sha256(_canonical(dict(files)).encode()).hexdigest()


def require_versioning(s3: S3Client, bucket: str) -> None:
    """Refuse a bucket that would overwrite the previous configuration."""
    try:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError as exc:
        raise ConfigBackupError(f"cannot read bucket {bucket!r}: {exc}") from exc
    if status != "Enabled":
        raise VersioningDisabled(
            f"bucket {bucket!r} does not keep versions (versioning {status or 'never enabled'}); "
            "use infra/data.yaml's ConfigBucket"
        )


def export(
    s3: S3Client, bucket: str, key: str, files: Mapping[str, str], *, source: str = ""
) -> ExportResult:
    """Put the bundle as a new version unless it equals the newest version."""
    require_versioning(s3, bucket)
    digest = _digest(files)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
            raise ConfigBackupError(f"cannot read s3://{bucket}/{key}: {exc}") from exc
    else:
        if head.get("Metadata", {}).get(_SHA_METADATA) == digest:
            return ExportResult(head.get("VersionId", ""), created=False, file_count=len(files))
    put = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=_canonical({"files": dict(files)}).encode(),
        ContentType="application/json",
        Metadata={
            _SHA_METADATA: digest,
            _COUNT_METADATA: str(len(files)),
            _SOURCE_METADATA: source,
        },
    )
    return ExportResult(put.get("VersionId", ""), created=True, file_count=len(files))


def list_versions(s3: S3Client, bucket: str, key: str) -> list[ConfigVersion]:
    """The stored versions of the bundle, newest first."""
    versions = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        for item in page.get("Versions", []):
            if item["Key"] != key:
                continue
            head = s3.head_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])
            metadata = head.get("Metadata", {})
            versions.append(
                ConfigVersion(
                    version_id=item["VersionId"],
                    last_modified=item["LastModified"],
                    is_latest=item["IsLatest"],
                    file_count=int(metadata.get(_COUNT_METADATA, "0")),
                    source=metadata.get(_SOURCE_METADATA, ""),
                )
            )
    return sorted(versions, key=lambda v: v.last_modified, reverse=True)


def load_version(s3: S3Client, bucket: str, key: str, version_id: str) -> dict[str, str]:
    """The files of one version (`latest` for the newest)."""
    try:
        if version_id == "latest":
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        else:
            body = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()
    except ClientError as exc:
        raise ConfigVersionNotFound(
            f"no configuration version {version_id!r} of s3://{bucket}/{key} "
            "(`pricealert config versions` lists them)"
        ) from exc
    files: dict[str, str] = json.loads(body)["files"]
    return files


def diff(
    old: Mapping[str, str], new: Mapping[str, str], old_label: str, new_label: str
) -> list[str]:
    """A unified diff per changed file; added and removed files against /dev/null."""
    lines: list[str] = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        lines.extend(
            difflib.unified_diff(
                (before or "").splitlines(keepends=True),
                (after or "").splitlines(keepends=True),
                fromfile=f"{old_label}/{path}" if before is not None else "/dev/null",
                tofile=f"{new_label}/{path}" if after is not None else "/dev/null",
            )
        )
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n\\ No newline at end of file\n"
    return lines
