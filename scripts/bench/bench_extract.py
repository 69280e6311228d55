"""Benchmark extraction alone: pages per second and CPU milliseconds per page.

Builds realistic 100–300 KB product pages from corpus shapes (JSON-LD, Shopify
ProductGroup, Shift_JIS microdata, a configured selector, OpenGraph only, a
listing page) by wrapping each page's product block in what real shops put
around it: a mega-menu, inline state scripts, CSS, a related-products grid and
a footer. Each page is extracted repeatedly; CPU time is `time.process_time`,
and each figure is the median of several runs; minor page faults per page are
reported beside it. Like a scraper worker, the benchmark first calls
`keep_parser_memory()` so that the parser's heap is not faulted in again for
every page (`--no-keep-memory` measures without it). Prints one JSON object.

    python scripts/bench/bench_extract.py [--runs 7] [--iterations 200] [--no-keep-memory]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from pricealert.extract import extract, keep_parser_memory
from pricealert.extract.encoding import detect_encoding

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "extract" / "corpus"

#: name → (corpus file, URL, selector, size in KB)
SHAPES: dict[str, tuple[str, str, str | None, int]] = {
    "jsonld_jp": ("jp_yodobashi_like.html", "https://www.yodobashi.com/product/1/", None, 220),
    "productgroup": (
        "us_shopify_productgroup.html",
        "https://northfield-outfitters.com/products/merino-crew?variant=222",
        None,
        180,
    ),
    "microdata_sjis": (
        "jp_rakuten_sjis.html",
        "https://item.rakuten.co.jp/tanaka-denki/sm-zb48/",
        None,
        260,
    ),
    "selector": (
        "jp_amazon_like.html",
        "https://www.amazon.co.jp/dp/B0C1",
        "#corePrice_feature_div",
        300,
    ),
    "yoast_graph": (
        "us_yoast_graph.html",
        "https://oakandiron.com/product/walnut-board/",
        None,
        150,
    ),
    "opengraph": ("us_opengraph_only.html", "https://honeycombhome.com/products/wraps", None, 120),
    "listing_none": (
        "jp_rakuten_listing.html",
        "https://search.rakuten.co.jp/search/mall/x/",
        None,
        200,
    ),
}


def _chrome(index: int) -> tuple[str, str, str]:
    """Head, top-of-body and bottom-of-body markup of one slice of a shop page (~12 KB).

    The proportions follow real shop pages: most bytes are inline scripts,
    JSON state, CSS and SVG; elements come at roughly 10-12 per KB.
    """
    css = "".join(f".c{index}-{i}{{margin:{i}px;padding:{i % 7}px}}" for i in range(50))
    flags = {f"experiment_{index}_{i}": {"on": i % 3 == 0, "bucket": i % 10} for i in range(50)}
    events = [{"id": i, "event": "view_item", "ts": 1700000000 + i} for i in range(30)]
    state = json.dumps({"flags": flags, "events": events})
    analytics = "".join(f"gtag('event','impression',{{id:{i},list:'rec'}});" for i in range(25))
    head = (
        f"<style>{css}</style><script>window.__STATE_{index}__={state};</script>"
        f"<script>{analytics}</script>"
    )
    links = "".join(
        f'<li><a href="/c/{index}/{i}" class="nav-link">カテゴリ {i}</a></li>' for i in range(40)
    )
    path = " ".join(f"L{i % 24} {(i * 7) % 24}" for i in range(120))
    icons = f'<svg class="sprite"><symbol id="i{index}"><path d="M0 0 {path} Z"/></symbol></svg>'
    top = f'<nav class="mega-menu"><ul>{links}</ul></nav>{icons}'
    cards = "".join(
        f'<li class="card"><a href="/p/{index}-{i}"><img src="/img/{i}.jpg" alt="">'
        f'<span class="name">おすすめ {i}</span><span class="price">¥{1000 + i * 37:,}</span>'
        "</a></li>"
        for i in range(8)
    )  # fmt: skip
    bottom = f'<section class="recommend"><ul>{cards}</ul></section><footer><p>&copy;</p></footer>'
    return head, top, bottom


def build_page(corpus_file: str, size_kb: int) -> bytes:
    """The corpus page grown to about `size_kb` KB with shop chrome, in its own encoding."""
    raw = (CORPUS / corpus_file).read_bytes()
    codec, _ = detect_encoding(raw)
    text = raw.decode(codec)
    heads: list[str] = []
    tops: list[str] = []
    bottoms: list[str] = []
    index = 0
    while sum(len(p) for p in (*heads, *tops, *bottoms)) + len(text) < size_kb * 1024:
        head, top, bottom = _chrome(index)
        heads.append(head)
        tops.append(top)
        bottoms.append(bottom)
        index += 1
    body_open = text.find(">", text.lower().find("<body")) + 1
    head_close = text.lower().find("</head>")
    body_close = text.lower().rfind("</body>")
    page = (
        text[:head_close] + "".join(heads) + text[head_close:body_open] + "".join(tops)
        + text[body_open:body_close] + "".join(bottoms) + text[body_close:]
    )  # fmt: skip
    return page.encode(codec, errors="replace")


def measure(
    body: bytes, url: str, selector: str | None, iterations: int, runs: int
) -> dict[str, Any]:
    """Median CPU milliseconds per extraction over `runs` runs of `iterations` each."""
    result = extract(body, url, selector=selector)
    per_run = []
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(runs):
        start = time.process_time()
        for _ in range(iterations):
            extract(body, url, selector=selector)
        per_run.append((time.process_time() - start) / iterations * 1000)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    return {
        "size_kb": round(len(body) / 1024),
        "elements": len(LexborHTMLParser(body).css("*")),
        "cpu_ms_per_page": round(statistics.median(per_run), 3),
        "minor_faults_per_page": round(faults / (runs * iterations), 1),
        "method": result.method,
        "price": str(result.price) if result.price is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument(
        "--no-keep-memory",
        action="store_true",
        help="measure without keep_parser_memory(), as a process that never calls it",
    )
    args = parser.parse_args()
    kept = False if args.no_keep_memory else keep_parser_memory()
    shapes = {}
    for name, (corpus_file, url, selector, size_kb) in SHAPES.items():
        body = build_page(corpus_file, size_kb)
        shapes[name] = measure(body, url, selector, args.iterations, args.runs)
    median_ms = statistics.median(s["cpu_ms_per_page"] for s in shapes.values())
    mean_ms = statistics.fmean(s["cpu_ms_per_page"] for s in shapes.values())
    products = [s["cpu_ms_per_page"] for name, s in shapes.items() if name != "listing_none"]
    print(
        json.dumps(
            {
                "benchmark": "extract",
                "pages_per_second_per_core": round(1000 / mean_ms, 1),
                "cpu_ms_per_page_median": round(median_ms, 3),
                "cpu_ms_per_page_mean": round(mean_ms, 3),
                "cpu_ms_per_product_page_mean": round(statistics.fmean(products), 3),
                "keep_parser_memory": kept,
                "runs": args.runs,
                "iterations": args.iterations,
                "shapes": shapes,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
