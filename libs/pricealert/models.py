"""ORM models: the tables PostgreSQL keeps as the source of truth.

Tables are singular snake_case; timestamps end in `_at` and are `timestamptz`;
money is `NUMERIC` (Decimal) beside a `currency` (ISO 4217). Relationships are
`lazy="raise"`: every load is explicit, in a repository.

User-facing objects have UUID ids (nothing to enumerate); products and price
history, which only the system creates and which grow large, have bigint ids.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pricealert.availability import ORDERABLE_NOW, Availability
from pricealert.kinds import (
    VERIFIED_CHANNEL_KINDS,
    ApiKeyKind,
    ChannelKind,
    Locale,
    NotificationStatus,
    ProductStatus,
    RuleKind,
    TokenPurpose,
    TokenSendStatus,
    sql_in,
)
from pricealert.money import MAX_INTEGER_DIGITS, MAX_SCALE, plain

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The kind lists live in `pricealert.kinds` as StrEnums; these tuples are their values in
# declaration order (the order the CHECK constraints list them in).
PRODUCT_STATUSES = tuple(ProductStatus)
RULE_KINDS = tuple(RuleKind)
CHANNEL_KINDS = tuple(ChannelKind)
NOTIFICATION_STATUSES = tuple(NotificationStatus)
TOKEN_PURPOSES = tuple(TokenPurpose)
TOKEN_SEND_STATUSES = tuple(TokenSendStatus)
API_KEY_KINDS = tuple(ApiKeyKind)
USER_LOCALES = tuple(Locale)

#: The names `availability` columns take (schema.org ItemAvailability), and those in stock.
AVAILABILITIES = tuple(a.value for a in Availability)
ORDERABLE_NOW_NAMES = tuple(a.value for a in Availability if a in ORDERABLE_NOW)


class AvailabilityName(TypeDecorator[Availability]):
    """An `Availability` stored as its schema.org name (text, CHECKed by the table)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Availability | None, dialect: Dialect) -> str | None:
        return None if value is None else Availability(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> Availability | None:
        return None if value is None else Availability(value)


def _availability() -> Any:
    return mapped_column(AvailabilityName())


def _in_stock() -> Any:
    # Derived in PostgreSQL from `availability` (null when it is): one source of truth,
    # and every reader of `in_stock` (API, statistics, evaluator) sees the same mapping.
    return mapped_column(
        Boolean, Computed(sql_in("availability", ORDERABLE_NOW_NAMES), persisted=True)
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        Decimal: Numeric(),
        dict[str, Any]: JSONB,
        uuid.UUID: UUID(as_uuid=True),
    }


class Amount(TypeDecorator[Decimal]):
    """An amount a user gave: NUMERIC(16, 4) (`pricealert.money`'s bounds), read back as
    given (`90`, not the column's `90.0000`): payloads and responses show what was set."""

    impl = Numeric(MAX_INTEGER_DIGITS + MAX_SCALE, MAX_SCALE)
    cache_ok = True

    def process_result_value(self, value: Decimal | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else plain(value)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _now() -> Any:
    # Set in Python too: rows created in one transaction still get distinct, ordered times
    # (now() is the transaction's start), which keyset pagination relies on.
    return mapped_column(default=_utcnow, server_default=func.now())


class User(Base):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    daily_notification_cap: Mapped[int] = mapped_column(Integer, server_default="100")
    daily_sms_cap: Mapped[int] = mapped_column(Integer, server_default="10")
    created_at: Mapped[datetime] = _now()
    #: When the user proved they read mail at `email` (a code sent there); key recovery
    #: needs it.
    email_verified_at: Mapped[datetime | None]
    #: The IANA time zone times are shown in (web UI); UTC until the user picks one.
    time_zone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    #: The language the user picked (`USER_LOCALES`); NULL: the browser's.
    locale: Mapped[str | None] = mapped_column(String(8))

    __table_args__ = (CheckConstraint(sql_in("locale", USER_LOCALES), name="locale"),)


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex, never the key
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now()
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(String(16), server_default="api")

    __table_args__ = (
        Index("ix_api_key_user_id", "user_id"),
        CheckConstraint(sql_in("kind", API_KEY_KINDS), name="kind"),
    )


class Product(Base):
    """One row per normalised URL and extraction recipe, shared by every watcher."""

    __tablename__ = "product"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(Text)
    selector: Mapped[str] = mapped_column(Text, server_default="")
    stock_selector: Mapped[str] = mapped_column(Text, server_default="")
    check_interval_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    price: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    availability: Mapped[Availability | None] = _availability()
    in_stock: Mapped[bool | None] = _in_stock()
    title: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    next_check_at: Mapped[datetime] = mapped_column(server_default=func.now())
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    last_changed_at: Mapped[datetime | None]
    last_result: Mapped[str | None] = mapped_column(String(32))
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        UniqueConstraint("url", "selector", "stock_selector", name="uq_product_recipe"),
        CheckConstraint(sql_in("status", PRODUCT_STATUSES), name="status"),
        CheckConstraint(sql_in("availability", AVAILABILITIES), name="availability"),
        CheckConstraint("check_interval_seconds > 0", name="interval_positive"),
        # The scheduler's claim query walks this index only.
        Index(
            "ix_product_due",
            "next_check_at",
            postgresql_where=text("status <> 'paused'"),
        ),
    )


class Watch(Base):
    """A user's interest in a product: what the API calls "a product"."""

    __tablename__ = "watch"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    check_interval_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        UniqueConstraint("user_id", "product_id", name="uq_watch_user_product"),
        Index("ix_watch_product_id", "product_id"),
        Index("ix_watch_user_created", "user_id", "created_at", "id"),
    )


