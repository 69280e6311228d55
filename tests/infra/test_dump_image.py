"""The image's pg_dump is the RDS engine's major version (issue 15: a pinned dump tool)."""

from __future__ import annotations

import re
from pathlib import Path

from .cfn import template

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def _dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def _build_arg(name: str) -> str:
    found = re.findall(rf"^ARG {name}=(\S+)$", _dockerfile(), flags=re.MULTILINE)
    assert len(found) == 1, f"one ARG {name}=<default> expected, found {found}"
    return str(found[0])


def test_the_pg_major_build_arg_is_the_rds_engine_major_version() -> None:
    engine = str(template("data")["Parameters"]["DbEngineVersion"]["Default"])

    assert _build_arg("PG_MAJOR") == engine.split(".")[0]


def test_the_client_installed_is_the_pinned_major_from_pgdg_for_the_base_image_release() -> None:
    dockerfile = _dockerfile()

    assert re.search(r"^FROM python:[\d.]+-slim-bookworm\b", dockerfile, flags=re.MULTILINE)
    assert '"postgresql-client-${PG_MAJOR}"' in dockerfile
    # Debian's unversioned package would follow the distribution, not the database.
    assert not re.search(r"install[^\n]*\bpostgresql-client(?![-\w])", dockerfile)
    assert "https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" in dockerfile
    assert "signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.gpg" in dockerfile


def test_the_build_fails_when_the_installed_pg_dump_is_another_major() -> None:
    # The last step of the install: a client of another major (a PGDG metapackage
    # change, a mirror) stops the build instead of shipping a dump tool that refuses.
    assert 'pg_dump --version | grep -q "(PostgreSQL) ${PG_MAJOR}\\."' in _dockerfile()
