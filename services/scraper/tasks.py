"""The scraper's jobs (thin): each hands its payload to the work it names."""

from __future__ import annotations

from pricealert.queues import CheckProduct
from pricealert.worker import JobContext
from services.scraper.check import ProductCheck


async def check_product(ctx: JobContext, job: CheckProduct) -> str:
    check: ProductCheck = ctx["product_check"]
    return await check.run(job.product_id)
