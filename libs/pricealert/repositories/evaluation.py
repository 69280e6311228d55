"""The evaluator's SQL: changes to evaluate, rules and their state, caps, new notifications.

One evaluation is a handful of statements, each a round trip: `lock_rules` (the
product's enabled rules with their channels and the product), `changes_through`
(the rows to evaluate and the rows just before them), `lock_users` and
`cap_usage` only when a rule fired, and `record` (notifications, rule states and
`evaluated_at` in one statement). Rows come back as small frozen values, not ORM
entities: an evaluation reads a few columns of a few rows and keeps none. A batch of
changes reads its rules and rows in one statement each (`evaluation_batch.py`) and
shares the caps and the write with this module.

Concurrency: `lock_rules` takes the product's enabled rules `FOR UPDATE`, so two
evaluations of one product's changes run one after the other; `lock_users`
takes the firing users `FOR NO KEY UPDATE` (in id order: no deadlock), so two
evaluations never both spend a user's last notification of the day. The caps are
counted by the next statement, so its snapshot sees every notification the
previous holder of the lock committed. Inserts of notifications are `ON CONFLICT
DO NOTHING` on (rule, channel, history), and rule state and `evaluated_at`
updates are guarded, so re-running an evaluation changes nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.kinds import CAPPED_STATUSES, sql_in
from pricealert.models import Amount, PriceHistory
from pricealert.observed import ObservedState
from pricealert.repositories.base import Repository
from pricealert.repositories.driver import fetch


@dataclass(frozen=True, slots=True)
class ProductRef:
    """What a notification says about the product."""

    id: int
    url: str
    title: str | None


@dataclass(frozen=True, slots=True)
class ChannelRef:
    id: uuid.UUID
    kind: str
    enabled: bool
    disabled_reason: str | None


@dataclass(frozen=True, slots=True)
class RuleRow:
    """An enabled rule of the product, locked, with its channels (in id order)."""

    id: uuid.UUID
    user_id: uuid.UUID
    watch_id: uuid.UUID
    kind: str
    threshold: Decimal | None
    cooldown_seconds: int
    state: dict[str, Any]
    last_fired_at: datetime | None
    created_at: datetime
    channels: tuple[ChannelRef, ...]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One price-history row: a state the product was seen in, from `first_seen_at`."""

    id: int
    product_id: int
    state: ObservedState
    suspicious: bool
    first_seen_at: datetime


@dataclass(frozen=True, slots=True)
class Changes:
    """Rows to evaluate (oldest first), and what came before the first of them."""

    rows: list[HistoryRow]
    #: The product's row just before `rows[0]`.
    previous: HistoryRow | None
    #: The latest row before `rows[0]` that had a price (often `previous`).
    last_priced: HistoryRow | None


@dataclass(frozen=True, slots=True)
class CapUsage:
    """Notifications counting against a user's caps, counted up to the cap (enough to decide)."""

    daily_cap: int
    sms_cap: int
    total: int
    sms: int


_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


class DriverStatement:
    """A statement run on the session's driver (asyncpg) connection, in its transaction.

    The evaluator's hot statements skip SQLAlchemy's execution and row machinery (a
    third of the evaluator's CPU at a batch of 25): asyncpg prepares each one once per
    connection and hands back its rows as records, read by column name or position
    (through `repositories.driver.fetch`, the API's reads' way, with its handling of a
    dropped connection). Unlike those reads, these lock and write, so they must run in
    the session's transaction: they come after the unit of work's first statement
    (which goes through SQLAlchemy, so SQLAlchemy has begun the transaction; should a
    driver statement come first, one `SELECT 1` through SQLAlchemy begins it). The
    text is written with `:name` parameters, numbered `$1`... here in order of first
    use; the CASTs in it give asyncpg their types. Each is announced to SQLAlchemy's
    `before_cursor_execute` listeners, as SQLAlchemy announces its own."""

    __slots__ = ("names", "sql")

    def __init__(self, sql: str) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        self.sql = _PARAMETER.sub(number, sql)
        self.names = tuple(names)

    async def fetch(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Any]:
        """The statement's rows (asyncpg records)."""
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None  # a checked-out connection
        if not driver.is_in_transaction():  # SQLAlchemy begins on its first statement
            await connection.exec_driver_sql("SELECT 1")
        args = [params[name] for name in self.names]
        # Announced as SQLAlchemy's own statements are: whatever counts or traces them
        # (the tests, the benchmarks) still sees every statement.
        sync = connection.sync_connection
        if sync is not None:
            sync.dispatch.before_cursor_execute(sync, None, self.sql, args, None, False)
        # `driver.fetch`: a connection PostgreSQL dropped fails as under SQLAlchemy.
        return await fetch(connection, self.sql, *args)


