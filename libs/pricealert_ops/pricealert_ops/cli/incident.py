"""`pricealert incident open|note|close|list`: the incident record of plan 7.2.

    incident open TITLE --priority P1..P4 [--who NAME]
    incident note ID TEXT [--priority P2] [--who NAME]
    incident close ID --resolution TEXT [--prometheus URL] [--who NAME]
    incident list [--json]

Records live in PRICEALERT_INCIDENT_STORE (S3 or file://; default .local/incidents/);
`close` prints the postmortem skeleton and stores it beside the record.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pricealert.cli import CommandError, add_command
from pricealert_ops import incident
from pricealert_ops.cli import add_group


def register(subparsers: Any) -> None:
    commands = add_group(subparsers, "incident")
    priorities = ", ".join(
        f"{p.priority} {p.name} ({p.severity} alerts)" for p in incident.PRIORITIES.values()
    )

    opened = add_command(commands, "open", _open, "Open an incident; prints its id.")
    opened.add_argument("title")
    opened.add_argument("--priority", required=True, help=priorities)
    _who(opened)

    note = add_command(commands, "note", _note, "Add a note to an open incident's timeline.")
    note.add_argument("id")
    note.add_argument("text", nargs="?", default="")
    note.add_argument("--priority", help="change the priority (recorded in the timeline)")
    _who(note)

    close = add_command(
        commands, "close", _close, "Close an incident and write its postmortem skeleton."
    )
    close.add_argument("id")
    close.add_argument("--resolution", required=True, help="what ended it")
    close.add_argument(
        "--prometheus", metavar="URL", help="list the alerts that fired (Prometheus ALERTS)"
    )
    _who(close)

    listing = add_command(commands, "list", _list, "List the incidents, newest first.")
    listing.add_argument("--json", action="store_true")


def _who(command: argparse.ArgumentParser) -> None:
    command.add_argument("--who", default=None, help="who acts (default: the login name)")


def _store() -> Any:
    return incident.IncidentSettings().store()


def _open(args: argparse.Namespace) -> int:
    opened = incident.open_incident(
        _store(), args.title, args.priority, args.who or incident.who_default()
    )
    answer = incident.PRIORITIES[opened.priority]
    print(f"{opened.id} opened ({opened.priority}: {answer.response})")
    return 0


def _note(args: argparse.Namespace) -> int:
    if not args.text and args.priority is None:
        raise CommandError("nothing_to_note", "give a TEXT, a --priority, or both")
    noted = incident.add_note(
        _store(), args.id, args.text, args.who or incident.who_default(), priority=args.priority
    )
    print(f"{noted.id}: {len(noted.timeline)} timeline entries, {noted.priority}")
    return 0


def _close(args: argparse.Namespace) -> int:
    store = _store()
    closed, markdown = incident.close_incident(
        store,
        args.id,
        args.resolution,
        args.who or incident.who_default(),
        prometheus_url=args.prometheus,
    )
    print(markdown)
    print(
        f"{closed.id} closed; postmortem at {store.location}/{incident.postmortem_key(closed.id)}"
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    found = list(reversed(incident.list_incidents(_store())))
    if args.json:
        print(json.dumps(incident.incidents_json(found), indent=2, ensure_ascii=False))
        return 0
    for item in found:
        state = "open" if item.is_open else f"closed after {item.duration}"
        print(
            f"{item.id}  {item.priority}  {item.opened_at:%Y-%m-%d %H:%M}Z  {state}  {item.title}"
        )
    return 0
