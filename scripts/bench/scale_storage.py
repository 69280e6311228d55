"""Database size per million checks when prices rarely change.

N products are checked K times; each round, 1 % of them change price (a new
history row) and the rest only extend their current row (`last_seen_at`,
`checks`), the two statements `record_observation` sends, here set-wise in SQL
so millions of checks take seconds. A plain VACUUM after each round stands in
for autovacuum. Reported: rows, the size of price_history with its indexes,
and bytes per million checks, overall and at the margin (after the first
rounds, once vacuum has freed the space that updated rows left, i.e. what
more checks cost in steady state).
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from scripts.bench.common import load_average, plain_url

CHANGE_FRACTION = 0.01
#: From this round on, updates reuse the space vacuum freed: growth is new rows only.
STEADY_FROM = 3

_FIRST_ROWS = """
INSERT INTO price_history (product_id, price, currency, availability, first_seen_at,
                           last_seen_at, evaluated_at)
SELECT id, 1000 + id % 9000, 'JPY', 'InStock', now(), now(), now() FROM product WHERE id <= $1
"""

_EXTEND = """
UPDATE price_history AS h SET last_seen_at = now() + $1 * interval '1 hour', checks = checks + 1
FROM (SELECT DISTINCT ON (product_id) id FROM price_history
      ORDER BY product_id, first_seen_at DESC, id DESC) AS current
WHERE h.id = current.id AND h.product_id % 100 <> $2
"""

_CHANGE = """
INSERT INTO price_history (product_id, price, currency, availability, first_seen_at,
                           last_seen_at, evaluated_at)
SELECT id, 1000 + (id + $1) % 9000, 'JPY', 'InStock', now() + $1 * interval '1 hour',
       now() + $1 * interval '1 hour', now()
FROM product WHERE id % 100 = $2 AND id <= $3
"""

_SIZES = """
SELECT pg_total_relation_size('price_history'), pg_relation_size('price_history'),
       pg_indexes_size('price_history'), (SELECT count(*) FROM price_history)
"""


async def size_per_million_checks(database: str, products: int, rounds: int) -> dict[str, Any]:
    """Grow the history of the first `products` products over `rounds` checks each."""
    connection = await asyncpg.connect(plain_url(database))
    try:
        await connection.execute("TRUNCATE price_history, notification")
        started = time.monotonic()
        await connection.execute(_FIRST_ROWS, products)
        await connection.execute("VACUUM (ANALYZE) price_history")
        steady = await connection.fetchrow(_SIZES)
        for check in range(2, rounds + 1):
            changing = check % 100  # a different 1 % of the products each round
            await connection.execute(_EXTEND, check, changing)
            await connection.execute(_CHANGE, check, changing, products)
            await connection.execute("VACUUM price_history")
            if check == STEADY_FROM:
                steady = await connection.fetchrow(_SIZES)
        last = await connection.fetchrow(_SIZES)
        checks = products * rounds
        marginal_checks = products * (rounds - min(rounds, STEADY_FROM))
        return {
            "products": products,
            "checks_per_product": rounds,
            "checks": checks,
            "change_fraction": CHANGE_FRACTION,
            "history_rows": last[3],
            "total_bytes": last[0],
            "table_bytes": last[1],
            "index_bytes": last[2],
            "bytes_per_million_checks": round(last[0] / checks * 1_000_000),
            "marginal_bytes_per_million_checks": round(
                (last[0] - steady[0]) / max(1, marginal_checks) * 1_000_000
            ),
            "bytes_per_history_row": round(last[0] / max(1, last[3])),
            "elapsed_s": round(time.monotonic() - started, 1),
            "load_average_1m": load_average()[0],
        }
    finally:
        await connection.close()
