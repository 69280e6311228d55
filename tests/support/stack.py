"""Moved to `pricealert_ops.devtools.stack`; re-exported so existing imports keep working."""

from pricealert_ops.devtools.stack import (
    FAST_SETTINGS,
    WORKERS,
    Api,
    ChildProcess,
    Stack,
    StackError,
    free_metrics_base,
    free_port,
    processes_in_group,
    reset_database,
    with_path,
)

__all__ = [
    "FAST_SETTINGS",
    "WORKERS",
    "Api",
    "ChildProcess",
    "Stack",
    "StackError",
    "free_metrics_base",
    "free_port",
    "processes_in_group",
    "reset_database",
    "with_path",
]
