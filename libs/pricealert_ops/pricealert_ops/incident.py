"""Incidents (plan 7.2): open, note, close — and the postmortem written from the record.

An incident is one JSON document in the incident store (`PRICEALERT_INCIDENT_STORE`:
an S3 bucket, `s3://bucket` or `file:///dir`, as for backups; by default
`.local/incidents/` in the working directory). Its timeline is appended to by
every command, with the time (UTC) and who did it:

    pricealert incident open "API 5xx after deploy" --priority P1 --who aiko
    pricealert incident note INC-20261203-1 "rolled back to task definition 41" --who aiko
    pricealert incident close INC-20261203-1 --resolution "rollback" --prometheus URL

`close` writes the postmortem skeleton (plan 7.2 "ポストモーテム" → "改善計画策定")
beside the record — the timeline, the duration, and the alerts that fired from
30 minutes before the incident was opened until it was closed (Prometheus's own
`ALERTS` series) — leaving the causes and the action items to the people who
were there. Priorities P1–P4 and how each is answered come from one table,
`pricealert_ops.priorities.PRIORITIES` (the alert severities map onto it: critical → P1, high → P2,
medium → P3, low → P4).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from pricealert.errors import Conflict, InvalidInput, NotFound
from pricealert.settings import PriceAlertSettings
from pricealert_ops.priorities import PRIORITIES as PRIORITIES
from pricealert_ops.priorities import PRIORITY_OF_SEVERITY as PRIORITY_OF_SEVERITY
from pricealert_ops.priorities import Priority as Priority
from pricealert_ops.prometheus import prometheus_api
from pricealert_ops.storage import BackupStore, ObjectNotFound, open_store

ALERTS_BEFORE_OPEN = timedelta(minutes=30)


class IncidentNotFound(NotFound, code="incident_not_found"):
    """No incident with this id is recorded in the store."""


class IncidentClosed(Conflict, code="incident_closed"):
    """The incident is closed: notes and a second close are refused."""


class InvalidPriority(InvalidInput, code="invalid_priority"):
    """The priority is not one of the plan's (P1–P4)."""


