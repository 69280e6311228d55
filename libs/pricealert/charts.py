"""The price chart a person reads at a glance: one renderer (SVG), rasterised for email.

`price_chart_svg` draws the price as a step line (each price held from when it was
first seen until the next one, the last until now) over a time axis with dates, a
price axis in the currency's own format (`¥1,280`, `22,90 €`, `$1,299.00`, CLDR through
babel), out-of-stock spans shaded, the lowest price ever and the reader's alert
thresholds as labelled dashed lines, and the current price labelled at the end.
`price_chart_png` is that very SVG rasterised by resvg (email: Gmail and Outlook desktop
strip inline SVG; every client shows an inline PNG), so the two cannot drift apart.

Times are UTC unless the reader's zone is given (`zone`: the web UI passes the user's).
Text is drawn in DejaVu Sans (matplotlib ships it, so every machine has it), with any CJK
fallback font the system has (Debian's fonts-droid-fallback: `.ci/run` and the Dockerfile
install it) for Japanese and Chinese dates and the full-width yen. Pure.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Protocol, TypedDict, Unpack

from pricealert.money import (
    format_day,
    format_money,
    format_month,
    format_time,
    home_locale,
    known_currency,
    minor_units,
)

#: Sizes the API accepts (`?width=&height=`), and its defaults.
MIN_WIDTH, MAX_WIDTH, DEFAULT_WIDTH = 320, 1600, 640
MIN_HEIGHT, MAX_HEIGHT, DEFAULT_HEIGHT = 160, 900, 280
MIN_DAYS, MAX_DAYS, DEFAULT_DAYS = 1, 3650, 90
#: The email's chart: drawn at this size, rasterised at twice it for sharp screens.
EMAIL_WIDTH, EMAIL_HEIGHT, EMAIL_ZOOM = 480, 220, 2

PRICE_COLOUR = "#2563eb"
LOWEST_COLOUR = "#059669"
THRESHOLD_COLOUR = "#d97706"
OUT_OF_STOCK_FILL = "#fbd5d5"
GRID_COLOUR = "#e5e7eb"
TEXT_COLOUR = "#374151"
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
TICK_FONT_SIZE = 11
LABEL_FONT_SIZE = 11
CURRENT_FONT_SIZE = 12
#: A white outline under a label's glyphs: readable where it crosses a line.
_HALO = 'stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'
#: The shortest time axis drawn (a product seen once is shown over its last day).
MIN_SPAN = timedelta(days=1)


class PricePoint(Protocol):
    @property
    def price(self) -> Decimal | None: ...
    @property
    def currency(self) -> str | None: ...
    @property
    def in_stock(self) -> bool | None: ...
    @property
    def first_seen_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class _Span:
    """One history row as drawn: its state from `start` to `end` (clipped to the window)."""

    start: datetime
    end: datetime
    price: Decimal | None
    in_stock: bool | None


def _text_width(text: str, size: float) -> float:
    """A generous estimate of the rendered width (DejaVu Sans averages ~0.6 em; CJK 1 em)."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.62 for ch in text)


def _spans(
    rows: Sequence[PricePoint], currency: str | None, start: datetime, now: datetime
) -> list[_Span]:
    spans = []
    for index, row in enumerate(rows):
        ends = rows[index + 1].first_seen_at if index + 1 < len(rows) else now
        if ends <= start:
            continue
        price = row.price if row.currency == currency else None
        spans.append(_Span(max(row.first_seen_at, start), ends, price, row.in_stock))
    return spans


def _out_of_stock(spans: Sequence[_Span]) -> list[tuple[datetime, datetime]]:
    """The out-of-stock time ranges, back-to-back spans joined."""
    ranges: list[tuple[datetime, datetime]] = []
    for span in spans:
        if span.in_stock is not False:
            continue
        if ranges and ranges[-1][1] == span.start:
            ranges[-1] = (ranges[-1][0], span.end)
        else:
            ranges.append((span.start, span.end))
    return ranges


