"""availability said exactly; in_stock derived from it

Revision ID: 315ed5e22cd9
Revises: 5c1e9a7d3b42
Create Date: 2026-12-03 07:30:00.000000

- `product.availability` and `price_history.availability`: the schema.org
  ItemAvailability name (InStock, LimitedAvailability, InStoreOnly, OnlineOnly,
  OutOfStock, SoldOut, Discontinued, PreOrder, PreSale, BackOrder) or NULL,
  CHECKed. Existing rows are backfilled from `in_stock`: true → InStock,
  false → OutOfStock, null → null (the finer value was never stored).
- `in_stock` becomes a stored generated column, `availability IN (InStock,
  LimitedAvailability, InStoreOnly, OnlineOnly)` (null when availability is):
  one source of truth, so no writer can store a pair that disagrees, and every
  reader of `in_stock` keeps working. Writers set `availability` only (an
  INSERT or UPDATE naming `in_stock` is refused by PostgreSQL).

Cost: the backfill rewrites every row, and adding the generated column rewrites
both tables again under an ACCESS EXCLUSIVE lock (PostgreSQL 15 cannot turn an
existing column into a generated one). With the history at ~280 bytes a row that
is seconds per million rows: run it in a quiet window, scrapers stopped (they
refuse to start on an older schema anyway).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pricealert.migrations._ddl import one_of

revision: str = "315ed5e22cd9"
down_revision: str | None = "5c1e9a7d3b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out, not imported: a migration must not change when the code does.
_NAMES = (
    "InStock", "LimitedAvailability", "InStoreOnly", "OnlineOnly", "OutOfStock", "SoldOut",
    "Discontinued", "PreOrder", "PreSale", "BackOrder",
)  # fmt: skip
_ORDERABLE_NOW = _NAMES[:4]
_TABLES = ("product", "price_history")
_KNOWN = one_of("availability", _NAMES)  # the CHECK
_IN_STOCK = one_of("availability", _ORDERABLE_NOW)  # what in_stock is generated as


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("availability", sa.Text(), nullable=True))
        op.create_check_constraint(op.f(f"ck_{table}_availability"), table, _KNOWN)
        op.execute(
            f"UPDATE {table} SET availability = "  # noqa: S608 - constant table names
            "CASE WHEN in_stock THEN 'InStock' ELSE 'OutOfStock' END WHERE in_stock IS NOT NULL"
        )
        op.drop_column(table, "in_stock")
        op.add_column(
            table,
            sa.Column("in_stock", sa.Boolean(), sa.Computed(_IN_STOCK, persisted=True)),
        )


def downgrade() -> None:
    for table in _TABLES:
        op.drop_column(table, "in_stock")
        op.add_column(table, sa.Column("in_stock", sa.Boolean(), nullable=True))
        op.execute(f"UPDATE {table} SET in_stock = {_IN_STOCK}")  # noqa: S608
        op.drop_constraint(op.f(f"ck_{table}_availability"), table, type_="check")
        op.drop_column(table, "availability")
