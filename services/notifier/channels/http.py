"""Slack and webhooks over the guarded client: one POST, no redirects, the answer classified.

2xx                          delivered
408, 429, 5xx                transient (429/503 `Retry-After` seconds respected)
410                          permanent, and the channel is disabled (the endpoint is gone)
3xx                          permanent: redirects are not followed (a webhook URL that
                             moved must be updated by its owner, not guessed)
other 4xx                    permanent
timeout, connection, DNS,
TLS, oversized answer        transient
bad URL, refused address     permanent (the target itself is not allowed)
"""

from __future__ import annotations

from typing import Final

from pricealert.http import (
    BadURL,
    BlockedAddress,
    FetchError,
    FetchResult,
    GuardedClient,
)
from services.notifier.channels import PermanentFailure, TransientFailure

#: An answer's body is only read for the failure reason: keep it small.
MAX_ANSWER_BYTES: Final = 64 * 1024
TRANSIENT_STATUSES: Final = frozenset({408, 429})


async def post(
    http: GuardedClient, url: str, body: bytes, headers: dict[str, str], *, total_seconds: float
) -> FetchResult:
    """POST `body` once; raise the delivery failure the answer means."""
    try:
        result = await http.post(
            url,
            content=body,
            headers={"content-type": "application/json", **headers},
            follow_redirects=False,
            max_bytes=MAX_ANSWER_BYTES,
            total_timeout=total_seconds,
        )
    except (BadURL, BlockedAddress) as exc:
        raise PermanentFailure(f"{exc.code}: {exc.detail}") from exc
    except FetchError as exc:
        raise TransientFailure(f"{exc.code}: {exc.detail}") from exc
    check(result)
    return result


def check(result: FetchResult) -> None:
    """Raise unless the answer is a 2xx."""
    status = result.status
    if 200 <= status < 300:
        return
    said = result.body[:200].decode("utf-8", "replace").strip()
    reason = f"HTTP {status}" + (f": {said}" if said else "")
    if status in TRANSIENT_STATUSES or status >= 500:
        raise TransientFailure(reason, retry_after=_retry_after(result))
    if status == 410:
        raise PermanentFailure(f"{reason} (endpoint gone: channel disabled)", disable_channel=True)
    if 300 <= status < 400:
        where = result.headers.get("location", "?")
        raise PermanentFailure(f"HTTP {status} redirect to {where}: redirects are not followed")
    raise PermanentFailure(reason)


def _retry_after(result: FetchResult) -> float | None:
    value = result.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