#: The product's enabled rules, locked in id order, each with its channels (one row per
#: channel, or one with no channel), and the product's own columns a notification shows.
_RULES = text(
    """
    SELECT r.id, r.user_id, r.watch_id, r.kind, r.threshold, r.cooldown_seconds, r.state,
           r.last_fired_at, r.created_at, p.url, p.title, c.id AS channel_id,
           c.kind AS channel_kind, c.enabled AS channel_enabled, c.disabled_reason
      FROM alert_rule AS r
      JOIN product AS p ON p.id = r.product_id
      LEFT JOIN alert_rule_channel AS rc ON rc.rule_id = r.id
      LEFT JOIN channel AS c ON c.id = rc.channel_id
     WHERE r.product_id = :product_id AND r.enabled
     ORDER BY r.id, c.id
       FOR UPDATE OF r
    """
).columns(threshold=Amount())  # read as given (90, not the column's 90.0000)

#: Lock users whose caps are about to be spent, in id order (so no deadlock); FOR NO KEY
#: UPDATE, so inserts referencing them still pass.
_LOCK_USERS = DriverStatement(
    """
    SELECT id FROM app_user WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR NO KEY UPDATE
    """
)

#: The product's unevaluated rows up to the named one, locked, and the two rows a first
#: change is compared with. `part` 0 rows are the changes; 1 is the previous row, 2 the
#: latest earlier row with a price.
_CHANGES = text(
    """
    WITH target AS (
        SELECT first_seen_at, id FROM price_history
         WHERE id = :history_id AND product_id = :product_id
    ), pending AS MATERIALIZED (
        SELECT h.id, h.price, h.currency, h.availability, h.suspicious, h.first_seen_at
          FROM price_history AS h, target
         WHERE h.product_id = :product_id AND h.evaluated_at IS NULL
           AND (h.first_seen_at, h.id) <= (target.first_seen_at, target.id)
         ORDER BY h.first_seen_at, h.id
           FOR UPDATE OF h
    ), first AS (
        SELECT first_seen_at, id FROM pending ORDER BY first_seen_at, id LIMIT 1
    )
    SELECT 0 AS part, * FROM pending
    UNION ALL (
        SELECT 1, h.id, h.price, h.currency, h.availability, h.suspicious, h.first_seen_at
          FROM price_history AS h, first
         WHERE h.product_id = :product_id
           AND (h.first_seen_at, h.id) < (first.first_seen_at, first.id)
         ORDER BY h.first_seen_at DESC, h.id DESC LIMIT 1
    )
    UNION ALL (
        SELECT 2, h.id, h.price, h.currency, h.availability, h.suspicious, h.first_seen_at
          FROM price_history AS h, first
         WHERE h.product_id = :product_id AND h.price IS NOT NULL
           AND (h.first_seen_at, h.id) < (first.first_seen_at, first.id)
         ORDER BY h.first_seen_at DESC, h.id DESC LIMIT 1
    )
    """
)

#: Notifications that count against a user's daily caps (they were, or will be, sent).
_COUNTED = sql_in("n.status", CAPPED_STATUSES)

#: Each user's notifications within the window, counted no further than the cap they
#: are compared with (a heavy user's day is not counted row by row on every change);
#: SMS only for the users in :sms_ids (a second pass over the user's day, wasted on a
#: user about to receive no SMS).
_CAP_USAGE = DriverStatement(
    f"""
    SELECT u.id, u.daily_notification_cap, u.daily_sms_cap,
           (SELECT count(*) FROM (
                SELECT 1 FROM notification AS n
                 WHERE n.user_id = u.id AND n.created_at >= :since
                   AND {_COUNTED}
                 LIMIT greatest(u.daily_notification_cap, 0)) AS t) AS total,
           CASE WHEN u.id = ANY(CAST(:sms_ids AS uuid[])) THEN (SELECT count(*) FROM (
                SELECT 1 FROM notification AS n
                 WHERE n.user_id = u.id AND n.created_at >= :since
                   AND {_COUNTED} AND n.channel_kind = 'sms'
                 LIMIT greatest(u.daily_sms_cap, 0)) AS s) ELSE 0 END AS sms
      FROM app_user AS u
     WHERE u.id = ANY(CAST(:ids AS uuid[]))
    """  # noqa: S608 - only the fixed status names are interpolated
)

