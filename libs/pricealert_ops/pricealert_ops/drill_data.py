"""Realistic data for the restore drill, in PriceAlert's real schema (migrated by Alembic).

`seed(conn, history_rows)` fills every table the services use — users and API
keys, products with Japanese titles and yen/dollar/euro prices, watches, a
change-only price history with stock changes, channels of every kind, alert
rules of every kind linked to channels, and a delivery log in every status —
with set-based INSERT ... SELECT statements, so 100 000 history rows take a
second or two. Columns that later migrations add take their defaults.

One user's API key is known to the drill (`DRILL_KEY`): after the restore the
drill calls the API with it and expects to see that user's watches, which
proves that keys, users and watches came back together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

#: The API key of the drill's own user (seeded hashed, like every key).
DRILL_KEY = "pa_restore_drill_known_key_0000000000000000"
DRILL_EMAIL = "drill-owner@example.jp"

_USERS = """
INSERT INTO app_user (id, email, daily_notification_cap, daily_sms_cap, created_at)
SELECT gen_random_uuid(),
       CASE WHEN u = 1 THEN $2 ELSE 'user' || u || '@example.jp' END,
       100, 10, timestamptz '2025-01-01 00:00:00+00' + u * interval '37 minutes'
FROM generate_series(1, $1) AS u
"""
_KEYS = """
INSERT INTO api_key (id, user_id, prefix, key_hash, name, created_at, last_used_at)
SELECT gen_random_uuid(), u.id,
       CASE WHEN u.email = $1 THEN substr($2, 1, 11) ELSE 'pa_' || substr(md5(u.email), 1, 8) END,
       CASE WHEN u.email = $1 THEN $3 ELSE encode(sha256(convert_to(u.email, 'UTF8')), 'hex') END,
       'default', u.created_at, u.created_at + interval '1 day'
FROM app_user AS u
"""
_PRODUCTS = """
INSERT INTO product (url, domain, check_interval_seconds, status, price, currency, availability,
                     title, next_check_at, last_checked_at, last_changed_at, last_result,
                     created_at, updated_at)
SELECT 'https://' || d.domain || '/item/' || p, d.domain, 3600 * (1 + p % 6),
       CASE WHEN p % 50 = 0 THEN 'failing' WHEN p % 97 = 0 THEN 'paused' ELSE 'active' END,
       NULL, d.currency, NULL, '商品 ' || p || '号 【送料無料】 (セール対象)',
       timestamptz '2026-01-01 00:00:00+00' + p * interval '1 minute',
       timestamptz '2026-01-01 00:00:00+00', NULL, 'unchanged',
       timestamptz '2025-02-01 00:00:00+00' + p * interval '5 minutes',
       timestamptz '2025-02-01 00:00:00+00' + p * interval '5 minutes'
FROM generate_series(1, $1) AS p
CROSS JOIN LATERAL (
    SELECT (ARRAY['item.rakuten.co.jp', 'store.shopping.yahoo.co.jp', 'www.yodobashi.com',
                  'www.amazon.co.jp', 'shop.example.com', 'boutique.example.fr'])[1 + p % 6]
           AS domain,
           (ARRAY['JPY', 'JPY', 'JPY', 'JPY', 'USD', 'EUR'])[1 + p % 6] AS currency
) AS d
"""
# Each product gets history_rows / products rows; yen prices are whole, others have cents.
_HISTORY = """
INSERT INTO price_history (product_id, price, currency, availability, first_seen_at,
                           last_seen_at, checks, suspicious, evaluated_at)
SELECT p.id,
       CASE WHEN p.currency = 'JPY' THEN (1000 + (p.id * 31 + n * 17) % 9000)::numeric
            ELSE round(((1000 + (p.id * 31 + n * 17) % 9000) / 100.0)::numeric, 2) END,
       p.currency,
       CASE WHEN n % 11 = 0 THEN 'OutOfStock' WHEN n % 13 = 0 THEN 'PreOrder' ELSE 'InStock' END,
       timestamptz '2025-03-01 00:00:00+00' + (n * interval '6 hours'),
       timestamptz '2025-03-01 00:00:00+00' + (n * interval '6 hours') + interval '5 hours',
       1 + n % 6, n % 499 = 0,
       timestamptz '2025-03-01 00:00:00+00' + (n * interval '6 hours') + interval '2 seconds'
FROM product AS p
CROSS JOIN generate_series(1, $1) AS n
"""
_CURRENT = """
UPDATE product AS p
   SET price = h.price, availability = h.availability, last_changed_at = h.first_seen_at
  FROM (SELECT DISTINCT ON (product_id) product_id, price, availability, first_seen_at
          FROM price_history ORDER BY product_id, first_seen_at DESC) AS h
 WHERE h.product_id = p.id
"""
# Every user watches a slice of products; the drill's own user watches the first ten.
_WATCHES = """
INSERT INTO watch (id, user_id, product_id, check_interval_seconds, created_at)
SELECT gen_random_uuid(), u.id, p.id, p.check_interval_seconds, p.created_at + interval '1 hour'
FROM (SELECT id, row_number() OVER (ORDER BY created_at) AS n FROM app_user) AS u
JOIN product AS p ON (p.id % $1) = (u.n % $1) OR (u.n = 1 AND p.id <= 10)
"""
_CHANNELS = """
INSERT INTO channel (id, user_id, kind, target, secret, enabled, created_at)
SELECT gen_random_uuid(), u.id, k.kind,
       CASE k.kind WHEN 'email' THEN u.email
                   WHEN 'sms' THEN '+8190' || lpad((n % 100000000)::text, 8, '0')
                   WHEN 'slack' THEN 'https://hooks.slack.com/services/T0/B0/' || n
                   ELSE 'https://hooks.example.com/pricealert/' || n END,
       CASE WHEN k.kind = 'webhook' THEN 'whsec_' || md5(u.email) END,
       n % 13 <> 0, u.created_at + interval '2 hours'
