"""The part of Fluent Bit our configuration uses, read from the config files themselves.

No Fluent Bit binary can be installed here (Debian has no package; only Debian,
PyPI and npm are reachable), so the routing is checked by applying the config's
own filters and outputs to records: `[FILTER] parser` (JSON from `log`,
Reserve_Data), `[FILTER] rewrite_tag` (`$key REGEX NEW_TAG KEEP`), `Match` /
`Match_Regex` of outputs, `@INCLUDE` of files. Semantics that are not modelled
make the loader fail rather than pass silently.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True)
class Section:
    kind: str
    fields: dict[str, str]


def load(path: Path, root: Path) -> list[Section]:
    """Sections of a config file in order, includes expanded (absolute paths mapped to `root`)."""
    sections: list[Section] = []
    current: Section | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@INCLUDE"):
            target = line.split(None, 1)[1]
            included = root / Path(target).name if target.startswith("/") else path.parent / target
            sections.extend(load(included, root))
            current = None
        elif line.startswith("["):
            current = Section(line.strip("[]").upper(), {})
            sections.append(current)
        else:
            assert current is not None, f"{path}: {line!r} outside a section"
            key, value = line.split(None, 1)
            current.fields[key] = value
    return sections


def _matches(fields: dict[str, str], tag: str) -> bool:
    if "Match_Regex" in fields:
        return re.search(fields["Match_Regex"], tag) is not None
    return fnmatch.fnmatchcase(tag, fields["Match"])


def _value(record: Record, expression: str) -> str:
    return re.sub(r"\$(\w+)", lambda m: str(record.get(m.group(1), "")), expression)


def _filter(section: Section, tag: str, record: Record) -> tuple[str, Record, bool]:
    """Apply one filter: (tag, record, re-emitted from the start)."""
    name = section.fields["Name"]
    if name == "parser":
        assert section.fields["Parser"] == "pricealert_json"
        assert section.fields.get("Reserve_Data") == "On"
        try:
            parsed = json.loads(record[section.fields["Key_Name"]])
        except (KeyError, ValueError):
            return tag, record, False
        if not isinstance(parsed, dict):
            return tag, record, False
        rest = {k: v for k, v in record.items() if k != section.fields["Key_Name"]}
        return tag, {**rest, **parsed}, False
    if name == "rewrite_tag":
        key, regex, new_tag, keep = section.fields["Rule"].split()
        if re.search(regex, str(record.get(key.lstrip("$"), ""))) is None:
            return tag, record, False
        assert keep == "false", "keeping the original record is not modelled"
        return _value(record, new_tag), record, True
    raise AssertionError(f"filter {name} is not modelled")


def route(sections: list[Section], tag: str, record: Record) -> list[str]:
    """The index families (Logstash_Prefix) a record ends in."""
    filters = [s for s in sections if s.kind == "FILTER"]
    index = 0
    while index < len(filters):
        section = filters[index]
        index += 1
        if _matches(section.fields, tag):
            tag, record, again = _filter(section, tag, record)
            if again:  # rewrite_tag emits the record anew: the whole chain again
                index = 0
    return [
        s.fields["Logstash_Prefix"]
        for s in sections
        if s.kind == "OUTPUT" and _matches(s.fields, tag)
    ]
