"""Incidents (plan 7.2): the record, its timeline, and the postmortem written from both."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pricealert_ops import incident
from pricealert_ops.storage import BackupStore, open_store

from .servers import backfilled_prometheus

Cli = Callable[..., tuple[int, str, str]]

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
OPENED = NOW - timedelta(hours=2)
CLOSED = NOW - timedelta(hours=1)
#: (alert, severity, start, minutes firing): one during the incident, one a day earlier.
FIRINGS = [
    ("PriceAlertApiErrorRateHigh", "critical", OPENED - timedelta(minutes=10), 40),
    ("PriceAlertHostCpuHigh", "low", NOW - timedelta(days=1), 30),
]


def _openmetrics() -> str:
    samples = []
    for alert, severity, start, minutes in FIRINGS:
        for half_minute in range(minutes * 2):
            at = int((start + timedelta(seconds=30 * half_minute)).timestamp())
            labels = f'alertname="{alert}",alertstate="firing",severity="{severity}"'
            samples.append((at, f"ALERTS{{{labels}}} 1 {at}"))
    return "\n".join(["# TYPE ALERTS gauge", *(s for _, s in sorted(samples)), "# EOF", ""])


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.fail("needs prometheus and promtool: apt-get install -y prometheus", pytrace=False)
    with backfilled_prometheus(tmp_path_factory.mktemp("prom-incident"), _openmetrics()) as url:
        yield url


@pytest.fixture
def store(tmp_path: Path) -> BackupStore:
    return open_store(tmp_path.as_uri())


def test_the_postmortem_holds_the_timeline_and_the_alerts_that_fired_during_it(
    store: BackupStore, prometheus_url: str
) -> None:
    opened = incident.open_incident(store, "API answers 5xx", "p2", "aiko", now=OPENED)
    incident.add_note(store, opened.id, "error rate 4 %; paging backend", "aiko",
                      priority="P1", now=OPENED + timedelta(minutes=5))  # fmt: skip
    incident.add_note(store, opened.id, "rolled back to task definition 41", "ken",
                      now=OPENED + timedelta(minutes=40))  # fmt: skip

    closed, markdown = incident.close_incident(
        store, opened.id, "rollback", "ken", prometheus_url=prometheus_url, now=CLOSED
    )

    assert closed.priority == "P1"
    assert [e.kind for e in closed.timeline] == ["opened", "priority", "note", "note", "closed"]
    assert closed.duration == timedelta(hours=1)
    assert f"# Postmortem {opened.id}: API answers 5xx" in markdown
    assert "Priority: **P1**" in markdown
    assert "Duration: 1 h 0 min" in markdown
    assert "People: aiko, ken" in markdown
    assert "| ken | note: rolled back to task definition 41 |" in markdown
    assert "| aiko | priority: P2 → P1 |" in markdown
    rows = [line.split(" | ") for line in markdown.splitlines() if line.startswith("| PriceAlert")]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("| PriceAlertApiErrorRateHigh", "critical", f"{FIRINGS[0][2]:%H:%M}")
    ]
    # Backfilled samples stay visible for Prometheus's 5-minute lookback after the last one.
    ended = FIRINGS[0][2] + timedelta(minutes=FIRINGS[0][3])
    allowed = {f"{ended + timedelta(minutes=k):%H:%M}" for k in range(-1, 6)}
    assert rows[0][3].rstrip(" |") in allowed
    assert "PriceAlertHostCpuHigh" not in markdown  # a day before: not this incident's
    # Stored beside the record, and the record itself says closed.
    assert store.exists(incident.postmortem_key(opened.id))
    assert not incident.load(store, opened.id).is_open


def test_incident_ids_count_up_within_a_day(store: BackupStore) -> None:
    first = incident.open_incident(store, "one", "P3", "aiko", now=OPENED)
    second = incident.open_incident(store, "two", "P4", "aiko", now=OPENED)

    assert first.id == f"INC-{OPENED:%Y%m%d}-1"
    assert second.id == f"INC-{OPENED:%Y%m%d}-2"
    assert [i.id for i in incident.list_incidents(store)] == [first.id, second.id]


def test_a_closed_incident_takes_no_more_notes(store: BackupStore) -> None:
    opened = incident.open_incident(store, "one", "P3", "aiko")
    incident.close_incident(store, opened.id, "fixed", "aiko")

    with pytest.raises(incident.IncidentClosed):
        incident.add_note(store, opened.id, "late", "aiko")


def test_every_alert_severity_maps_to_one_priority() -> None:
    assert incident.PRIORITY_OF_SEVERITY == {
        "critical": "P1",
        "high": "P2",
        "medium": "P3",
        "low": "P4",
    }


@pytest.fixture
def cli(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    """The ops suite's `cli`, with incidents kept in this test's own store."""
    monkeypatch.setenv("PRICEALERT_INCIDENT_STORE", (tmp_path / "incidents").as_uri())
    return cli


def test_the_commands_open_note_close_and_list(cli: Cli) -> None:
    code, out, _ = cli("incident", "open", "scrapes failing at one shop", "--priority", "P3",
                       "--who", "aiko")  # fmt: skip
    assert code == 0
    incident_id = out.split()[0]
    assert out.startswith(f"{incident_id} opened (P3: open a ticket")

    assert cli("incident", "note", incident_id, "shop changed its markup", "--who", "ken")[0] == 0
    code, out, _ = cli("incident", "close", incident_id, "--resolution", "selector fixed")
    assert code == 0
    assert "_Not read: close with `--prometheus URL` to list them._" in out
    assert f"{incident_id} closed; postmortem at" in out

    code, out, _ = cli("incident", "list", "--json")
    listed = json.loads(out)
    assert [(i["id"], i["priority"], i["resolution"]) for i in listed] == [
        (incident_id, "P3", "selector fixed")
    ]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (("incident", "open", "x", "--priority", "P0"), "error: invalid_priority:"),
        (("incident", "note", "INC-20000101-1", "x"), "error: incident_not_found:"),
        (("incident", "note", "INC-20000101-1"), "error: nothing_to_note:"),
    ],
)
def test_wrong_input_is_a_named_error(cli: Cli, argv: tuple[str, ...], error: str) -> None:
    code, _, err = cli(*argv)

    assert code == 2
    assert err.startswith(error)
