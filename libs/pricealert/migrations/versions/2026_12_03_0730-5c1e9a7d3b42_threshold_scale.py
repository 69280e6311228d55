"""alert thresholds: bounded precision and scale, positive

Revision ID: 5c1e9a7d3b42
Revises: 2f7063ecafec
Create Date: 2026-12-03 07:30:00.000000

- `alert_rule.threshold` becomes NUMERIC(16, 4): at most 12 digits before the point
  and 4 after (the most minor units any ISO 4217 currency has), what the API accepts
  (`pricealert.money`). The API refused thresholds of 1e12 and more before this, so
  every stored one fits; one with more than 4 decimals is rounded to 4.
- `ck_alert_rule_threshold_positive`: a threshold, when there is one, is above 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "5c1e9a7d3b42"
down_revision: str | None = "2f7063ecafec"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _retype_threshold(to: sa.Numeric[Decimal], was: sa.Numeric[Decimal]) -> None:
    op.alter_column("alert_rule", "threshold", type_=to, existing_type=was, existing_nullable=True)


def upgrade() -> None:
    _retype_threshold(to=sa.Numeric(16, 4), was=sa.Numeric())
    op.create_check_constraint(
        op.f("ck_alert_rule_threshold_positive"), "alert_rule", "threshold > 0"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_alert_rule_threshold_positive"), "alert_rule", type_="check")
    _retype_threshold(to=sa.Numeric(), was=sa.Numeric(16, 4))