class IncidentSettings(PriceAlertSettings):
    """Where incident records are kept (env `PRICEALERT_INCIDENT_STORE`)."""

    incident_store: str = ""
    backup_region: str | None = None
    backup_s3_endpoint_url: str | None = None

    def store(self) -> BackupStore:
        location = self.incident_store or (Path.cwd() / ".local" / "incidents").as_uri()
        if location.startswith("file://"):
            Path(location.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        return open_store(
            location, region=self.backup_region, endpoint_url=self.backup_s3_endpoint_url
        )


class Entry(BaseModel):
    """One line of the timeline."""

    at: datetime
    who: str
    kind: Literal["opened", "note", "priority", "closed"]
    text: str


class Incident(BaseModel):
    """The record: what happened, when, who did what."""

    id: str
    title: str
    priority: Priority
    opened_at: datetime
    closed_at: datetime | None = None
    resolution: str | None = None
    timeline: list[Entry] = Field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def duration(self) -> timedelta | None:
        return None if self.closed_at is None else self.closed_at - self.opened_at


@dataclass(frozen=True)
class FiredAlert:
    """An alert that fired during an incident, from Prometheus's `ALERTS`."""

    alert: str
    severity: str
    first: datetime
    last: datetime


def who_default() -> str:
    """The operator's name when none is given: the login name."""
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"


def check_priority(value: str) -> Priority:
    """`P1`..`P4` (case-insensitive), or a named error."""
    upper = value.strip().upper()
    if upper not in PRIORITIES:
        raise InvalidPriority(f"priority {value!r}: choose one of {', '.join(PRIORITIES)}")
    return upper  # type: ignore[return-value]


def _key(incident_id: str) -> str:
    return f"incidents/{incident_id}.json"


def postmortem_key(incident_id: str) -> str:
    return f"incidents/{incident_id}.postmortem.md"


def save(store: BackupStore, incident: Incident) -> None:
    store.upload(_key(incident.id), io.BytesIO(incident.model_dump_json(indent=2).encode()))


def load(store: BackupStore, incident_id: str) -> Incident:
    buffer = io.BytesIO()
    try:
        store.download(_key(incident_id), buffer)
    except ObjectNotFound:
        raise IncidentNotFound(f"no incident {incident_id!r} in {store.location}") from None
    return Incident.model_validate_json(buffer.getvalue())


def list_incidents(store: BackupStore) -> list[Incident]:
    """Every incident in the store, oldest first."""
    found = [
        load(store, obj.key.removeprefix("incidents/").removesuffix(".json"))
        for obj in store.list("incidents/")
        if obj.key.endswith(".json")
    ]
    return sorted(found, key=lambda i: i.opened_at)


def open_incident(
    store: BackupStore, title: str, priority: str, who: str, *, now: datetime | None = None
) -> Incident:
    """A new incident, `INC-<date>-<n>`, its timeline starting with who opened it."""
    at = now or datetime.now(UTC)
    prefix = f"INC-{at:%Y%m%d}-"
    taken = [o.key for o in store.list(f"incidents/{prefix}") if o.key.endswith(".json")]
    incident = Incident(
        id=f"{prefix}{len(taken) + 1}",
        title=title.strip(),
        priority=check_priority(priority),
        opened_at=at,
        timeline=[Entry(at=at, who=who, kind="opened", text=f"{priority.upper()}: {title}")],
    )
    save(store, incident)
    return incident


def add_note(
    store: BackupStore,
    incident_id: str,
    text: str,
    who: str,
    *,
    priority: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Append a note (and a priority change, if given) to an open incident's timeline."""
    incident = _open(store, incident_id)
    at = now or datetime.now(UTC)
    if priority is not None:
        new = check_priority(priority)
        incident.timeline.append(
            Entry(at=at, who=who, kind="priority", text=f"{incident.priority} → {new}")
        )
        incident.priority = new
    if text:
        incident.timeline.append(Entry(at=at, who=who, kind="note", text=text))
    save(store, incident)
    return incident


def close_incident(
    store: BackupStore,
    incident_id: str,
    resolution: str,
    who: str,
    *,
    prometheus_url: str | None = None,
    now: datetime | None = None,
) -> tuple[Incident, str]:
    """Close an open incident and write its postmortem skeleton; returns both."""
    incident = _open(store, incident_id)
    at = now or datetime.now(UTC)
    incident.closed_at = at
    incident.resolution = resolution
    incident.timeline.append(Entry(at=at, who=who, kind="closed", text=resolution))
    alerts = (
        fired_alerts(prometheus_url, incident.opened_at - ALERTS_BEFORE_OPEN, at)
        if prometheus_url
        else None
    )
    markdown = postmortem(incident, alerts)
    save(store, incident)
    store.upload(postmortem_key(incident.id), io.BytesIO(markdown.encode()))
    return incident, markdown


def _open(store: BackupStore, incident_id: str) -> Incident:
    incident = load(store, incident_id)
    if not incident.is_open:
        raise IncidentClosed(f"{incident_id} was closed at {incident.closed_at:%Y-%m-%d %H:%M} UTC")
    return incident


def fired_alerts(prometheus_url: str, start: datetime, end: datetime) -> list[FiredAlert]:
    """The alerts that fired between `start` and `end`, first firing first."""
    step = max(15, int((end - start).total_seconds() // 10_000) + 1)
    body = prometheus_api(
        prometheus_url,
        "query_range",
        {
            "query": 'ALERTS{alertstate="firing"}',
            "start": f"{start.timestamp():.0f}",
            "end": f"{end.timestamp():.0f}",
            "step": f"{step}s",
        },
    )
    fired: dict[tuple[str, str], list[float]] = {}
    for series in body["data"]["result"]:
        labels: dict[str, str] = series["metric"]
        key = (labels.get("alertname", "?"), labels.get("severity", ""))
        times = [float(t) for t, _ in series["values"]]
        fired.setdefault(key, []).extend(times)
    alerts = [
        FiredAlert(alert, severity, _utc(min(ts)), _utc(max(ts)))
        for (alert, severity), ts in fired.items()
    ]
    return sorted(alerts, key=lambda a: (a.first, a.alert))


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def postmortem(incident: Incident, alerts: list[FiredAlert] | None) -> str:
    """The postmortem skeleton in Markdown: facts filled in, judgement left to people."""
    priority = PRIORITIES[incident.priority]
    duration = _minutes(incident.duration) if incident.duration is not None else "ongoing"
    lines = [
        f"# Postmortem {incident.id}: {incident.title}",
        "",
        f"- Priority: **{incident.priority}** ({priority.name}: {priority.response})",
        f"- Opened: {incident.opened_at:%Y-%m-%d %H:%M} UTC · Closed: "
        + (f"{incident.closed_at:%Y-%m-%d %H:%M} UTC" if incident.closed_at else "—")
        + f" · Duration: {duration}",
        f"- Resolution: {incident.resolution or '—'}",
        f"- People: {', '.join(sorted({e.who for e in incident.timeline}))}",
        "",
        "## Summary",
        "",
        "_What happened, in two or three sentences a newcomer understands._",
        "",
        "## Impact",
        "",
        "_Users affected, requests or alerts lost or late, SLO error budget spent "
        "(`pricealert slo budget`)._",
        "",
        "## Timeline (UTC)",
        "",
        "| time | who | what |",
        "| --- | --- | --- |",
    ]
    events: list[tuple[datetime, str, str]] = [
        (e.at, e.who, f"{e.kind}: {e.text}") for e in incident.timeline
    ]
    events += [
        (a.first, "Prometheus", f"alert {a.alert} ({a.severity}) firing") for a in alerts or []
    ]
    for at, who, what in sorted(events, key=lambda e: e[0]):
        lines.append(f"| {at:%Y-%m-%d %H:%M:%S} | {who} | {what.replace('|', '/')} |")
    lines += ["", "## Alerts that fired", ""]
    if alerts is None:
        lines.append("_Not read: close with `--prometheus URL` to list them._")
    elif not alerts:
        lines.append(
            f"None from {ALERTS_BEFORE_OPEN.seconds // 60} min before the opening to the close: "
            "how was this incident detected, and which alert should have fired?"
        )
    else:
        lines += ["| alert | severity | first firing | last firing |", "| --- | --- | --- | --- |"]
        for a in alerts:
            lines.append(f"| {a.alert} | {a.severity} | {a.first:%H:%M} | {a.last:%H:%M} |")
    lines += [
        "",
        "## Root cause",
        "",
        "_Why it happened (five whys), not who._",
        "",
        "## What went well, what did not",
        "",
        "## Action items (plan 7.2: 改善計画策定)",
        "",
        "| action | owner | due | ticket |",
        "| --- | --- | --- | --- |",
        "| | | | |",
        "",
    ]
    return "\n".join(lines)


def incidents_json(incidents: list[Incident]) -> list[dict[str, Any]]:
    """Incidents as JSON, for the quarterly review and `incident list --json`."""
    return [json.loads(i.model_dump_json()) for i in incidents]
