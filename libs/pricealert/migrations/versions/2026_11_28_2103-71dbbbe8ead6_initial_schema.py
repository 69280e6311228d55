"""initial schema

Revision ID: 71dbbbe8ead6
Revises:
Create Date: 2026-11-28 21:03:18.592684
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from pricealert.migrations._ddl import fk, index, now_column

revision: str = "71dbbbe8ead6"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("daily_notification_cap", sa.Integer(), server_default="100", nullable=False),
        sa.Column("daily_sms_cap", sa.Integer(), server_default="10", nullable=False),
        now_column("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("email", name=op.f("uq_app_user_email")),
    )
    op.create_table(
        "product",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("selector", sa.Text(), server_default="", nullable=False),
        sa.Column("stock_selector", sa.Text(), server_default="", nullable=False),
        sa.Column("check_interval_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("price", sa.Numeric(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("in_stock", sa.Boolean(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        now_column("next_check_at"),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_result", sa.String(length=32), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        now_column("created_at"),
        now_column("updated_at"),
        sa.CheckConstraint(
            "status IN ('active', 'failing', 'paused')", name=op.f("ck_product_status")
        ),
        sa.CheckConstraint("check_interval_seconds > 0", name=op.f("ck_product_interval_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product")),
        sa.UniqueConstraint("url", "selector", "stock_selector", name="uq_product_recipe"),
    )
    index("ix_product_due", "product", ["next_check_at"], where="status <> 'paused'")
    op.create_table(
        "api_key",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        now_column("created_at"),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        fk("api_key", "user_id", "app_user", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    index("ix_api_key_user_id", "api_key", ["user_id"])
    op.create_table(
        "channel",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        now_column("created_at"),
        sa.CheckConstraint(
            "kind IN ('email', 'sms', 'slack', 'webhook')", name=op.f("ck_channel_kind")
        ),
        fk("channel", "user_id", "app_user", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel")),
    )
    index("ix_channel_user_created", "channel", ["user_id", "created_at", "id"])
    op.create_table(
        "price_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.Numeric(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("in_stock", sa.Boolean(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checks", sa.Integer(), server_default="1", nullable=False),
        sa.Column("suspicious", sa.Boolean(), server_default="false", nullable=False),
        fk("price_history", "product_id", "product", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_history")),
    )
    index("ix_price_history_product_seen", "price_history", ["product_id", "first_seen_at"])
    op.create_table(
        "watch",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("check_interval_seconds", sa.Integer(), nullable=False),
        now_column("created_at"),
        fk("watch", "product_id", "product", "CASCADE"),
        fk("watch", "user_id", "app_user", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch")),
        sa.UniqueConstraint("user_id", "product_id", name="uq_watch_user_product"),
    )
    index("ix_watch_product_id", "watch", ["product_id"])
    index("ix_watch_user_created", "watch", ["user_id", "created_at", "id"])
    op.create_table(
        "alert_rule",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("watch_id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Numeric(), nullable=True),
        sa.Column("cooldown_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "state",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        now_column("created_at"),
        now_column("updated_at"),
        sa.CheckConstraint(
            "kind IN ('below', 'drop_percent', 'change', 'back_in_stock', 'lowest_ever')",
            name=op.f("ck_alert_rule_kind"),
        ),
        sa.CheckConstraint(
            "cooldown_seconds >= 0", name=op.f("ck_alert_rule_cooldown_non_negative")
        ),
        fk("alert_rule", "product_id", "product", "CASCADE"),
        fk("alert_rule", "user_id", "app_user", "CASCADE"),
        fk("alert_rule", "watch_id", "watch", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rule")),
    )
    index("ix_alert_rule_product_id", "alert_rule", ["product_id"])
    index("ix_alert_rule_user_created", "alert_rule", ["user_id", "created_at", "id"])
    op.create_table(
        "alert_rule_channel",
        sa.Column("rule_id", sa.UUID(), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=False),
        fk("alert_rule_channel", "channel_id", "channel", "CASCADE"),
        fk("alert_rule_channel", "rule_id", "alert_rule", "CASCADE"),
        sa.PrimaryKeyConstraint("rule_id", "channel_id", name=op.f("pk_alert_rule_channel")),
    )
    index("ix_alert_rule_channel_channel_id", "alert_rule_channel", ["channel_id"])
    op.create_table(
        "notification",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("rule_id", sa.UUID(), nullable=True),
        sa.Column("channel_id", sa.UUID(), nullable=True),
        sa.Column("product_id", sa.BigInteger(), nullable=True),
        sa.Column("history_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_kind", sa.String(length=16), nullable=False),
        sa.Column("rule_kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        now_column("next_attempt_at"),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        now_column("created_at"),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name=op.f("ck_notification_status")
        ),
        fk("notification", "channel_id", "channel", "SET NULL"),
        fk("notification", "history_id", "price_history", "SET NULL"),
        fk("notification", "product_id", "product", "SET NULL"),
        fk("notification", "rule_id", "alert_rule", "SET NULL"),
        fk("notification", "user_id", "app_user", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("rule_id", "channel_id", "history_id", name="uq_notification_firing"),
    )
    index("ix_notification_due", "notification", ["next_attempt_at"], where="status = 'pending'")
    index("ix_notification_user_created", "notification", ["user_id", "created_at", "id"])


def downgrade() -> None:
    # Each table's indexes and constraints go with it; a referencing table goes first.
    for table in (
        "notification", "alert_rule_channel", "alert_rule", "watch", "price_history",
        "channel", "api_key", "product", "app_user",
    ):  # fmt: skip
        op.drop_table(table)
