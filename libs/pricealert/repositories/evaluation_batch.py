"""The evaluator's SQL for a batch of changes (of one or many products): two shared reads.

`EvaluationRepository` reads one change's rules and rows in two statements; for a
batch of N changes that is 2 N round trips before anything is decided. Here the
same reads are one statement each for the whole batch:

- `lock_rules_of`: every enabled rule of the batch's products with its channels and
  its product, locked `FOR UPDATE` in (product, rule) order — the single path's order
  for one product, so batches and single evaluations never deadlock on rules;
- `changes_of`: each product's unevaluated rows up to the latest change the batch
  names, locked (in (product, time) order), the rows the first of them is compared
  with, the batch's targets (to split the rows by change, in the batch's order), rows
  already evaluated among them (rare; what a later change is compared with), and
  each row's lowest earlier price where a product has a `lowest_ever` rule.

Caps (`lock_users`, `cap_usage`) and the write (`record`) are the single path's own,
called once per batch with everything in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text

from pricealert.models import Amount
from pricealert.observed import ObservedState
from pricealert.repositories.evaluation import (
    DriverStatement,
    EvaluationRepository,
    HistoryRow,
    ProductRef,
    RuleRow,
    rules_of,
)

#: `_RULES` of `evaluation.py` over several products.
_RULES_OF = text(
    """
    SELECT r.product_id, r.id, r.user_id, r.watch_id, r.kind, r.threshold, r.cooldown_seconds,
           r.state, r.last_fired_at, r.created_at, p.url, p.title, c.id AS channel_id,
           c.kind AS channel_kind, c.enabled AS channel_enabled, c.disabled_reason
      FROM alert_rule AS r
      JOIN product AS p ON p.id = r.product_id
      LEFT JOIN alert_rule_channel AS rc ON rc.rule_id = r.id
      LEFT JOIN channel AS c ON c.id = rc.channel_id
     WHERE r.product_id = ANY(CAST(:product_ids AS bigint[])) AND r.enabled
     ORDER BY r.product_id, r.id, c.id
       FOR UPDATE OF r
    """
).columns(threshold=Amount())

#: `_CHANGES` of `evaluation.py` over several (product, change) pairs. Parts: 0 the rows to
#: evaluate (with `lowest_before` for the products in :lowest), 1 the row before a
#: product's first one, 2 the latest earlier row with a price, 3 rows already evaluated
#: between a product's first row and its last target, 4 the targets (id and time only).
_CHANGES_OF = DriverStatement(
    """
    WITH job AS (
        SELECT DISTINCT product_id, history_id
          FROM unnest(CAST(:product_ids AS bigint[]), CAST(:history_ids AS bigint[]))
               AS j(product_id, history_id)
    ), target AS (
        -- One primary-key lookup per job (LIMIT 1 keeps it a lookup: joined, small
        -- tables without statistics were read whole and hashed).
        SELECT t.* FROM job CROSS JOIN LATERAL (
            SELECT h.product_id, h.id, h.first_seen_at FROM price_history AS h
             WHERE h.id = job.history_id AND h.product_id = job.product_id LIMIT 1) AS t
    ), bound AS (
        SELECT DISTINCT ON (product_id) product_id, first_seen_at, id FROM target
         ORDER BY product_id, first_seen_at DESC, id DESC
    ), pending AS MATERIALIZED (
        -- Product by product (`bound` comes in product order), each product's rows in
        -- time order from `ix_price_history_unevaluated_product`, locked as read: the
        -- (product, time) order. Joined instead, the rows in flight of every product
        -- were read (and hashed) for the batch.
        SELECT h.* FROM bound AS b CROSS JOIN LATERAL (
            SELECT h.id, h.product_id, h.price, h.currency, h.availability, h.suspicious,
                   h.first_seen_at
              FROM price_history AS h
             WHERE h.product_id = b.product_id AND h.evaluated_at IS NULL
               AND (h.first_seen_at, h.id) <= (b.first_seen_at, b.id)
             ORDER BY h.first_seen_at, h.id
               FOR UPDATE) AS h
    ), first AS (
        SELECT DISTINCT ON (product_id) product_id, first_seen_at, id FROM pending
         ORDER BY product_id, first_seen_at, id
    )
    SELECT 0 AS part, p.*,
           CASE WHEN p.currency IS NOT NULL AND p.product_id = ANY(CAST(:lowest AS bigint[]))
           THEN (SELECT min(l.price) FROM price_history AS l
                  WHERE l.product_id = p.product_id AND l.currency = p.currency
                    AND l.suspicious IS false
                    AND (l.first_seen_at, l.id) < (p.first_seen_at, p.id)) END AS lowest_before
      FROM pending AS p
    UNION ALL
    SELECT 1, b.*, NULL FROM first AS f CROSS JOIN LATERAL (
        SELECT h.id, h.product_id, h.price, h.currency, h.availability, h.suspicious,
               h.first_seen_at
          FROM price_history AS h
         WHERE h.product_id = f.product_id AND (h.first_seen_at, h.id) < (f.first_seen_at, f.id)
         ORDER BY h.first_seen_at DESC, h.id DESC LIMIT 1) AS b
    UNION ALL
    SELECT 2, b.*, NULL FROM first AS f CROSS JOIN LATERAL (
        SELECT h.id, h.product_id, h.price, h.currency, h.availability, h.suspicious,
               h.first_seen_at
          FROM price_history AS h
         WHERE h.product_id = f.product_id AND h.price IS NOT NULL
           AND (h.first_seen_at, h.id) < (f.first_seen_at, f.id)
         ORDER BY h.first_seen_at DESC, h.id DESC LIMIT 1) AS b
    UNION ALL
    SELECT 3, h.id, h.product_id, h.price, h.currency, h.availability, h.suspicious,
           h.first_seen_at, NULL
      FROM first AS f JOIN bound AS b ON b.product_id = f.product_id
      JOIN price_history AS h ON h.product_id = f.product_id
     WHERE h.evaluated_at IS NOT NULL
       AND (h.first_seen_at, h.id) > (f.first_seen_at, f.id)
       AND (h.first_seen_at, h.id) <= (b.first_seen_at, b.id)
    UNION ALL
    SELECT 4, t.id, t.product_id, NULL, NULL, NULL, false, t.first_seen_at, NULL FROM target AS t
    """
)


@dataclass
class ProductChanges:
    """One product's part of a batch: its rows to evaluate and what they are compared with."""

    #: Unevaluated rows up to the batch's last target, oldest first.
    pending: list[HistoryRow] = field(default_factory=list)
    #: The product's row just before `pending[0]`, and the latest earlier one with a price.
    previous: HistoryRow | None = None
    last_priced: HistoryRow | None = None
    #: Rows already evaluated between `pending[0]` and the last target, oldest first.
    settled: list[HistoryRow] = field(default_factory=list)
    #: Each target's (first_seen_at, id): where the change it names ends.
    targets: dict[int, tuple[datetime, int]] = field(default_factory=dict)
    #: Each pending row's lowest earlier price in its currency (only with `lowest_ever`).
    lowest: dict[int, Decimal | None] | None = None


