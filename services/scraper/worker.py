"""Scraper worker wiring: `arq services.scraper.worker.WorkerSettings`."""

from __future__ import annotations

from pricealert.extract import keep_parser_memory
from pricealert.http import GuardedClient
from pricealert.queues import SCRAPE_QUEUE, CheckBatch, CheckProduct
from pricealert.worker import JobContext, build_worker_settings, job
from services.scraper.check import ProductCheck
from services.scraper.fetch import ShopFetcher
from services.scraper.schedule import start_scheduler, stop_scheduler
from services.scraper.settings import ScraperSettings
from services.scraper.tasks import check_batch, check_product

settings = ScraperSettings()


async def startup(ctx: JobContext) -> None:
    # Parsing a shop page allocates ~2 MB; glibc would hand it back to the kernel after
    # each page and fault it in again for the next (a third of extraction's CPU).
    keep_parser_memory()
    # As many pooled connections per shop as requests may run on it at once: a smaller
    # pool makes the extra requests wait for a connection and fail as timeouts.
    client = GuardedClient.from_settings(
        settings, max_connections_per_host=settings.per_domain_concurrency
    )
    ctx["http_client"] = client
    fetcher = ShopFetcher(client, settings.fetch_policy())
    ctx["product_check"] = ProductCheck(ctx["sessionmaker"], ctx["redis"], fetcher, settings)
    ctx["scheduler"] = start_scheduler(ctx["sessionmaker"], ctx["redis"], settings)


async def shutdown(ctx: JobContext) -> None:
    if "scheduler" in ctx:
        await stop_scheduler(ctx["scheduler"])
    if "http_client" in ctx:
        await ctx["http_client"].aclose()


WorkerSettings = build_worker_settings(
    service="scraper",
    queue=SCRAPE_QUEUE,
    settings=settings,
    functions=[
        job(SCRAPE_QUEUE, CheckProduct, check_product, timeout=settings.check_timeout_seconds),
        job(SCRAPE_QUEUE, CheckBatch, check_batch, timeout=settings.check_timeout_seconds),
    ],
    job_timeout=settings.check_timeout_seconds,
    max_jobs=settings.worker_concurrency,
    on_startup=startup,
    on_shutdown=shutdown,
)
