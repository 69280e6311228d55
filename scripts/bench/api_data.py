"""The API benchmark's data set, generated in SQL: products, watches, a year of history.

A few users watch many products each (user 0, whose key the benchmark uses,
watches half of them). Products are 60 % yen (no minor unit) and 40 % dollars.
History rows per product vary from 1 to 199 (about 100 on average), spread over
the last year and inserted in time order, as a live system writes them: one
product's rows are scattered over the table, not packed together.

Secondary indexes are dropped for the bulk insert and rebuilt from their own
definitions afterwards, and foreign keys are not re-checked row by row
(`session_replication_role = replica`); both only speed loading up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg

from pricealert.repositories.users import hash_key
from scripts.bench.common import log

BENCH_KEY = "pa_bench_api_key_not_secret_0000000000000"
USERS = 4


@dataclass(frozen=True)
class DataSet:
    products: int
    history_rows: int
    watches: int


_PRODUCTS = """
INSERT INTO product (url, domain, check_interval_seconds, status, price, currency, availability,
                     title, next_check_at, last_checked_at, last_changed_at, created_at)
SELECT 'https://shop' || (i % 500) || '.example/p/' || i, 'shop' || (i % 500) || '.example',
       3600, 'active', NULL, CASE WHEN i % 5 < 3 THEN 'JPY' ELSE 'USD' END, 'InStock',
       'Product ' || i, now() + (i % 3600) * interval '1 second', now(), now(),
       now() - interval '400 days'
FROM generate_series(1, $1) AS i
"""

# Rows per product: 1..199 (deterministic), starting a year ago, evenly spaced up to now.
# Prices wander within +-20 % of a per-product base: whole yen, or cents.
_HISTORY = """
INSERT INTO price_history (product_id, price, currency, availability, first_seen_at,
                           last_seen_at, checks, suspicious, evaluated_at)
SELECT id, price, currency, 'InStock', starts, ends, 1 + (id + j) % 40, false, starts
FROM (
    SELECT p.id, p.currency, j,
           CASE WHEN p.currency = 'JPY'
                THEN round((1000 + p.id % 90000) * (0.8 + 0.4 * random()))
                ELSE round(((10 + p.id % 900) * (0.8 + 0.4 * random()))::numeric, 2)
           END AS price,
           now() - interval '365 days' + j * (interval '365 days' / n) AS starts,
           now() - interval '365 days' + (j + 1) * (interval '365 days' / n)
                 - interval '1 minute' AS ends
    FROM (SELECT id, currency, 1 + (id * 7919) % $1 AS n FROM product) AS p
    CROSS JOIN LATERAL generate_series(0, p.n - 1) AS j
) AS rows
ORDER BY starts
"""

_CURRENT_PRICE = """
UPDATE product AS p SET price = h.price, last_changed_at = h.first_seen_at
FROM (SELECT DISTINCT ON (product_id) product_id, price, first_seen_at
      FROM price_history ORDER BY product_id, first_seen_at DESC) AS h
WHERE h.product_id = p.id
"""

_WATCHES = """
INSERT INTO watch (id, user_id, product_id, check_interval_seconds, created_at)
SELECT gen_random_uuid(), u.id, p.id, 3600,
       now() - interval '365 days' + p.id * interval '1 minute'
FROM (SELECT id, row_number() OVER (ORDER BY email) - 1 AS k FROM app_user) AS u
JOIN product AS p ON (p.id + u.k * ($1 / 4)) % $1 < $1 / 2
"""


async def build(database_url: str, products: int, history_rows: int) -> DataSet:
    """Fill an empty, migrated database; returns the sizes it reached."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("SET session_replication_role = replica")
        await connection.execute("SET maintenance_work_mem = '256MB'")
        await connection.execute("SET work_mem = '256MB'")
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'price_history' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        started = time.monotonic()
        await connection.execute(_PRODUCTS, products)
        spread = max(1, round(2 * history_rows / products) - 1)  # mean of 1..spread ≈ rows/product
        await connection.execute(_HISTORY, spread)
        log(f"api data: history inserted in {time.monotonic() - started:.0f} s")
        for index in indexes:
            await connection.execute(index["indexdef"])
        await connection.execute(_CURRENT_PRICE)
        for k in range(USERS):
            user_id = await connection.fetchval(
                "INSERT INTO app_user (id, email) VALUES (gen_random_uuid(), $1) RETURNING id",
                f"bench{k}@example.com",
            )
            if k == 0:
                await connection.execute(
                    "INSERT INTO api_key (id, user_id, prefix, key_hash, name) "
                    "VALUES (gen_random_uuid(), $1, $2, $3, $4)",
                    user_id,
                    BENCH_KEY[:11],
                    hash_key(BENCH_KEY),
                    "bench",
                )
        await connection.execute(_WATCHES, products)
        await connection.execute("VACUUM (ANALYZE)")
        log(f"api data: ready in {time.monotonic() - started:.0f} s")
        return DataSet(
            products=await connection.fetchval("SELECT count(*) FROM product"),
            history_rows=await connection.fetchval("SELECT count(*) FROM price_history"),
            watches=await connection.fetchval("SELECT count(*) FROM watch"),
        )
    finally:
        await connection.close()


async def bench_user(database_url: str) -> str:
    """The id of the user whose key the benchmark calls with."""
    connection = await asyncpg.connect(database_url)
    try:
        user_id = await connection.fetchval(
            "SELECT user_id FROM api_key WHERE key_hash = $1", hash_key(BENCH_KEY)
        )
        return str(user_id)
    finally:
        await connection.close()