class BatchEvaluationRepository(EvaluationRepository):
    async def lock_rules_of(
        self, product_ids: Sequence[int]
    ) -> dict[int, tuple[ProductRef, list[RuleRow]]]:
        """Each product's enabled rules (with channels) and the product, rules locked in
        (product, id) order; products without enabled rules are left out."""
        rows = (
            await self.session.execute(_RULES_OF, {"product_ids": sorted(set(product_ids))})
        ).all()
        found: dict[int, tuple[ProductRef, list[RuleRow]]] = {}
        start = 0
        for index, row in enumerate(rows):
            if index + 1 == len(rows) or rows[index + 1].product_id != row.product_id:
                product = ProductRef(row.product_id, row.url, row.title)
                found[row.product_id] = (product, rules_of(rows[start : index + 1]))
                start = index + 1
        return found

    async def changes_of(
        self, changes: Sequence[tuple[int, int]], lowest: Sequence[int]
    ) -> dict[int, ProductChanges]:
        """The rows the (product id, history id) `changes` evaluate, by product (see
        `_CHANGES_OF`); `lowest`: products whose rows need their lowest earlier price."""
        rows = await _CHANGES_OF.fetch(
            self.session,
            {
                "product_ids": [product_id for product_id, _ in changes],
                "history_ids": [history_id for _, history_id in changes],
                "lowest": list(lowest),
            },
        )
        lowest_products = set(lowest)
        found: dict[int, ProductChanges] = {}
        for part, id_, product_id, price, currency, availability, suspicious, seen, low in rows:
            of = found.get(product_id)
            if of is None:
                of = found[product_id] = ProductChanges()
                if product_id in lowest_products:
                    of.lowest = {}
            if part == 4:
                of.targets[id_] = (seen, id_)
                continue
            state = ObservedState.stored(price, currency, availability)
            history = HistoryRow(id_, product_id, state, suspicious, seen)
            if part == 0:
                of.pending.append(history)
                if of.lowest is not None:
                    of.lowest[id_] = low
            elif part == 1:
                of.previous = history
            elif part == 2:
                of.last_priced = history
            else:
                of.settled.append(history)
        for of in found.values():
            of.pending.sort(key=lambda r: (r.first_seen_at, r.id))
            of.settled.sort(key=lambda r: (r.first_seen_at, r.id))
        return found
