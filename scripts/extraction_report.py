"""How well extraction reads real shop pages, beside a naive peer, in one run.

    python -m scripts.extraction_report [--json] [--update-ratchet] [--manifest PATH]

On the real corpus (tests/extract/real: saved shop pages labelled by hand) it
counts, for PriceAlert's `extract()` and for the naive peer (extruct's JSON-LD,
microdata, RDFa and OpenGraph, then "take the lowest offer"):

- price: right (the label's price or one of its `also_acceptable`), missing,
  wrong, and false (a price on a page that has none: no_price, listing, block);
  also split into pages whose price is machine-readable and text-only pages;
- currency right / wrong (on pages where a price was given and a currency labelled);
- availability right / wrong / missing (on pages with a labelled availability);
- CPU milliseconds per page in process (median and p95 over pages, each page
  the median of several runs; the parse is included, the peer's too);
- suggest: on text-only pages with a price, how often the right element (its
  price, read through `price_by_selector`, is the labelled one) is among the
  first 1 / 3 / 5 candidates.

A readable table goes to stdout, then the same figures as one JSON object
(`--json`: only the JSON). `--update-ratchet` writes our counts to
tests/extract/real_score.json, which the tests hold the extractor to.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import ModuleType
from typing import Any

from pricealert.extract import Page, extract, keep_parser_memory
from pricealert.extract.selector import price_by_selector
from pricealert.extract.stock import read_availability
from pricealert.extract.suggest import suggest_page

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "tests" / "extract" / "real" / "manifest.yaml"
RATCHET = ROOT / "tests" / "extract" / "real_score.json"
PRICED_KINDS = frozenset({"product", "fragment"})
RUNS = 5

#: Counts that may only go up, and those that may only go down (the ratchet).
HIGHER_IS_BETTER = (
    "right",
    "currency_right",
    "availability_right",
    "suggest_top3",
)
LOWER_IS_BETTER = ("wrong", "false_price", "currency_wrong", "availability_wrong")


@dataclass(slots=True)
class Reading:
    """What one extractor read from one page."""

    price: Decimal | None
    currency: str | None
    availability: str | None


#: What a tally counts, in the order its summary lists them.
COUNTS = (
    "right",
    "missing",
    "wrong",
    "false_price",
    "structured_right",
    "structured_total",
    "text_only_right",
    "text_only_total",
    "currency_right",
    "currency_wrong",
    "availability_right",
    "availability_wrong",
    "availability_missing",
)


@dataclass(slots=True)
class Tally:
    """One extractor's score over the corpus: `counts` by the names in COUNTS."""

    counts: Counter[str] = field(default_factory=Counter)
    cpu_ms: list[float] = field(default_factory=list)
    wrong_pages: list[str] = field(default_factory=list)
    false_pages: list[str] = field(default_factory=list)
    missing_pages: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ms = sorted(self.cpu_ms)
        return {
            **{name: self.counts[name] for name in COUNTS},
            "cpu_ms_median": round(statistics.median(ms), 3) if ms else None,
            "cpu_ms_p95": round(ms[min(len(ms) - 1, int(len(ms) * 0.95))], 3) if ms else None,
            "wrong_pages": self.wrong_pages,
            "false_pages": self.false_pages,
        }


def load_pages(manifest: Path = MANIFEST) -> list[Any]:
    """The corpus's pages, through the loader that lives beside the manifest."""
    loader = _loader(manifest.parent / "corpus.py")
    pages: list[Any] = loader.load_corpus(manifest)
    return pages