FROM (SELECT id, email, created_at, row_number() OVER (ORDER BY created_at) AS n FROM app_user) AS u
CROSS JOIN (VALUES ('email'), ('sms'), ('slack'), ('webhook')) AS k (kind)
WHERE k.kind IN ('email', 'webhook') OR n % 3 = 0
"""
_RULES = """
INSERT INTO alert_rule (id, user_id, watch_id, product_id, kind, threshold, cooldown_seconds,
                        enabled, state, created_at, updated_at)
SELECT gen_random_uuid(), w.user_id, w.id, w.product_id, k.kind,
       CASE k.kind WHEN 'below' THEN p.price * 0.9 WHEN 'drop_percent' THEN 10 END,
       CASE WHEN k.kind = 'change' THEN 3600 ELSE 0 END, true,
       jsonb_build_object('armed', true, 'reference', p.price::text),
       w.created_at, w.created_at
FROM watch AS w
JOIN product AS p ON p.id = w.product_id
CROSS JOIN (VALUES ('below'), ('drop_percent'), ('change'), ('back_in_stock'), ('lowest_ever'))
     AS k (kind)
WHERE (abs(hashtext(w.id::text)) % 5) = (array_position(
          ARRAY['below', 'drop_percent', 'change', 'back_in_stock', 'lowest_ever'], k.kind) - 1)
"""
_RULE_CHANNELS = """
INSERT INTO alert_rule_channel (rule_id, channel_id)
SELECT r.id, c.id FROM alert_rule AS r JOIN channel AS c ON c.user_id = r.user_id
WHERE c.kind IN ('email', 'webhook')
"""
_NOTIFICATIONS = """
INSERT INTO notification (id, user_id, rule_id, channel_id, product_id, history_id, channel_kind,
                          rule_kind, status, attempts, last_error, payload, detected_at,
                          next_attempt_at, created_at, sent_at)
SELECT gen_random_uuid(), r.user_id, r.id, rc.channel_id, h.product_id, h.id, c.kind, r.kind,
       s.status, CASE s.status WHEN 'failed' THEN 8 WHEN 'sent' THEN 1 ELSE 0 END,
       CASE WHEN s.status = 'failed' THEN 'http_status: the receiver answered 500' END,
       jsonb_build_object('product_id', h.product_id, 'price', h.price::text,
                          'currency', h.currency, 'title', '商品 ' || h.product_id || '号'),
       h.first_seen_at, h.first_seen_at, h.first_seen_at + interval '1 second',
       CASE WHEN s.status = 'sent' THEN h.first_seen_at + interval '2 seconds' END
FROM (SELECT h.*, row_number() OVER (ORDER BY h.id) AS n FROM price_history AS h) AS h
JOIN LATERAL (SELECT id, user_id, kind FROM alert_rule WHERE product_id = h.product_id
              ORDER BY id LIMIT 1) AS r ON true
JOIN LATERAL (SELECT channel_id FROM alert_rule_channel WHERE rule_id = r.id
              ORDER BY channel_id LIMIT 1) AS rc ON true
JOIN channel AS c ON c.id = rc.channel_id
CROSS JOIN LATERAL (SELECT (ARRAY['sent', 'sent', 'sent', 'sent', 'failed', 'suppressed',
                                  'cooldown', 'capped'])[1 + h.n % 8] AS status) AS s
WHERE h.n % $1 = 0
"""


@dataclass(frozen=True)
class SeedPlan:
    """How many rows of each kind a drill of `history_rows` creates."""

    history_rows: int

    @property
    def products(self) -> int:
        return max(10, self.history_rows // 100)

    @property
    def users(self) -> int:
        return max(5, self.products // 5)

    @property
    def rows_per_product(self) -> int:
        return max(1, self.history_rows // self.products)

    @property
    def watch_spread(self) -> int:
        """Each user watches about one product in this many."""
        return max(2, self.users // 3)


async def seed(conn: Any, history_rows: int) -> SeedPlan:
    """Fill a migrated, empty PriceAlert database with realistic rows (one transaction)."""
    plan = SeedPlan(history_rows)
    key_hash = hashlib.sha256(DRILL_KEY.encode()).hexdigest()
    async with conn.transaction():
        await conn.execute(_USERS, plan.users, DRILL_EMAIL)
        await conn.execute(_KEYS, DRILL_EMAIL, DRILL_KEY, key_hash)
        await conn.execute(_PRODUCTS, plan.products)
        await conn.execute(_HISTORY, plan.rows_per_product)
        await conn.execute(_CURRENT)
        await conn.execute(_WATCHES, plan.watch_spread)
        await conn.execute(_CHANNELS)
        await conn.execute(_RULES)
        await conn.execute(_RULE_CHANNELS)
        await conn.execute(_NOTIFICATIONS, 10)
    await conn.execute("ANALYZE")
    return plan


#: A write as the scraper makes one: a new history row for an existing product, now.
LIVE_WRITE = """
INSERT INTO price_history (product_id, price, currency, availability, first_seen_at,
                           last_seen_at)
SELECT id, 1234, currency, 'InStock', now(), now() FROM product ORDER BY id LIMIT 1
RETURNING first_seen_at
"""
