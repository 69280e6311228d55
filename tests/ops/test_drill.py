"""The restore drill runs end to end on the real PostgreSQL without cloud credentials."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pricealert.ops import pg
from pricealert.ops.backup import BackupSettings, list_backups
from pricealert.ops.drill import format_drill, run_drill

from .conftest import SERVER_URL

Cli = Callable[..., tuple[int, str, str]]


async def test_drill_restores_identical_data_and_times_every_step() -> None:
    result = await run_drill(SERVER_URL, BackupSettings(), rows=400)

    assert result.identical
    assert [name for name, _, _ in result.steps] == [
        "create data",
        "back up",
        "destroy",
        "restore",
        "prove",
    ]
    assert {c.table: c.actual.rows for c in result.comparisons if c.actual} == {
        "public.price_history": 400,
        "public.product": 20,
    }
    assert not await pg.database_exists(SERVER_URL, result.database)
    assert "total (RTO)" in "\n".join(format_drill(result))


async def test_drill_into_a_given_store_leaves_no_backup_behind(tmp_path: Path) -> None:
    location = tmp_path.as_uri()
    settings = BackupSettings()

    result = await run_drill(SERVER_URL, settings, location=location, rows=50)

    assert result.identical
    assert list_backups(settings.store(location), "drills/") == []


def test_drill_command_prints_the_total_and_the_verdict(cli: Cli) -> None:
    code, out, _ = cli("backup", "drill", f"--database-url={SERVER_URL}", "--rows=100")

    assert code == 0, out
    assert "total (RTO)" in out
    assert "result: IDENTICAL" in out


def test_drill_with_no_rows_is_a_named_error(cli: Cli) -> None:
    code, _, err = cli("backup", "drill", "--rows=0")

    assert code == 2
    assert "error: invalid_rows:" in err
