"""What the revisions spell alike, said once: now()-stamped columns, keys, indexes, CHECKs.

Migration code, not runtime code: it imports nothing from the models (a revision must not
change when the code does). Revisions already applied call it, so what a helper emits must
never change; a new need is a new helper, or a new argument whose default emits the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op


def now_column(name: str) -> sa.Column[datetime]:
    """A timestamp with time zone, NOT NULL, defaulting to now() (`created_at`, a due time)."""
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    """`table.column` references `target.id`; named `fk_<table>_<column>_<target>`."""
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def index(
    name: str,
    table: str,
    columns: Sequence[str],
    *,
    where: str | None = None,
    include: Sequence[str] = (),
    concurrently: bool = False,
) -> None:
    """CREATE INDEX: partial with `where`, covering with `include`; dropped with plain
    `op.drop_index` (or `drop_index_concurrently`).

    `concurrently`: CREATE INDEX CONCURRENTLY, inside `op.get_context().autocommit_block()`.
    A build that failed half-way leaves an INVALID index of its name behind: dropped first
    (while the step that builds it is not applied, no valid index of that name exists).
    """
    if concurrently:
        drop_index_concurrently(name, table)
    op.create_index(
        name,
        table,
        list(columns),
        unique=False,
        postgresql_where=sa.text(where) if where else None,
        postgresql_include=list(include),
        postgresql_concurrently=concurrently,
    )


def drop_index_concurrently(name: str, table: str) -> None:
    """DROP INDEX CONCURRENTLY IF EXISTS, inside `op.get_context().autocommit_block()`."""
    op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)


def replace_check(name: str, table: str, condition: str) -> None:
    """The CHECK constraint `name` of `table` becomes `condition` (dropped, created again)."""
    op.drop_constraint(op.f(name), table, type_="check")
    op.create_check_constraint(op.f(name), table, condition)


def one_of(column: str, values: Sequence[str]) -> str:
    """`column IN ('a', 'b', ...)`: the condition of a CHECK over a set of names."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"