#: Everything an evaluation writes, in one statement: rule states (unless a later change
#: was already applied to the rule), the rows marked evaluated (those not yet marked),
#: and the notifications (a (rule, channel, history) already there is left alone).
#: Returns the ids of the notifications really inserted.
_RECORD = DriverStatement(
    """
    WITH rule_state AS (
        UPDATE alert_rule AS r
           SET state = CAST(s.state AS jsonb),
               last_fired_at = coalesce(s.fired_at, r.last_fired_at),
               updated_at = now()
          FROM unnest(CAST(:rule_ids AS uuid[]), CAST(:states AS text[]),
                      CAST(:applied AS bigint[]), CAST(:fired_at AS timestamptz[]))
               AS s(id, state, history_id, fired_at)
         WHERE r.id = s.id
           AND coalesce(CAST(r.state ->> 'history_id' AS bigint), 0) < s.history_id
        RETURNING r.id
    ), evaluated AS (
        UPDATE price_history SET evaluated_at = :now
         WHERE id = ANY(CAST(:history_ids AS bigint[])) AND evaluated_at IS NULL
        RETURNING id
    )
    INSERT INTO notification (id, user_id, rule_id, channel_id, product_id, history_id,
                              channel_kind, rule_kind, status, last_error, payload,
                              detected_at, next_attempt_at, created_at)
    SELECT n.id, n.user_id, n.rule_id, n.channel_id, n.product_id, n.history_id,
           n.channel_kind, n.rule_kind, n.status, n.last_error, CAST(n.payload AS jsonb),
           n.detected_at, :now, :now
      FROM unnest(CAST(:n_ids AS uuid[]), CAST(:n_users AS uuid[]), CAST(:n_rules AS uuid[]),
                  CAST(:n_channels AS uuid[]), CAST(:n_products AS bigint[]),
                  CAST(:n_history AS bigint[]),
                  CAST(:n_channel_kinds AS text[]), CAST(:n_rule_kinds AS text[]),
                  CAST(:n_statuses AS text[]), CAST(:n_errors AS text[]),
                  CAST(:n_payloads AS text[]), CAST(:n_detected AS timestamptz[]))
           AS n(id, user_id, rule_id, channel_id, product_id, history_id, channel_kind,
                rule_kind, status, last_error, payload, detected_at)
    ON CONFLICT ON CONSTRAINT uq_notification_firing DO NOTHING
    RETURNING id
    """
)


@dataclass(frozen=True, slots=True)
class NewNotification:
    """One notification to insert (`payload` is the event's JSON)."""

    id: uuid.UUID
    product_id: int
    user_id: uuid.UUID
    rule_id: uuid.UUID
    channel_id: uuid.UUID
    history_id: int
    channel_kind: str
    rule_kind: str
    status: str
    last_error: str | None
    payload: dict[str, Any]
    detected_at: datetime


@dataclass(frozen=True, slots=True)
class RuleState:
    """A rule's state after the evaluation, the last row it saw, and when it last fired."""

    rule_id: uuid.UUID
    state: dict[str, Any]
    history_id: int
    fired_at: datetime | None


def rules_of(rows: Sequence[Any]) -> list[RuleRow]:
    """Rules from `_RULES`-shaped rows (one per rule and channel, in rule then channel order)."""
    rules: list[RuleRow] = []
    channels: list[ChannelRef] = []
    for index, row in enumerate(rows):
        if row.channel_id is not None:
            channel = (row.channel_id, row.channel_kind, row.channel_enabled, row.disabled_reason)
            channels.append(ChannelRef(*channel))
        if index + 1 == len(rows) or rows[index + 1].id != row.id:
            rules.append(
                RuleRow(
                    row.id, row.user_id, row.watch_id, row.kind, row.threshold,
                    row.cooldown_seconds, dict(row.state or {}), row.last_fired_at,
                    row.created_at, tuple(channels),
                )
            )  # fmt: skip
            channels = []
    return rules


