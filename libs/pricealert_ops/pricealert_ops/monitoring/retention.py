"""Plan 3.2's retention table → OpenSearch ISM policies and Fluent Bit index routing.

`monitoring/logging/retention.yaml` is the one table; this module resolves each
(category, level) pair to an index family, renders one ISM policy per family
(delete `days` after the daily index was created) and the Fluent Bit outputs
that send each routed tag (`pricealert.<category>.<LEVEL>`) to its family.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field

UNROUTED: Final = "pricealert-unrouted"


class Retention(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    category: str
    level: str
    days: int = Field(gt=0)
    content: str

    @property
    def family(self) -> str:
        """Index family (daily indices `<family>-YYYY.MM.DD`) these lines go to."""
        return f"pricealert-{self.category}-{self.level.lower()}"


class RetentionTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    levels: list[str]
    retention: list[Retention]
    unrouted_days: int = Field(gt=0)

    @property
    def categories(self) -> list[str]:
        """Categories in table order."""
        return list(dict.fromkeys(row.category for row in self.retention))

    def route(self, category: str, level: str) -> Retention | None:
        """The row a line of this category and level is kept under; None: unrouted."""
        rows = {row.level: row for row in self.retention if row.category == category}
        if not rows or level not in self.levels:
            return None
        rank = self.levels.index(level)
        at_or_below = [lv for lv in self.levels[: rank + 1] if lv in rows]
        chosen = at_or_below[-1] if at_or_below else next(lv for lv in self.levels if lv in rows)
        return rows[chosen]


def load_table(path: Path) -> RetentionTable:
    """Read `monitoring/logging/retention.yaml`."""
    return RetentionTable.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def ism_policy(description: str, index_pattern: str, days: int) -> dict[str, Any]:
    """An ISM policy that deletes indices of `index_pattern` `days` after creation."""
    return {
        "policy": {
            "description": description,
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [],
                    "transitions": [
                        {"state_name": "delete", "conditions": {"min_index_age": f"{days}d"}}
                    ],
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
            "ism_template": [{"index_patterns": [f"{index_pattern}-*"], "priority": 100}],
        }
    }


def render_policies(table: RetentionTable) -> dict[str, str]:
    """File name → JSON text of every ISM policy (one per family, plus unrouted)."""
    files = {
        f"{row.family}.json": ism_policy(
            f"PriceAlert {row.category} {row.level} logs ({row.content}): "
            f"kept {row.days} days (ops plan 3.2)",
            row.family,
            row.days,
        )
        for row in table.retention
    }
    files[f"{UNROUTED}.json"] = ism_policy(
        f"PriceAlert lines without a known category: kept {table.unrouted_days} days",
        UNROUTED,
        table.unrouted_days,
    )
    return {name: json.dumps(body, indent=2) + "\n" for name, body in sorted(files.items())}


#: How each deployment authenticates to OpenSearch: compose with a user, AWS with the task role.
AUTH: Final = {
    "compose": (
        "    HTTP_User          ${OPENSEARCH_USER}",
        "    HTTP_Passwd        ${OPENSEARCH_PASSWORD}",
    ),
    "aws": (
        "    AWS_Auth           On",
        "    AWS_Region         ${OPENSEARCH_AWS_REGION}",
    ),
}


def _output(family: str, match: str, auth: str) -> str:
    return "\n".join(
        [
            "[OUTPUT]",
            "    Name               opensearch",
            f"    Match_Regex        {match}",
            "    Host               ${OPENSEARCH_HOST}",
            "    Port               ${OPENSEARCH_PORT}",
            *AUTH[auth],
            "    tls                ${OPENSEARCH_TLS}",
            "    Logstash_Format    On",
            f"    Logstash_Prefix    {family}",
            "    Suppress_Type_Name On",
            "    Trace_Error        On",
            "    Retry_Limit        False",
            "",
        ]
    )


def render_outputs(table: RetentionTable, auth: str = "compose") -> str:
    """Fluent Bit `[OUTPUT]` sections: each routed tag to its family, the rest to unrouted.

    `auth` is `compose` (user and password) or `aws` (SigV4 with the task role, FireLens);
    the routes are the same.
    """
    tags: dict[str, list[str]] = {}
    for category in table.categories:
        for level in table.levels:
            row = table.route(category, level)
            assert row is not None  # every listed category has at least one row
            tags.setdefault(row.family, []).append(f"{category}\\.{level}")
    sections = [
        "# Generated from retention.yaml by `python -m pricealert_ops.monitoring generate`;",
        "# do not edit. Tags are set by the rewrite_tag filter in pipeline.conf.",
        "",
    ]
    for family, pairs in tags.items():
        sections.append(_output(family, f"^pricealert\\.({'|'.join(pairs)})$", auth))
    # Anything that did not get a pricealert.<category>.<LEVEL> tag: keep it.
    routed = "|".join(table.categories)
    levels = "|".join(table.levels)
    sections.append(_output(UNROUTED, f"^(?!pricealert\\.({routed})\\.({levels})$).*", auth))
    return "\n".join(sections)
