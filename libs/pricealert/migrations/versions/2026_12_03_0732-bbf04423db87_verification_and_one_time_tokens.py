"""verified addresses, held deliveries and one-time tokens

Revision ID: bbf04423db87
Revises: 315ed5e22cd9
Create Date: 2026-11-30 09:00:00.000000

- `app_user.email_verified_at`: set when the user entered the code mailed to their
  address; key recovery mails only verified addresses. Existing users start
  unverified (they never proved their address) and can verify with their key at any time.
- `channel.verified_at`: email and SMS channels are held until their target enters a
  code. Channels that exist before this revision are taken as verified at their
  creation: they were accepted under the old rules, and holding every existing
  user's alerts without a code ever sent would lose them silently.
- `notification.status` also takes `held` (channel not verified yet; released when it
  is) and `expired` (held too long to be worth sending), with a partial index over the
  held ones.
- `one_time_token`: verification codes and recovery tokens (hashed), and the outbox
  of the messages that carry them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pricealert.migrations._ddl import fk, index, now_column, one_of, replace_check

revision: str = "bbf04423db87"
down_revision: str | None = "315ed5e22cd9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATUSES = ("pending", "sent", "failed", "suppressed", "cooldown", "capped")
_NEW_STATUSES = (*_OLD_STATUSES, "held", "expired")


def upgrade() -> None:
    op.add_column(
        "app_user", sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("channel", sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE channel SET verified_at = created_at")
    replace_check("ck_notification_status", "notification", one_of("status", _NEW_STATUSES))
    index("ix_notification_held", "notification", ["channel_id"], where="status = 'held'")
    op.create_table(
        "one_time_token",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("send_status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("send_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("send_lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("send_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        now_column("created_at"),
        sa.CheckConstraint(
            "purpose IN ('email_verification', 'channel_verification', 'key_recovery', 'sign_in')",
            name=op.f("ck_one_time_token_purpose"),
        ),
        sa.CheckConstraint("via IN ('email', 'sms')", name=op.f("ck_one_time_token_via")),
        sa.CheckConstraint(
            "send_status IN ('pending', 'sent', 'failed')",
            name=op.f("ck_one_time_token_send_status"),
        ),
        fk("one_time_token", "channel_id", "channel", "CASCADE"),
        fk("one_time_token", "user_id", "app_user", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_token")),
    )
    index("ix_one_time_token_user_purpose", "one_time_token", ["user_id", "purpose", "created_at"])
    index("ix_one_time_token_channel_id", "one_time_token", ["channel_id"])
    index(
        "ix_one_time_token_unsent",
        "one_time_token",
        ["created_at"],
        where="send_status = 'pending'",
    )


def downgrade() -> None:
    op.drop_table("one_time_token")
    op.drop_index("ix_notification_held", table_name="notification")
    # Held deliveries go back to pending (delivered as before this revision); expired stay
    # in the log as failed.
    op.execute("UPDATE notification SET status = 'pending' WHERE status = 'held'")
    op.execute("UPDATE notification SET status = 'failed' WHERE status = 'expired'")
    replace_check("ck_notification_status", "notification", one_of("status", _OLD_STATUSES))
    op.drop_column("channel", "verified_at")
    op.drop_column("app_user", "email_verified_at")
