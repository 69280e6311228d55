"""Benchmark scale: claim latency with 1 000 000 products due over an hour, memory of
each service against that database, and database size per million checks.

Builds the scratch database `pricealert_bench_scale` (`--quick`: 100 000
products), then:
- claim: concurrent claimers call `claim_due_products` (batches of 100 and 500)
  as simulated time walks the hour; p50/p99/max per batch size and per step,
  and the claim's EXPLAIN (it must walk the partial index `ix_product_due`);
- memory: VmRSS of api, scraper, evaluator and notifier after a warm-up, each
  started with the supervisor's command;
- storage: bytes of price_history (with indexes) per million checks when 1 % of
  checks change the price.
Prints one JSON object; the database is dropped at the end.

    python -m scripts.bench.bench_scale [--quick] [--keep-db]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from scripts.bench import scale_claim
from scripts.bench.common import (
    emit,
    log,
    machine_info,
    recreate_database,
    scratch,
)
from scripts.bench.scale_memory import service_memory
from scripts.bench.scale_storage import size_per_million_checks

DATABASE = "pricealert_bench_scale"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 000 products, short runs")
    parser.add_argument("--keep-db", action="store_true", help="leave the database behind")
    args = parser.parse_args()
    products = 100_000 if args.quick else 1_000_000
    started = time.monotonic()
    document: dict[str, Any] = {"benchmark": "scale", "machine": machine_info()}
    log(f"scale: building {DATABASE} with {products} products due over an hour")
    recreate_database(DATABASE)
    with scratch(DATABASE, keep=args.keep_db):
        start = scale_claim.utcnow()
        asyncio.run(scale_claim.load_products(DATABASE, products, start))
        document["products"] = products
        midway = start + timedelta(minutes=30)
        document["claim_explain"] = [
            asyncio.run(scale_claim.explain_claim(DATABASE, midway, size)) for size in (100, 500)
        ]
        document["claim"] = asyncio.run(
            scale_claim.claim_latency(
                DATABASE,
                start,
                steps=3 if args.quick else 6,
                claimers=4,
                batches=3 if args.quick else 10,
                sizes=[100, 500],
            )
        )
        with tempfile.TemporaryDirectory() as log_dir:
            log("scale: starting every service for the memory reading")
            document["memory"] = service_memory(
                DATABASE, Path(log_dir), 8.0 if args.quick else 20.0
            )
        log("scale: growing price history for the storage figure")
        document["storage"] = asyncio.run(
            size_per_million_checks(
                DATABASE, 20_000 if args.quick else 100_000, 5 if args.quick else 11
            )
        )
    document["elapsed_s"] = round(time.monotonic() - started)
    emit(document)


if __name__ == "__main__":
    main()
