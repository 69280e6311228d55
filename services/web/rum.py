"""Real-user timing, health and metrics.

Each page's script reports its Navigation Timing — from the start of navigation to the load
event, as the browser measured it — to `POST /rum` once the page has loaded
(`navigator.sendBeacon`). The web service counts it in
`pricealert_web_page_load_seconds{page}`, the page being the template's name (a fixed set:
nothing a browser sends becomes a label). A beacon must carry the token its page was
served with (an HMAC of page and time, valid `PRICEALERT_BEACON_MAX_AGE_SECONDS`), so only
pages this service served are counted, and each timing must lie within 0–120 s; anything
else is refused (204 all the same, counted in `pricealert_web_beacons_refused_total`).

Each served page's token counts once: the token carries a nonce, and the tokens already
counted are remembered until they expire, so replaying one beacon cannot skew the
histogram. That also bounds what `/rum` can be made to do without a rate limit of its
own: one counted beacon per page this process rendered (rendering costs the sender far
more than the beacon costs us). The memory is per process (a token replayed to another
web task counts there once more) and at most `MAX_REMEMBERED` tokens, oldest forgotten
first.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from pricealert import metrics
from services.web.session import SessionCodec

router = APIRouter()
TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
#: The pages whose load is measured: every full-page template (not the fragments).
PAGES: Final = frozenset(
    path.stem
    for path in TEMPLATES_DIR.glob("*.html")
    if not path.stem.startswith(("_", "base")) and not path.stem.endswith("_rows")
)
MAX_BEACON_BYTES: Final = 1024
MAX_LOAD_SECONDS: Final = 120.0
#: Tokens remembered as counted (≈ 100 bytes each); past it the oldest are forgotten.
MAX_REMEMBERED: Final = 100_000


class CountedTokens:
    """The beacon tokens already counted, each until its page's beacon would expire."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._expiry: dict[str, float] = {}  # insertion order ≈ issue order
        self._limit = limit

    def first_use(self, token: str, expires_at: float, now: float) -> bool:
        """Remember `token`; False when it was counted before (a replay)."""
        while self._expiry:
            oldest, expiry = next(iter(self._expiry.items()))
            if expiry > now and len(self._expiry) < self._limit:
                break
            del self._expiry[oldest]
        if token in self._expiry:
            return False
        self._expiry[token] = expires_at
        return True


def _refuse(reason: str) -> Response:
    metrics.WEB_BEACONS_REFUSED.labels(reason).inc()
    return Response(status_code=204)


@router.post("/rum", include_in_schema=False)
async def beacon(request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BEACON_BYTES:
            return _refuse("malformed")
    try:
        report = json.loads(body)
        page, token, load = str(report["page"]), str(report["token"]), float(report["load"])
        issued_text, nonce, signature = token.split(".", 2)
        issued = int(issued_text)
    except (ValueError, KeyError, TypeError):
        return _refuse("malformed")
    if page not in PAGES:
        return _refuse("unknown_page")
    codec: SessionCodec = request.app.state.codec
    max_age = request.app.state.settings.beacon_max_age_seconds
    now = time.time()
    fresh = 0 <= now - issued <= max_age
    if not fresh or not hmac.compare_digest(signature, codec.beacon_token(page, issued, nonce)):
        return _refuse("bad_token")
    if not math.isfinite(load) or not 0 <= load <= MAX_LOAD_SECONDS:
        return _refuse("out_of_range")
    counted: CountedTokens = request.app.state.beacons_counted
    if not counted.first_use(token, issued + max_age, now):
        return _refuse("replayed")
    metrics.WEB_PAGE_LOAD.labels(page).observe(load)
    return Response(status_code=204)


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """The API answers its own /readyz: without it no page can be served."""
    try:
        response = await asyncio.wait_for(request.app.state.api.http.get("/readyz"), 2.0)
        ready = response.status_code == 200
        check = "ok" if ready else f"error: HTTP {response.status_code}"
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        ready, check = False, f"error: {type(exc).__name__}"
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": {"api": check}},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, headers={"Content-Type": content_type})
