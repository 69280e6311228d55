"""evaluation marks and the withheld statuses of the delivery log

Revision ID: 2f7063ecafec
Revises: 71dbbbe8ead6
Create Date: 2026-11-28 21:20:00.000000

- `price_history.evaluated_at`: set when the evaluator has applied the rules to
  the row; the evaluator's sweeper re-issues rows left unevaluated (a lost job).
  Rows that exist before this revision are marked evaluated at their detection
  time, so deploying it does not replay old history as alerts.
- `ix_price_history_unevaluated`: the sweeper's partial index (tiny: only rows
  in flight).
- `notification.status` also takes `suppressed`, `cooldown` and `capped`: a
  firing withheld (currency change or suspicious price, rule cooldown, daily
  cap) is recorded in the delivery log with its reason, never delivered.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pricealert.migrations._ddl import index, one_of, replace_check

revision: str = "2f7063ecafec"
down_revision: str | None = "71dbbbe8ead6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATUSES = ("pending", "sent", "failed")
_NEW_STATUSES = (*_OLD_STATUSES, "suppressed", "cooldown", "capped")


def upgrade() -> None:
    op.add_column(
        "price_history", sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute("UPDATE price_history SET evaluated_at = first_seen_at")
    index(
        "ix_price_history_unevaluated",
        "price_history",
        ["first_seen_at"],
        where="evaluated_at IS NULL",
    )
    replace_check("ck_notification_status", "notification", one_of("status", _NEW_STATUSES))


def downgrade() -> None:
    op.execute("DELETE FROM notification WHERE status IN ('suppressed', 'cooldown', 'capped')")
    replace_check("ck_notification_status", "notification", one_of("status", _OLD_STATUSES))
    op.drop_index("ix_price_history_unevaluated", table_name="price_history")
    op.drop_column("price_history", "evaluated_at")
