"""The scraper's jobs (thin): each hands its payload to the work it names."""

from __future__ import annotations

from collections import Counter

from pricealert.queues import CheckBatch, CheckProduct
from pricealert.worker import JobContext
from services.scraper.check import ProductCheck


async def check_product(ctx: JobContext, job: CheckProduct) -> str:
    """A single check ("check now" from the API)."""
    check: ProductCheck = ctx["product_check"]
    return await check.run(job.product_id)


async def check_batch(ctx: JobContext, job: CheckBatch) -> dict[str, int]:
    """The checks of one scheduler claim."""
    check: ProductCheck = ctx["product_check"]
    results: Counter[str] = await check.run_batch(job.lease_token, job.product_ids)
    return dict(results)
