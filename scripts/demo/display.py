"""What the demo prints: setup steps, shop moves, and each alert with its timing."""

from __future__ import annotations

import statistics
from typing import Any, TextIO

from pricealert_ops.devtools.demo_shop import Item, money, padded
from pricealert_ops.devtools.receiver import Received


class Display:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.colour = out.isatty()
        self.latencies: list[float] = []
        self.verified = 0
        self.refused = 0

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def step(self, text: str) -> None:
        self._print(self._paint("1", f"==> {text}"))

    def note(self, text: str) -> None:
        self._print(self._paint("2", f"    {text}"))

    def link(self, url: str) -> None:
        self._print(self._paint("1;34", f"    {url}"))

    def error(self, text: str) -> None:
        self._print(self._paint("31", f"demo: {text}"))

    def product(self, item: Item) -> None:
        rule = item.rule + (f" {item.threshold}" if item.threshold else "")
        stock = "in stock" if item.in_stock else "out of stock"
        self._print(
            f"    {padded(item.name, 32)} {money(item.price, item.currency):>10}"
            f" {stock:<13} rule: {rule}"
        )

    def shop_move(self, elapsed: float, item: Item) -> None:
        stock = "in stock" if item.in_stock else "out of stock"
        self._print(
            self._paint(
                "2",
                f"  +{elapsed:5.1f}s shop   {item.name}: "
                f"now {money(item.price, item.currency)}, {stock}",
            )
        )

    def alert(
        self,
        elapsed: float,
        delivery: Received,
        item: Item | None,
        changed_at: float | None,
        detected_at: float,
    ) -> None:
        data: dict[str, Any] = delivery.json["data"]
        price = data.get("price") or {}
        old, new = price.get("old") or {}, price.get("new") or {}
        before = money(old.get("amount"), old.get("currency"))
        moved = f"{before} → {money(new.get('amount'), new.get('currency'))}"
        stock = data.get("in_stock") or {}
        if old == new and stock.get("old") is not None and stock.get("old") != stock.get("new"):
            moved = f"{moved}, {'in stock' if stock.get('new') else 'out of stock'} again"
        name = item.name if item else data["product"]["url"]
        if delivery.signature_valid:
            self.verified += 1
            signature = self._paint("32", "signature verified")
        else:
            self.refused += 1
            signature = self._paint("31", "SIGNATURE INVALID")
        timing = f"{delivery.at - detected_at:.2f} s after the scraper saw it"
        if changed_at is not None:
            took = delivery.at - changed_at
            self.latencies.append(took)
            timing = f"{took:.1f} s after the shop changed ({timing})"
        self._print(
            self._paint("1;33", f"  +{elapsed:5.1f}s ALERT  {data['alert']['kind']:<13}")
            + f" {name}  {moved}\n"
            f"           {data['alert'].get('reason', '')}\n"
            f"           {timing}; {signature}"
        )

    def summary(self) -> int:
        """The closing lines; the exit code (0 when at least one verified alert arrived)."""
        if self.latencies:
            median = statistics.median(self.latencies)
            self.step(
                f"{self.verified} verified alerts; shop change → webhook: median {median:.1f} s, "
                f"max {max(self.latencies):.1f} s (checks run every few seconds here; "
                "production checks hourly)"
            )
        else:
            self.step(f"{self.verified} verified alerts")
        if self.refused:
            self.error(f"{self.refused} webhooks had an invalid signature")
        return 0 if self.verified and not self.refused else 1