class PriceHistory(Base):
    """One row per distinct observed state; an unchanged check only moves `last_seen_at`."""

    __tablename__ = "price_history"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    price: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    availability: Mapped[Availability | None] = _availability()
    in_stock: Mapped[bool | None] = _in_stock()
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    checks: Mapped[int] = mapped_column(Integer, server_default="1")
    #: Set when the change was implausible and confirmed by a second fetch.
    suspicious: Mapped[bool] = mapped_column(Boolean, server_default="false")
    #: Set when the evaluator has applied the rules to this row (NULL: still in flight).
    evaluated_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(sql_in("availability", AVAILABILITIES), name="availability"),
        # A product's history in order; its prices included (never changed once written)
        # so its statistics are an index-only scan, not a heap page per row.
        Index(
            "ix_price_history_product_seen_price",
            "product_id",
            "first_seen_at",
            postgresql_include=["price", "currency"],
        ),
        Index(
            "ix_price_history_unevaluated",
            "first_seen_at",
            postgresql_where=text("evaluated_at IS NULL"),
        ),
        # The evaluator's: a product's rows in flight, in order (only rows in flight).
        Index(
            "ix_price_history_unevaluated_product",
            "product_id",
            "first_seen_at",
            "id",
            postgresql_where=text("evaluated_at IS NULL"),
        ),
    )


alert_rule_channel = Table(
    "alert_rule_channel",
    Base.metadata,
    Column("rule_id", ForeignKey("alert_rule.id", ondelete="CASCADE"), primary_key=True),
    Column("channel_id", ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_alert_rule_channel_channel_id", "channel_id"),
)


class Channel(Base):
    __tablename__ = "channel"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(Text)
    #: Webhook signing secret (`whsec_...`); needed in clear to sign, shown to the user once.
    secret: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    #: When the target proved it wants our messages (email, SMS: a code sent to it; webhook,
    #: Slack: at creation). Until then deliveries to it are `held`.
    verified_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(sql_in("kind", CHANNEL_KINDS), name="kind"),
        Index("ix_channel_user_created", "user_id", "created_at", "id"),
    )


class AlertRule(Base):
    __tablename__ = "alert_rule"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    watch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("watch.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    #: At most 12 digits before the point and 4 after (`pricealert.money`).
    threshold: Mapped[Decimal | None] = mapped_column(Amount())
    cooldown_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    #: Rule state kept by the evaluator (armed flag, reference price, ...).
    state: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    last_fired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        CheckConstraint(sql_in("kind", RULE_KINDS), name="kind"),
        CheckConstraint("cooldown_seconds >= 0", name="cooldown_non_negative"),
        CheckConstraint("threshold > 0", name="threshold_positive"),
        Index("ix_alert_rule_product_id", "product_id"),
        Index("ix_alert_rule_user_created", "user_id", "created_at", "id"),
    )


class Notification(Base):
    """One delivery of one rule firing through one channel; the delivery log."""

    __tablename__ = "notification"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("alert_rule.id", ondelete="SET NULL")
    )
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel.id", ondelete="SET NULL")
    )
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id", ondelete="SET NULL"))
    history_id: Mapped[int | None] = mapped_column(
        ForeignKey("price_history.id", ondelete="SET NULL")
    )
    channel_kind: Mapped[str] = mapped_column(String(16))
    rule_kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    detected_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        # The evaluator may run twice on one change: the user still gets one notification.
        UniqueConstraint("rule_id", "channel_id", "history_id", name="uq_notification_firing"),
        CheckConstraint(sql_in("status", NOTIFICATION_STATUSES), name="status"),
        Index("ix_notification_user_created", "user_id", "created_at", "id"),
        Index(
            "ix_notification_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # Releasing a channel's held deliveries, and expiring old ones, walk only these.
        Index(
            "ix_notification_held",
            "channel_id",
            postgresql_where=text("status = 'held'"),
        ),
    )


class OneTimeToken(Base):
    """A secret sent once to an address, redeemed once: verification codes, key recovery
    links (and, later, the web UI's sign-in links).

    The secret itself is never stored: the notifier derives it from the row's id and the
    service secret (`pricealert.tokens`) when it sends it, and stores its hash; the API
    compares what a user brings with that hash. The row is also the outbox of the message
    that carries the secret (`send_status`): a lost job is re-issued from here.
    """

    __tablename__ = "one_time_token"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    purpose: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE")
    )
    #: How the secret travels (`email` or `sms`) and where to.
    via: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(Text)
    #: sha256 of `id:secret`, set by the sender; NULL until the secret was first sent.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    #: Redeemed (the secret was shown and accepted).
    used_at: Mapped[datetime | None]
    #: Retired unused: a newer token replaced it, or too many wrong guesses.
    revoked_at: Mapped[datetime | None]
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    send_status: Mapped[str] = mapped_column(String(16), server_default="pending")
    send_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    send_lease_expires_at: Mapped[datetime | None]
    send_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint(sql_in("purpose", TOKEN_PURPOSES), name="purpose"),
        CheckConstraint(sql_in("via", VERIFIED_CHANNEL_KINDS), name="via"),
        CheckConstraint(sql_in("send_status", TOKEN_SEND_STATUSES), name="send_status"),
        Index("ix_one_time_token_user_purpose", "user_id", "purpose", "created_at"),
        Index("ix_one_time_token_channel_id", "channel_id"),
        # The sweeper re-issues messages whose job was lost: only rows still to send.
        Index(
            "ix_one_time_token_unsent",
            "created_at",
            postgresql_where=text("send_status = 'pending'"),
        ),
    )
