"""The price history as a small step chart: SVG for the API (`chart.svg`), PNG for email
(Gmail and Outlook desktop strip inline SVG; every client shows an inline PNG). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Protocol

WIDTH, HEIGHT, PAD = 480, 160, 28


class PricePoint(Protocol):
    @property
    def price(self) -> Decimal | None: ...
    @property
    def currency(self) -> str | None: ...
    @property
    def first_seen_at(self) -> datetime: ...


def price_chart_svg(rows: Sequence[PricePoint], *, now: datetime, title: str | None = None) -> str:
    """Draw each price as held from first seen until the next one (the last until now)."""
    label = escape(title or "Price history")
    currency = next((r.currency for r in reversed(rows) if r.price is not None), None)
    priced = [r for r in rows if r.price is not None and r.currency == currency]
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}">'
        f"<title>{label}</title>"
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>'
    )
    if not priced:
        return head + f'<text x="{PAD}" y="{HEIGHT // 2}" font-size="14">No price yet</text></svg>'
    prices = [r.price for r in priced if r.price is not None]
    low, high = min(prices), max(prices)
    span_price = (high - low) or Decimal(1)
    start = priced[0].first_seen_at.timestamp()
    span_time = max(now.timestamp() - start, 1.0)

    def x(at: datetime) -> float:
        return PAD + (at.timestamp() - start) / span_time * (WIDTH - 2 * PAD)

    def y(price: Decimal) -> float:
        return HEIGHT - PAD - float((price - low) / span_price) * (HEIGHT - 2 * PAD)

    points: list[str] = []
    for index, row in enumerate(priced):
        assert row.price is not None
        ends = priced[index + 1].first_seen_at if index + 1 < len(priced) else now
        points.append(f"{x(row.first_seen_at):.1f},{y(row.price):.1f}")
        points.append(f"{x(ends):.1f},{y(row.price):.1f}")
    unit = escape(currency or "")
    return (
        head
        + f'<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{" ".join(points)}"/>'
        + f'<text x="4" y="{PAD - 10}" font-size="11">{high} {unit}</text>'
        + f'<text x="4" y="{HEIGHT - 8}" font-size="11">{low} {unit}</text>'
        + "</svg>"
    )


def price_chart_png(
    rows: Sequence[PricePoint], *, now: datetime, title: str | None = None
) -> bytes:
    """The same chart as `price_chart_svg`, as a WIDTH × HEIGHT PNG (CPU-bound: tens of ms;
    call it off the event loop). Uses matplotlib's object API, no pyplot state, so calls
    from several threads do not share a figure."""
    from io import BytesIO

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    dpi = 100
    figure = Figure(figsize=(WIDTH / dpi, HEIGHT / dpi), dpi=dpi, facecolor="#ffffff")
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.16, 0.14, 0.8, 0.72))
    axes.set_title(title or "Price history", fontsize=9, loc="left")
    currency = next((r.currency for r in reversed(rows) if r.price is not None), None)
    priced = [r for r in rows if r.price is not None and r.currency == currency]
    if priced:
        # matplotlib's date numbers: days since its default epoch, 1970-01-01 UTC.
        times = [r.first_seen_at.timestamp() / 86400 for r in priced] + [now.timestamp() / 86400]
        values = [float(r.price) for r in priced if r.price is not None]
        axes.step(times, [*values, values[-1]], where="post", color="#2563eb", linewidth=2)
        axes.xaxis_date()
        # Whole amounts (yen, won) get whole ticks.
        axes.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=all(v == int(v) for v in values)))
        axes.set_ylabel(currency or "", fontsize=8)
        axes.tick_params(labelsize=7)
        figure.autofmt_xdate(rotation=0, ha="center")
    else:
        axes.set_axis_off()
        axes.text(0.0, 0.5, "No price yet", fontsize=10, transform=axes.transAxes)
    out = BytesIO()
    figure.savefig(out, format="png", dpi=dpi)
    return out.getvalue()
