"""Per-key rate limiting in Redis: one atomic script, a fixed window per key.

When Redis cannot be reached the limiter fails open: reads and writes served from
PostgreSQL stay available through a Redis outage (the API's availability SLO), and a
few seconds without a limit cost less than refusing everyone. Each such request is
logged as a security warning so the gap is visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pricealert.errors import RateLimited
from pricealert.logging import get_logger

_log = get_logger("pricealert.security")

# INCR and PEXPIRE in one script so two API processes never race on the window.
_SCRIPT = """
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {current, ttl}
"""


@dataclass(frozen=True)
class Window:
    count: int
    first_in_window: bool


class RateLimiter:
    def __init__(self, redis: Any) -> None:
        self._script = redis.register_script(_SCRIPT)

    async def hit(self, bucket: str, limit: int, window_seconds: int) -> Window:
        """Count one request in `bucket`; raise `RateLimited` past `limit` per window."""
        try:
            count, ttl_ms = await self._script(
                keys=[f"pricealert:ratelimit:{bucket}"], args=[window_seconds * 1000]
            )
        except (RedisConnectionError, RedisTimeoutError, OSError):
            _log.warning("ratelimit.unavailable", category="security", bucket=bucket)
            return Window(count=0, first_in_window=False)
        if int(count) > limit:
            raise RateLimited(
                f"rate limit of {limit} requests per {window_seconds} s exceeded",
                retry_after=max(1, math.ceil(int(ttl_ms) / 1000)),
            )
        return Window(count=int(count), first_in_window=int(count) == 1)