def _loader(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("real_corpus_loader", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"no corpus loader at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def ours(body: bytes, url: str) -> Reading:
    """PriceAlert's reading of a page."""
    result = extract(body, url)
    return Reading(result.price, result.currency, result.availability)


def verdict(page: Any, reading: Reading) -> str:
    """right / missing / wrong for a priced page; none / false for a page without a price."""
    if page.expected.price is None:
        return "false" if reading.price is not None else "none"
    if reading.price is None:
        return "missing"
    return "right" if page.expected.accepts(reading.price) else "wrong"


def score(pages: Sequence[Any], read: Callable[[bytes, str], Reading], runs: int = RUNS) -> Tally:
    """Score one extractor over the corpus, timing each page `runs` times in process (CPU)."""
    tally = Tally()
    for page in pages:
        body = page.body()
        times = []
        reading = read(body, page.url)
        for _ in range(runs):
            start = time.process_time_ns()
            read(body, page.url)
            times.append((time.process_time_ns() - start) / 1e6)
        if times:
            tally.cpu_ms.append(statistics.median(times))
        _count(tally, page, reading)
    return tally


def _count(tally: Tally, page: Any, reading: Reading) -> None:
    result = verdict(page, reading)
    expected, count = page.expected, tally.counts
    if result == "false":
        count["false_price"] += 1
        tally.false_pages.append(f"{page.id}: {reading.price} {reading.currency}")
    if expected.price is not None:
        kind = "structured" if page.structured else "text_only"
        count[f"{kind}_total"] += 1
        if result == "right":
            count["right"] += 1
            count[f"{kind}_right"] += 1
        elif result == "missing":
            count["missing"] += 1
            tally.missing_pages.append(page.id)
        else:
            count["wrong"] += 1
            tally.wrong_pages.append(
                f"{page.id}: {reading.price} {reading.currency}, expected {expected.price}"
            )
    if reading.price is not None and expected.currency is not None:
        count["currency_right" if reading.currency == expected.currency else "currency_wrong"] += 1
    if expected.availability is not None:
        if reading.availability is None:
            count["availability_missing"] += 1
        elif reading.availability == expected.availability:
            count["availability_right"] += 1
        else:
            count["availability_wrong"] += 1


def suggest_hits(pages: Sequence[Any]) -> dict[str, Any]:
    """On text-only priced pages: where the first right candidate ranks."""
    ranks: dict[str, int | None] = {}
    for page in pages:
        if page.structured or page.expected.price is None:
            continue
        parsed = Page(page.body(), page.url, None)
        candidates = suggest_page(parsed).price
        ranks[page.id] = next(
            (
                rank
                for rank, candidate in enumerate(candidates, 1)
                if page.expected.accepts(
                    price_by_selector(
                        parsed.tree,
                        candidate.selector,
                        default_currency=parsed.expected_currency,
                        japanese=parsed.japanese,
                    )[0]
                )
            ),
            None,
        )
    total = len(ranks)
    hits = {k: sum(1 for r in ranks.values() if r is not None and r <= k) for k in (1, 3, 5)}
    return {
        "pages": total,
        "top1": hits[1],
        "top3": hits[3],
        "top5": hits[5],
        "top3_share": round(hits[3] / total, 3) if total else None,
        "misses": sorted(p for p, r in ranks.items() if r is None or r > 3),
    }


# --- the naive peer: extruct, then the lowest offer --------------------------

_SYNTAXES = ["json-ld", "microdata", "rdfa", "opengraph"]


def peer(body: bytes, url: str) -> Reading:
    """extruct's four syntaxes, every price anywhere in them, the lowest wins."""
    import extruct  # a dev dependency: the report's comparison only

    try:
        data = extruct.extract(
            body, base_url=url, syntaxes=_SYNTAXES, uniform=True, errors="ignore"
        )
    except Exception:  # extruct raises on pages its parsers refuse; the peer reads nothing
        return Reading(None, None, None)
    offers: list[tuple[Decimal, str | None, str | None]] = []
    for syntax in _SYNTAXES:
        for item in data.get(syntax.replace("-", "-"), []) or []:
            _peer_offers(item, offers, 0)
    if not offers:
        return Reading(None, None, None)
    price, currency, availability = min(offers, key=lambda o: o[0])
    return Reading(price, currency, availability)


def _peer_offers(value: Any, out: list[tuple[Decimal, str | None, str | None]], depth: int) -> None:
    if depth > 12:
        return
    if isinstance(value, list):
        for item in value:
            _peer_offers(item, out, depth + 1)
        return
    if not isinstance(value, dict):
        return
    raw = _first(value.get("price") or value.get("lowPrice"))
    raw = raw or _first(value.get("og:price:amount") or value.get("product:price:amount"))
    if raw is not None:
        amount = _peer_decimal(raw)
        if amount is not None and amount > 0:
            currency = _first(
                value.get("priceCurrency")
                or value.get("og:price:currency")
                or value.get("product:price:currency")
            )
            stock = read_availability(
                _first(value.get("availability") or value.get("og:availability"))
            )
            out.append((amount, str(currency).upper() if currency else None, stock))
    for key, child in value.items():
        if isinstance(child, dict | list) and key != "@context":
            _peer_offers(child, out, depth + 1)


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _peer_decimal(raw: Any) -> Decimal | None:
    text = str(raw).strip().replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


# --- the report -----------------------------------------------------------------


def build_report(manifest: Path = MANIFEST, runs: int = RUNS) -> dict[str, Any]:
    """Both extractors' scores and the suggest figures on the corpus at `manifest`."""
    keep_parser_memory()  # as a worker does at startup
    pages = load_pages(manifest)
    our = score(pages, ours, runs)
    their = score(pages, peer, 1)  # extruct is ~50x slower; one timed run is plenty
    return {
        "pages": len(pages),
        "priced_pages": sum(1 for p in pages if p.expected.price is not None),
        "ours": our.summary(),
        "peer": their.summary(),
        "ours_missing_pages": our.missing_pages,
        "suggest": suggest_hits(pages),
    }


def counts_of(tally: Tally, suggest: dict[str, Any]) -> dict[str, int]:
    """The counts the ratchet holds: ours, and the suggest top-3 hits."""
    summary = tally.summary()
    counts = {k: int(summary[k]) for k in (*HIGHER_IS_BETTER, *LOWER_IS_BETTER) if k in summary}
    counts["suggest_top3"] = int(suggest["top3"])
    return counts


def ratchet_of(report: dict[str, Any]) -> dict[str, Any]:
    """What tests/extract/real_score.json records: our counts, and the peer's for comparison."""
    ours_, peer_ = report["ours"], report["peer"]
    counts: dict[str, Any] = {
        k: int(ours_[k]) for k in (*HIGHER_IS_BETTER, *LOWER_IS_BETTER) if k in ours_
    }
    counts["suggest_top3"] = int(report["suggest"]["top3"])
    counts["structured_right"] = int(ours_["structured_right"])
    counts["peer"] = {  # extruct + lowest offer, from the same run (tests do not re-run it)
        "right": peer_["right"],
        "structured_right": peer_["structured_right"],
        "wrong": peer_["wrong"],
    }
    return counts


def _table(report: dict[str, Any]) -> str:
    ours_, peer_ = report["ours"], report["peer"]
    rows = [
        ("price right", "right"),
        ("  machine-readable pages", "structured_right"),
        ("  text-only pages", "text_only_right"),
        ("price missing", "missing"),
        ("price wrong", "wrong"),
        ("false price (page has none)", "false_price"),
        ("currency right", "currency_right"),
        ("currency wrong", "currency_wrong"),
        ("availability right", "availability_right"),
        ("availability wrong", "availability_wrong"),
        ("availability missing", "availability_missing"),
        ("CPU ms/page median", "cpu_ms_median"),
        ("CPU ms/page p95", "cpu_ms_p95"),
    ]
    totals = {
        "right": report["priced_pages"],
        "structured_right": ours_["structured_total"],
        "text_only_right": ours_["text_only_total"],
    }
    lines = [
        f"{report['pages']} real pages, {report['priced_pages']} with a price",
        f"{'':32} {'PriceAlert':>12} {'extruct+lowest':>15}",
    ]
    for label, key in rows:
        total = f"/{totals[key]}" if key in totals else ""
        lines.append(f"{label:32} {str(ours_[key]) + total:>12} {str(peer_[key]) + total:>15}")
    s = report["suggest"]
    lines.append(
        f"suggest on {s['pages']} text-only pages: right element first {s['top1']}, "
        f"in top 3 {s['top3']} ({s['top3_share']:.0%}), in top 5 {s['top5']}"
        if s["pages"]
        else "suggest: no text-only pages"
    )
    for name in ("wrong_pages", "false_pages"):
        for entry in ours_[name]:
            lines.append(f"ours {name[:-6]}: {entry}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs per page")
    parser.add_argument(
        "--update-ratchet", action="store_true", help=f"write our counts to {RATCHET.name}"
    )
    args = parser.parse_args(argv)
    report = build_report(args.manifest, args.runs)
    if not args.json:
        print(_table(report))
    print(json.dumps(report, ensure_ascii=False))
    if args.update_ratchet:
        RATCHET.write_text(json.dumps(ratchet_of(report), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {RATCHET.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
