"""The JSON log line shape of DESIGN.md ("Logs"), as a checker.

`check_log_line` returns the problems of one parsed line (empty when it fits);
tests run it on every service's real output. Retention routing depends on
`category` and `level`, so those are checked against the fixed value sets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

LEVELS: Final = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
CATEGORIES: Final = frozenset({"application", "security", "access", "database"})
REQUIRED_STR: Final = ("logger", "message", "module", "function", "service")
JOB_FIELDS: Final = ("job_id", "job_try", "queue")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _timestamp_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "timestamp: must be an ISO 8601 string"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"timestamp: {value!r} is not ISO 8601"
    if parsed.utcoffset() != timedelta(0):
        return f"timestamp: {value!r} is not UTC"
    return None


def _exception_problems(value: Any) -> list[str]:
    if not isinstance(value, Mapping):
        return ["exception: must be an object with type, message, traceback"]
    return [
        f"exception.{key}: must be a string"
        for key in ("type", "message", "traceback")
        if not isinstance(value.get(key), str)
    ]


def check_log_line(line: Mapping[str, Any], *, require: Iterable[str] = ()) -> list[str]:
    """Problems of one parsed log line against DESIGN.md's shape; `require` adds fields."""
    problems = []
    if "timestamp" not in line:
        problems.append("timestamp: missing")
    elif (problem := _timestamp_problem(line["timestamp"])) is not None:
        problems.append(problem)
    if line.get("level") not in LEVELS:
        problems.append(f"level: {line.get('level')!r} is not one of {sorted(LEVELS)}")
    if line.get("category") not in CATEGORIES:
        problems.append(f"category: {line.get('category')!r} is not one of {sorted(CATEGORIES)}")
    for key in REQUIRED_STR:
        if not isinstance(line.get(key), str) or (key != "message" and not line[key]):
            problems.append(f"{key}: missing or not a non-empty string")
    if not _is_int(line.get("line")) or line["line"] < 0:
        problems.append("line: missing or not a non-negative integer")
    if "exception" in line:
        problems.extend(_exception_problems(line["exception"]))
    for key in ("request_id", "job_id", "queue"):
        if key in line and not isinstance(line[key], str):
            problems.append(f"{key}: must be a string")
    if "user_id" in line and not (isinstance(line["user_id"], str) or _is_int(line["user_id"])):
        problems.append("user_id: must be a string or an integer")
    if "job_try" in line and not (_is_int(line["job_try"]) and line["job_try"] >= 1):
        problems.append("job_try: must be an integer >= 1")
    problems.extend(f"{key}: missing" for key in require if key not in line)
    return problems


def check_log_text(text: str, *, require: Iterable[str] = ()) -> list[str]:
    """Problems of one raw output line: it must be a JSON object of the documented shape."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"not JSON: {exc.msg}"]
    if not isinstance(parsed, dict):
        return ["not a JSON object"]
    return check_log_line(parsed, require=require)