class EvaluationRepository(Repository):
    async def lock_rules(self, product_id: int) -> tuple[ProductRef | None, list[RuleRow]]:
        """The product and its enabled rules (with their channels), rules locked, in id order."""
        rows = (await self.session.execute(_RULES, {"product_id": product_id})).all()
        if not rows:
            return None, []
        return ProductRef(product_id, rows[0].url, rows[0].title), rules_of(rows)

    async def changes_through(self, product_id: int, history_id: int) -> Changes:
        """Rows of the product not yet evaluated up to `history_id` included, locked, oldest
        first, with the rows their first one is compared with."""
        result = await self.session.execute(
            _CHANGES, {"product_id": product_id, "history_id": history_id}
        )
        rows: list[HistoryRow] = []
        before: dict[int, HistoryRow] = {}
        for row in result:
            state = ObservedState.stored(row.price, row.currency, row.availability)
            history = HistoryRow(row.id, product_id, state, row.suspicious, row.first_seen_at)
            if row.part == 0:
                rows.append(history)
            else:
                before[row.part] = history
        rows.sort(key=lambda r: (r.first_seen_at, r.id))
        return Changes(rows, before.get(1), before.get(2))

    async def lowest_before(self, row: HistoryRow) -> Decimal | None:
        """The lowest non-suspicious price before `row` in `row.currency`."""
        if row.state.currency is None:
            return None
        query = select(func.min(PriceHistory.price)).where(
            PriceHistory.product_id == row.product_id,
            PriceHistory.currency == row.state.currency,
            PriceHistory.suspicious.is_(False),
            tuple_(PriceHistory.first_seen_at, PriceHistory.id) < (row.first_seen_at, row.id),
        )
        return await self.session.scalar(query)

    async def lock_users(self, user_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """Lock the users whose caps are about to be spent (id order, so no deadlock)."""
        if not user_ids:
            return []
        return [row[0] for row in await _LOCK_USERS.fetch(self.session, {"ids": list(user_ids)})]

    async def cap_usage(
        self,
        user_ids: Sequence[uuid.UUID],
        since: datetime,
        sms: Collection[uuid.UUID] | None = None,
    ) -> dict[uuid.UUID, CapUsage]:
        """What counts against each user's caps since `since` (call after `lock_users`).

        SMS are counted for the users in `sms` (None: all); the others' `sms` is 0: pass
        only users about to be sent no SMS, whose SMS budget is never read."""
        if not user_ids:
            return {}
        sms_ids = list(user_ids) if sms is None else [u for u in user_ids if u in sms]
        params = {"ids": list(user_ids), "since": since, "sms_ids": sms_ids}
        rows = await _CAP_USAGE.fetch(self.session, params)
        return {row[0]: CapUsage(row[1], row[2], row[3], row[4]) for row in rows}

    async def record(
        self,
        notifications: Sequence[NewNotification],
        rule_states: Sequence[RuleState],
        history_ids: Sequence[int],
        now: datetime,
    ) -> set[uuid.UUID]:
        """Write the evaluation (see `_RECORD`); returns the notifications really inserted."""
        n = notifications
        rows = await _RECORD.fetch(
            self.session,
            {
                "now": now,
                "rule_ids": [s.rule_id for s in rule_states],
                "states": [
                    json.dumps({**s.state, "history_id": s.history_id}) for s in rule_states
                ],
                "applied": [s.history_id for s in rule_states],
                "fired_at": [s.fired_at for s in rule_states],
                "history_ids": list(history_ids),
                "n_ids": [x.id for x in n],
                "n_users": [x.user_id for x in n],
                "n_rules": [x.rule_id for x in n],
                "n_channels": [x.channel_id for x in n],
                "n_products": [x.product_id for x in n],
                "n_history": [x.history_id for x in n],
                "n_channel_kinds": [x.channel_kind for x in n],
                "n_rule_kinds": [x.rule_kind for x in n],
                "n_statuses": [x.status for x in n],
                "n_errors": [x.last_error for x in n],
                "n_payloads": [json.dumps(x.payload) for x in n],
                "n_detected": [x.detected_at for x in n],
            },
        )
        return {row[0] for row in rows}

    async def unevaluated_before(self, before: datetime, limit: int) -> list[tuple[int, int]]:
        """(product id, history id) of the oldest changes still unevaluated at `before`."""
        query = (
            select(PriceHistory.product_id, PriceHistory.id)
            .where(and_(PriceHistory.evaluated_at.is_(None), PriceHistory.first_seen_at < before))
            .order_by(PriceHistory.first_seen_at)
            .limit(limit)
        )
        return [
            (product_id, history_id) for product_id, history_id in await self.session.execute(query)
        ]
