"""The restore drill runs end to end on the real PostgreSQL, real schema and real services."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from pricealert.db.migrate import upgrade
from pricealert_ops import pg
from pricealert_ops.backup import BackupSettings, list_backups
from pricealert_ops.devtools.stack import StackError
from pricealert_ops.drill import format_drill, prove_application, run_drill

from .conftest import SERVER_URL

Cli = Callable[..., tuple[int, str, str]]


APP_TABLES = {
    "alembic_version",
    "alert_rule",
    "alert_rule_channel",
    "api_key",
    "app_user",
    "channel",
    "notification",
    "price_history",
    "product",
    "watch",
}


@pytest.mark.slow  # restores a real database (over a minute here)
async def test_drill_restores_the_real_schema_identically_and_proves_the_application() -> None:
    result = await run_drill(SERVER_URL, BackupSettings(), history_rows=3_000)

    assert result.passed, format_drill(result)
    assert [name for name, _, _ in result.steps] == [
        "create schema",
        "create data",
        "back up",
        "destroy",
        "restore",
        "prove app",
    ]
    rows = {c.table.removeprefix("public."): c.actual.rows for c in result.comparisons if c.actual}
    assert set(rows) >= APP_TABLES
    assert all(rows[table] > 0 for table in APP_TABLES), rows
    assert rows["price_history"] >= 3_000
    assert all(c.status == "ok" for c in result.comparisons)
    # The application ran on the restored data: the drill user's key and a new check.
    assert len(result.app_checks) == 2
    assert "watches" in result.app_checks[0]
    assert "recorded" in result.app_checks[1]
    # Writes went on during the backup: those after its snapshot are lost, as in an incident.
    assert result.writes_during_drill > result.lost_writes > 0
    assert result.rpo_seconds is not None
    assert result.rpo_seconds > 0
    assert result.rto_seconds == pytest.approx(sum(s for n, s, _ in result.steps[4:]))
    assert not await pg.database_exists(SERVER_URL, result.database)
    report = "\n".join(format_drill(result))
    assert "RTO" in report
    assert "RPO" in report
    assert "result: PASSED" in report


@pytest.mark.slow  # restores a real database (over a minute here)
async def test_the_application_proof_fails_on_a_database_without_the_users_data() -> None:
    name = pg.scratch_name("drill_empty")
    url = pg.with_database(SERVER_URL, name)
    await pg.create_database(SERVER_URL, name)
    try:
        await asyncio.to_thread(
            upgrade, "head", database_url=url.replace("postgresql://", "postgresql+asyncpg://")
        )
        with pytest.raises(StackError, match="401"):
            await prove_application(url)
    finally:
        await pg.drop_database(SERVER_URL, name)


async def test_drill_into_a_given_store_leaves_no_backup_behind(tmp_path: Path) -> None:
    location = tmp_path.as_uri()
    settings = BackupSettings()

    result = await run_drill(
        SERVER_URL, settings, location=location, history_rows=200, prove_app=False
    )

    assert result.identical
    assert list_backups(settings.store(location), "drills/") == []


def test_drill_command_prints_rto_rpo_and_the_verdict(cli: Cli) -> None:
    code, out, _ = cli("backup", "drill", f"--database-url={SERVER_URL}", "--rows=500", "--no-app")

    assert code == 0, out
    assert "RTO" in out
    assert "RPO" in out
    assert "data: IDENTICAL" in out
    assert "result: PASSED" in out


def test_drill_with_no_rows_is_a_named_error(cli: Cli) -> None:
    code, _, err = cli("backup", "drill", "--rows=0")

    assert code == 2
    assert "error: invalid_rows:" in err
