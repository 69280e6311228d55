"""Rate limits in Redis, stated on every response they apply to.

Each limit is a fixed window in Redis (one atomic script per request):

- each API key: `rate_limit_per_minute` requests a minute;
- each client address: `bad_key_limit_per_minute` requests with a missing, unknown,
  expired or revoked key a minute; past it, EVERY request from that address is 429
  until the window ends, a valid key's too (otherwise a 401 against a 200 would go on
  telling a guesser which keys work);
- sign-up, key recovery and verification messages: their own per-address, per-email and
  per-user windows (`ApiSettings`).

Responses carry the window that applied, in the IETF draft's fields
(draft-ietf-httpapi-ratelimit-headers-06): `RateLimit-Limit`, `RateLimit-Remaining`,
`RateLimit-Reset` (seconds until the window ends) and `RateLimit-Policy` (`600;w=60`);
a 429 adds `Retry-After`. Where several windows applied, the one with the fewest
requests left is shown. The client address is the TCP peer, or, behind a proxy listed in
`PRICEALERT_TRUSTED_PROXIES` (the ALB's subnets), the address that proxy saw
(X-Forwarded-For, read right to left past trusted hops; uvicorn's ProxyHeadersMiddleware).

When Redis cannot be reached the limiter fails open: reads and writes served from
PostgreSQL stay available through a Redis outage (the API's availability SLO), and a
few seconds without a limit cost less than refusing everyone. Each such request is
logged as a security warning so the gap is visible; the headers are then left out.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.requests import Request
from starlette.types import Scope

from pricealert.errors import RateLimited
from pricealert.logging import get_logger
from pricealert.tokens import MAX_FAILED_ATTEMPTS
from services.api.settings import ApiSettings

_log = get_logger("pricealert.security")
_PREFIX: Final = "pricealert:ratelimit:"
_STATE_KEY: Final = "rate_limit"

# INCR and PEXPIRE in one script so two API processes never race on the window.
_HIT = """
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {current, ttl}
"""

# One round trip per authenticated request. KEYS: the address's bad-key window, the key's
# window. ARGV: bad-key limit, bad-key window (ms), key window (ms), 1 if the key is good.
# Returns {which, count, ttl}: 0 the address is throttled (nothing counted), 1 a bad key
# counted against the address, 2 a good key counted against itself.
_AUTH = """
local fails = tonumber(redis.call('GET', KEYS[1]) or '0')
if fails >= tonumber(ARGV[1]) then
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
    return {0, fails + 1, ttl}
end
local key, window, which = KEYS[2], ARGV[3], 2
if ARGV[4] ~= '1' then key, window, which = KEYS[1], ARGV[2], 1 end
local current = redis.call('INCR', key)
if current == 1 then redis.call('PEXPIRE', key, window) end
local ttl = redis.call('PTTL', key)
if ttl < 0 then redis.call('PEXPIRE', key, window); ttl = tonumber(window) end
return {which, current, ttl}
"""


@dataclass(frozen=True, slots=True)
class Window:
    """One limit's window as this request left it."""

    limit: int
    count: int
    window_seconds: int
    reset_seconds: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    @property
    def first_in_window(self) -> bool:
        return self.count == 1

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The draft's response fields for this window."""
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
            (b"ratelimit-policy", f"{self.limit};w={self.window_seconds}".encode()),
        ]


def _window(limit: int, count: Any, ttl_ms: Any, window_seconds: int) -> Window:
    return Window(limit, int(count), window_seconds, max(1, math.ceil(int(ttl_ms) / 1000)))


def limiter_client(redis_url: str) -> Redis:
    """The limiter's own Redis client. It has no socket timeout: with one, redis-py wraps
    every command's write in `asyncio.wait_for` (a task per request, ~5 % of a lookup's
    CPU); `RateLimiter` bounds each call with its own `timeout` instead."""
    client: Redis = Redis.from_url(redis_url, socket_connect_timeout=2)
    return client


class _Script:
    """A Lua script run by EVALSHA, loaded into Redis when it answers NOSCRIPT (a restarted
    or flushed Redis). redis-py's `Script` does the same, plus a pipeline check that costs a
    runtime protocol `isinstance` on every call: more than the rest of the call's own work."""

    def __init__(self, redis: Any, source: str) -> None:
        self._redis = redis
        self._source = source
        self._sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, keys: list[bytes], args: list[bytes]) -> Any:
        try:
            return await self._redis.evalsha(self._sha, len(keys), *keys, *args)
        except NoScriptError:
            self._sha = await self._redis.script_load(self._source)
            return await self._redis.evalsha(self._sha, len(keys), *keys, *args)


#: The unavailable Redis's errors, after which the limiter fails open (a hung one times out).
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


