"""The workers benchmark's webhook receiver, in its own process so its CPU is not the notifier's.

Prints `{"url", "netloc"}`, then answers each stdin line with what arrived so far:
`{"received", "valid", "distinct"}` (valid: the Standard Webhooks signature checked out).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from pricealert_ops.devtools.receiver import Receiver
from scripts.bench.workers_setup import WEBHOOK_SECRET, announce, serve_requests


async def main() -> None:
    async with Receiver(secret=WEBHOOK_SECRET) as hook:
        url = await hook.start()
        announce({"url": url, "netloc": hook.netloc})

        async def stats(_request: str) -> dict[str, Any]:
            return {
                "received": len(hook.received),
                "valid": len(hook.valid),
                "distinct": len({r.headers.get("webhook-id") for r in hook.valid}),
            }

        await serve_requests(stats)


if __name__ == "__main__":
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the replies go to sys.__stdout__
    asyncio.run(main())