def _price_step(low: Decimal, high: Decimal, ticks: int, places: int) -> Decimal:
    """A round step (1, 2, 2.5 or 5 × 10ⁿ) giving about `ticks` gridlines, never finer
    than the currency's minor unit."""
    raw = float(high - low) / max(ticks, 1)
    smallest = Decimal(1).scaleb(-places)
    if raw <= 0:
        return smallest
    magnitude = Decimal(10) ** math.floor(math.log10(raw))
    for multiple in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        step = multiple * magnitude
        if float(step) >= raw:
            return max(step, smallest)
    return max(Decimal(10) * magnitude, smallest)


def _time_ticks(
    start: datetime, end: datetime, max_ticks: int, zone: tzinfo = UTC
) -> tuple[list[datetime], str]:
    """Round instants on the axis (round on the reader's clock, `zone`) and how to label
    them (`time`, `day` or `month`)."""
    start, end = start.astimezone(zone), end.astimezone(zone)
    span = (end - start).total_seconds()
    for hours in (1, 2, 3, 6, 12):
        if span / (hours * 3600) <= max_ticks:
            first = start.replace(minute=0, second=0, microsecond=0)
            ticks = [first + timedelta(hours=h) for h in range(0, int(span // 3600) + 2)]
            return [t for t in ticks if start <= t <= end and t.hour % hours == 0], "time"
    for days in (1, 2, 7, 14):
        if span / (days * 86400) <= max_ticks:
            first = start.replace(hour=0, minute=0, second=0, microsecond=0)
            ticks = [first + timedelta(days=d) for d in range(0, int(span // 86400) + 2)]
            # Weekly ticks on Mondays (1970-01-05 was one), counted on the reader's calendar.
            epoch_day = datetime(1970, 1, 5, tzinfo=UTC)
            picked = [t for t in ticks if (t.replace(tzinfo=UTC) - epoch_day).days % days == 0]
            return [t for t in picked if start <= t <= end], "day"
    for months in (1, 2, 3, 6, 12, 24, 60, 120):
        if span / (months * 30.44 * 86400) <= max_ticks:
            ticks = []
            year, month = start.year, start.month
            while True:
                at = datetime(year, month, 1, tzinfo=zone)
                if at > end:
                    break
                if at >= start and (year * 12 + month - 1) % months == 0:
                    ticks.append(at)
                month += 1
                if month > 12:
                    year, month = year + 1, 1
            return ticks, "month"
    return [start, end], "month"


def price_chart_svg(
    rows: Sequence[PricePoint],
    *,
    now: datetime,
    days: int = DEFAULT_DAYS,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    thresholds: Sequence[Decimal] = (),
    lowest_ever: Decimal | None = None,
    locale: str | None = None,
    title: str | None = None,
    zone: tzinfo = UTC,
) -> str:
    """The last `days` of `rows` (history rows, oldest first) as an SVG chart.

    `thresholds`: the reader's "below" alert prices, drawn as lines; `lowest_ever`: the
    lowest price of the product's whole history; `locale`: how to write amounts and
    dates (default: the currency's home locale, `money.home_locale`); `zone`: the time zone
    the time axis is read in (UTC by default)."""
    label = title or "Price history"
    currency = next((r.currency for r in reversed(rows) if r.price is not None), None)
    where = locale or (home_locale(currency) if currency else "en")
    start = max(now - timedelta(days=days), rows[0].first_seen_at if rows else now)
    start = min(start, now - MIN_SPAN)
    spans = _spans(rows, currency, start, now)
    priced = [s for s in spans if s.price is not None]
    current = next((s.price for s in reversed(spans) if s.price is not None), None)
    summary = _summary(label, days, current, lowest_ever, currency, where)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(summary)}" '
        f'font-family="{FONT}">'
        f"<title>{escape(label)}</title><desc>{escape(summary)}</desc>"
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
    )
    if currency is None or not priced:
        message = "No price yet" if currency is None else f"No price in the last {days} days"
        return (
            head + f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" font-size="14" '
            f'text-anchor="middle" fill="{TEXT_COLOUR}">{message}</text></svg>'
        )
    places = minor_units(currency) if known_currency(currency) else 2

    def money(amount: Decimal) -> str:
        return format_money(amount, currency, where) if known_currency(currency) else (
            f"{amount} {currency}"
        )  # fmt: skip

    # The price scale: every price drawn, the lowest ever and the thresholds, padded.
    shown = [s.price for s in priced if s.price is not None]
    lines = [(t, "Alert", THRESHOLD_COLOUR) for t in sorted(set(thresholds), reverse=True)]
    if lowest_ever is not None:
        lines.append((lowest_ever, "Lowest ever", LOWEST_COLOUR))
    values = shown + [value for value, _, _ in lines]
    low, high = min(values), max(values)
    if low == high:
        pad = max(abs(low) * Decimal("0.05"), Decimal(1).scaleb(-places))
        low, high = low - pad, high + pad
    top, bottom = 14, height - 24
    step = _price_step(low, high, max(2, (bottom - top) // 45), places)
    low = (low / step).to_integral_value(ROUND_FLOOR) * step
    high = (high / step).to_integral_value(ROUND_CEILING) * step
    if low == high:
        high = low + step
    tick_values = []
    value = low
    while value <= high:
        tick_values.append(value)
        value += step
    tick_labels = [money(v) for v in tick_values]
    current_label = money(current) if current is not None else ""
    left = 8 + max(_text_width(t, TICK_FONT_SIZE) for t in tick_labels) + 6
    right = width - (12 + _text_width(current_label, CURRENT_FONT_SIZE) + 6)
    if right - left < 80:  # too narrow for labels: the plot keeps a minimum width
        right = min(width - 8, left + 80)
    plot_seconds = max((now - start).total_seconds(), 1.0)
    price_span = high - low

    def x(at: datetime) -> float:
        return left + (at - start).total_seconds() / plot_seconds * (right - left)

    def y(price: Decimal) -> float:
        return bottom - float((price - low) / price_span) * (bottom - top)

    parts = [head]
    # Out-of-stock spans first, under everything else (back-to-back ones as one).
    for out_start, out_end in _out_of_stock(spans):
        x0, x1 = x(out_start), x(out_end)
        parts.append(
            f'<rect class="out-of-stock" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{bottom - top}" fill="{OUT_OF_STOCK_FILL}"/>'
        )
    # Price gridlines and axis labels.
    for tick, text in zip(tick_values, tick_labels, strict=True):
        ty = y(tick)
        parts.append(
            f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{ty:.1f}" y2="{ty:.1f}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
            f'<text x="{left - 6:.1f}" y="{ty + 4:.1f}" font-size="{TICK_FONT_SIZE}" '
            f'text-anchor="end" fill="{TEXT_COLOUR}">{escape(text)}</text>'
        )
    # The time axis: dates (or hours, for a short span) at round instants.
    times, unit = _time_ticks(start, now, max(2, int((right - left) // 70)), zone)
    for at in times:
        tx = x(at)
        if unit == "time":
            text = format_day(at, where) if at.hour == 0 else format_time(at, where)
        elif unit == "day":
            text = format_day(at, where, with_year=at.month == 1 and at.day <= 7)
        else:
            text = format_month(at, where)
        parts.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top}" y2="{bottom}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
            f'<text x="{tx:.1f}" y="{bottom + 16}" font-size="{TICK_FONT_SIZE}" '
            f'text-anchor="middle" fill="{TEXT_COLOUR}">{escape(text)}</text>'
        )
    parts.append(
        f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{bottom}" y2="{bottom}" '
        f'stroke="#9ca3af" stroke-width="1"/>'
    )
    # Reference lines, labelled at their right end (above the line, or below when the
    # label above would overlap the previous one).
    taken: list[float] = []
    labels: list[str] = []  # drawn last, over the price line
    for value, name, colour in lines:
        ly = y(value)
        parts.append(
            f'<line class="{name.lower().replace(" ", "-")}" x1="{left:.1f}" x2="{right:.1f}" '
            f'y1="{ly:.1f}" y2="{ly:.1f}" stroke="{colour}" stroke-width="1.5" '
            f'stroke-dasharray="6 4"/>'
        )
        text_y = ly - 4
        if any(abs(text_y - other) < LABEL_FONT_SIZE + 1 for other in taken) or text_y < top + 10:
            text_y = ly + LABEL_FONT_SIZE + 2
        taken.append(text_y)
        labels.append(
            f'<text x="{right - 4:.1f}" y="{text_y:.1f}" font-size="{LABEL_FONT_SIZE}" '
            f'text-anchor="end" fill="{colour}" {_HALO}>'
            f"{escape(name)} {escape(money(value))}</text>"
        )
    # The price itself: a step line, broken where no price was seen.
    path: list[str] = []
    previous_end: datetime | None = None
    for span in spans:
        if span.price is None:
            previous_end = None
            continue
        py = y(span.price)
        verb = "L" if previous_end is not None and previous_end == span.start else "M"
        path.append(f"{verb}{x(span.start):.1f},{py:.1f}L{x(span.end):.1f},{py:.1f}")
        previous_end = span.end
    parts.append(
        f'<path class="price" d="{"".join(path)}" fill="none" stroke="{PRICE_COLOUR}" '
        f'stroke-width="2" stroke-linejoin="round"/>'
    )
    parts.extend(labels)
    if current is not None and spans[-1].price is not None:
        cx, cy = x(now), y(current)
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{PRICE_COLOUR}"/>'
            f'<text class="current" x="{cx + 8:.1f}" y="{cy + 4:.1f}" '
            f'font-size="{CURRENT_FONT_SIZE}" font-weight="bold" fill="{PRICE_COLOUR}">'
            f"{escape(current_label)}</text>"
        )
    return "".join(parts) + "</svg>"


def _summary(
    label: str,
    days: int,
    current: Decimal | None,
    lowest: Decimal | None,
    currency: str | None,
    locale: str,
) -> str:
    if currency is None or current is None:
        return f"{label}: no price yet"
    known = known_currency(currency)
    now_text = format_money(current, currency, locale) if known else f"{current} {currency}"
    text = f"{label}, last {days} days: now {now_text}"
    if lowest is not None:
        low_text = format_money(lowest, currency, locale) if known else f"{lowest} {currency}"
        text += f", lowest ever {low_text}"
    return text


# -- rasterising -------------------------------------------------------------------

#: CJK fallback fonts, where a Debian package put them (the first found are used).
_FALLBACK_FONTS = (
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
)


@lru_cache(maxsize=1)
def chart_fonts() -> tuple[str, ...]:
    """The font files the rasteriser loads: DejaVu Sans from matplotlib's package data
    (always there), then whichever CJK fallbacks the system has. Explicit files rather
    than a scan of the system's fonts: 3 ms a chart instead of 30."""
    spec = importlib.util.find_spec("matplotlib")
    assert spec is not None
    assert spec.submodule_search_locations
    base = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"
    files = [str(base / "DejaVuSans.ttf"), str(base / "DejaVuSans-Bold.ttf")]
    return (*files, *(f for f in _FALLBACK_FONTS if Path(f).is_file()))


def svg_to_png(svg: str, *, zoom: float = 1.0) -> bytes:
    """Rasterise an SVG with resvg (CPU-bound, a few ms: call it off the event loop)."""
    import resvg_py

    png = resvg_py.svg_to_bytes(
        svg_string=svg,
        zoom=zoom,
        skip_system_fonts=True,
        font_files=list(chart_fonts()),
        font_family="DejaVu Sans",
        sans_serif_family="DejaVu Sans",
    )
    return bytes(png)


class EmailChartOptions(TypedDict, total=False):
    """What `price_chart_png` passes on to `price_chart_svg` (its defaults hold)."""

    days: int
    thresholds: Sequence[Decimal]
    lowest_ever: Decimal | None
    locale: str | None
    title: str | None


def price_chart_png(
    rows: Sequence[PricePoint], *, now: datetime, **options: Unpack[EmailChartOptions]
) -> bytes:
    """The email's chart: `price_chart_svg` at EMAIL_WIDTH × EMAIL_HEIGHT, as a PNG of
    twice that (shown at the smaller size: sharp on high-density screens)."""
    svg = price_chart_svg(rows, now=now, width=EMAIL_WIDTH, height=EMAIL_HEIGHT, **options)
    return svg_to_png(svg, zoom=EMAIL_ZOOM)