class RateLimiter:
    """Counts requests in Redis; each call given up after `timeout` seconds (fail open)."""

    def __init__(self, redis: Any, *, timeout: float = 5.0) -> None:
        self._hit = _Script(redis, _HIT)
        self._auth = _Script(redis, _AUTH)
        self._timeout = timeout

    async def hit(self, bucket: str, limit: int, window_seconds: int) -> Window | None:
        """Count one request in `bucket`; None when Redis is unreachable (fail open)."""
        try:
            async with asyncio.timeout(self._timeout):
                count, ttl_ms = await self._hit(
                    [(_PREFIX + bucket).encode()], [b"%d" % (window_seconds * 1000)]
                )
        except _UNAVAILABLE:
            _log.warning("ratelimit.unavailable", category="security", bucket=bucket)
            return None
        return _window(limit, count, ttl_ms, window_seconds)

    async def authenticate(
        self,
        address: str,
        key_id: uuid.UUID | None,
        *,
        key_limit: int,
        bad_key_limit: int,
        window_seconds: int = 60,
    ) -> tuple[bool, Window | None]:
        """Count a request with a good key (`key_id`) or a bad one (None) from `address`.

        Returns whether the address is throttled for bad keys (then nothing else may be
        told about the key), and the window that applies; None when Redis is unreachable.
        """
        # Keys and arguments as bytes: redis-py passes bytes through as they are (an int
        # or a str costs it several calls each, on every request).
        fails = f"{_PREFIX}badkey:{address}".encode()
        ms = b"%d" % (window_seconds * 1000)
        try:
            async with asyncio.timeout(self._timeout):
                which, count, ttl_ms = await self._auth(
                    [fails, f"{_PREFIX}key:{key_id}".encode() if key_id else fails],
                    [b"%d" % bad_key_limit, ms, ms, b"1" if key_id else b"0"],
                )
        except _UNAVAILABLE:
            _log.warning("ratelimit.unavailable", category="security", bucket="auth")
            return False, None
        limit = key_limit if int(which) == 2 else bad_key_limit
        return int(which) == 0, _window(limit, count, ttl_ms, window_seconds)


def record(request: Request, window: Window | None) -> None:
    """Show `window` on this request's response, unless one with fewer requests left is."""
    if window is None:
        return
    shown: Window | None = request.scope.setdefault("state", {}).get(_STATE_KEY)
    if shown is None or window.remaining < shown.remaining or window.exceeded:
        request.scope["state"][_STATE_KEY] = window


def refuse(window: Window, what: str) -> RateLimited:
    """The 429 for an exceeded window."""
    return RateLimited(
        f"rate limit of {window.limit} {what} per {window.window_seconds} s exceeded; "
        f"retry in {window.reset_seconds} s",
        retry_after=window.reset_seconds,
    )


async def enforce(
    request: Request, bucket: str, limit: int, window_seconds: int, what: str = "requests"
) -> Window | None:
    """Count this request in `bucket`, show the window, and raise 429 past the limit."""
    limiter: RateLimiter = request.app.state.rate_limiter
    window = await limiter.hit(bucket, limit, window_seconds)
    record(request, window)
    if window is not None and window.exceeded:
        raise refuse(window, what)
    return window


def shown_window(scope: Scope) -> Window | None:
    """The window this request's response states (`record` chose it), if any: put on the
    response, whatever its status, by `services.api.middleware.ResponseMiddleware`."""
    window: Window | None = scope.get("state", {}).get(_STATE_KEY)
    return window


#: The response fields, as the OpenAPI document describes them.
_HEADER_DOCS: Final = {
    "RateLimit-Limit": "Requests allowed in the current window.",
    "RateLimit-Remaining": "Requests left in the current window.",
    "RateLimit-Reset": "Seconds until the current window ends.",
    "RateLimit-Policy": "The limit and its window in seconds (`600;w=60`).",
}
_RETRY_AFTER_DOC: Final = "Seconds to wait before retrying."


def document_rate_limits(openapi: dict[str, Any], limits: str) -> dict[str, Any]:
    """State the limits in the document's description and put the rate-limit fields on
    every /v1 response (and Retry-After on 429s)."""
    info = openapi.setdefault("info", {})
    info["description"] = f"{info.get('description', '')}\n\n{limits}".strip()
    headers = openapi.setdefault("components", {}).setdefault("headers", {})
    for name, description in {**_HEADER_DOCS, "Retry-After": _RETRY_AFTER_DOC}.items():
        headers[name] = {"description": description, "schema": {"type": "integer"}}
    for path, operations in openapi.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                fields = response.setdefault("headers", {})
                names = [*_HEADER_DOCS, *(["Retry-After"] if status == "429" else [])]
                for name in names:
                    fields[name] = {"$ref": f"#/components/headers/{name}"}
    return openapi


def describe_limits(settings: ApiSettings) -> str:
    """The limits in force, in words (the OpenAPI description; the README says the same)."""
    return (
        "## Rate limits\n\n"
        f"- Each API key: {settings.rate_limit_per_minute} requests a minute.\n"
        f"- Requests with a missing or bad key: {settings.bad_key_limit_per_minute} a minute "
        "per client address; past that, every request from the address is refused (429) "
        "until the minute ends.\n"
        f"- Sign-up: {settings.signup_limit_per_hour} an hour per client address. Key "
        f"recovery: {settings.recovery_limit_per_hour} an hour per client address and "
        f"{settings.recovery_limit_per_email_per_hour} an hour per email address.\n"
        f"- Verification codes: {settings.verification_messages_per_hour} an hour per user "
        f"(of which SMS: {settings.verification_sms_per_day} a day), one per channel every "
        f"{settings.verification_resend_interval_seconds} s; "
        f"{MAX_FAILED_ATTEMPTS} wrong codes retire a code.\n\n"
        "Responses carry `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and "
        "`RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers) for the window they were "
        "counted in; a 429 carries `Retry-After`."
    )
