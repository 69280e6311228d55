"""web sign-in: session keys, the user's time zone and language

Revision ID: 9e4b7c21d5a8
Revises: bbf04423db87
Create Date: 2026-12-03 09:00:00.000000

- `api_key.kind`: `api` (every existing key: made by the user, at sign-up or recovery) or
  `session` (made by a web sign-in link for one browser; it expires on its own, is revoked
  at sign-out, and is not counted as "another working key" when the user revokes an API
  key).
- `app_user.time_zone` (IANA name, `UTC` for existing users) and `app_user.locale` (`en`,
  `ja` or NULL: the browser's language), which the web UI shows times and words in.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9e4b7c21d5a8"
down_revision: str | None = "bbf04423db87"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_key", sa.Column("kind", sa.String(length=16), server_default="api", nullable=False)
    )
    op.create_check_constraint(op.f("ck_api_key_kind"), "api_key", "kind IN ('api', 'session')")
    op.add_column(
        "app_user",
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
    )
    op.add_column("app_user", sa.Column("locale", sa.String(length=8), nullable=True))
    op.create_check_constraint(op.f("ck_app_user_locale"), "app_user", "locale IN ('en', 'ja')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_app_user_locale"), "app_user", type_="check")
    op.drop_column("app_user", "locale")
    op.drop_column("app_user", "time_zone")
    op.drop_constraint(op.f("ck_api_key_kind"), "api_key", type_="check")
    op.drop_column("api_key", "kind")
