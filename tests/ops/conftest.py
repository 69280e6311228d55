"""Fixtures for the operations commands: scratch databases on the real PostgreSQL, S3 via moto.

Every database a test creates is named `pricealert_t_backup_<pid>_<n>` and
dropped afterwards; every bucket lives only inside moto.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import boto3
import pytest

import pricealert.cli
from pricealert_ops import pg
from pricealert_ops.storage import BackupStore, open_store
from tests.support.aws import moto_aws

SERVER_URL = os.environ.get(
    "PRICEALERT_TEST_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BUCKET = "pricealert-test-backups"
_numbers = itertools.count()

MakeDatabase = Callable[[], Awaitable[str]]

# Column types whose text form is easy to get wrong: NUMERIC scale, timestamptz
# in a non-UTC session, jsonb, Japanese text, NULLs, bytea.
SAMPLE_SCHEMA = """
CREATE TABLE product (
    id bigint PRIMARY KEY,
    title text NOT NULL,
    currency char(3) NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE price_history (
    id bigint PRIMARY KEY,
    product_id bigint NOT NULL REFERENCES product (id),
    price numeric(14, 2) NOT NULL,
    seen_at timestamptz NOT NULL,
    extracted jsonb,
    raw bytea
);
CREATE SCHEMA audit;
CREATE TABLE audit.event (id serial PRIMARY KEY, note text);
INSERT INTO product VALUES
    (1, 'ゲーミングマウス「疾風」', 'JPY', '2024-03-01 09:00:00+09'),
    (2, 'Kaffeemühle', 'EUR', '2024-03-02 12:30:00.123456+00'),
    (3, 'ノートPC 14インチ', 'JPY', '2024-03-03 00:00:00+00');
INSERT INTO price_history VALUES
    (1, 1, 4980, '2024-03-01 09:00:00+09', '{"raw": "¥4,980", "in_stock": true}', '\\x00ff'),
    (2, 1, 4480.00, '2024-03-05 10:00:00+09', '{"raw": "¥4,480", "sale": "春のセール"}', NULL),
    (3, 2, 39.90, '2024-03-02 12:30:00+00', NULL, NULL),
    (4, 3, 129800, '2024-03-03 00:00:00+00', '{"nested": {"a": [1, 2.50, null]}}', '\\x');
INSERT INTO audit.event (note) VALUES ('created'), ('価格更新'), (NULL);
"""


def database_url(name: str) -> str:
    """URL of database `name` on the test server."""
    return pg.with_database(SERVER_URL, name)


@pytest.fixture
async def make_database() -> AsyncIterator[MakeDatabase]:
    """Factory of empty scratch databases, all dropped after the test."""
    created: list[str] = []

    async def make() -> str:
        name = f"pricealert_t_backup_{os.getpid()}_{next(_numbers)}"
        await pg.drop_database(SERVER_URL, name)
        await pg.create_database(SERVER_URL, name)
        created.append(name)
        return database_url(name)

    yield make
    for name in created:
        await pg.drop_database(SERVER_URL, name)


@pytest.fixture
async def source_url(make_database: MakeDatabase) -> str:
    """A scratch database holding the sample schema and rows."""
    url = await make_database()
    conn = await pg.connect(url)
    try:
        await conn.execute("SET TimeZone = 'Asia/Tokyo'")  # data entered in local time
        await conn.execute(SAMPLE_SCHEMA)
    finally:
        await conn.close()
    return url


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Moto's AWS, with fake credentials so nothing real is ever reached."""
    with moto_aws(monkeypatch, "us-east-1"):
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


@pytest.fixture
def s3_store(aws: None) -> BackupStore:
    """The test bucket, as a backup store."""
    return open_store(f"s3://{BUCKET}", region="us-east-1")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `pricealert ...` (its command's module alone is imported); returns (code, out, err)."""

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = pricealert.cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
