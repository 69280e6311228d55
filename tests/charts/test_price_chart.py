"""The price chart, looked at as a person would: rasterised to pixels by the real
rasteriser (resvg), then read region by region."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from PIL import Image

from pricealert.charts import (
    EMAIL_HEIGHT,
    EMAIL_WIDTH,
    EMAIL_ZOOM,
    LOWEST_COLOUR,
    OUT_OF_STOCK_FILL,
    PRICE_COLOUR,
    THRESHOLD_COLOUR,
    price_chart_png,
    price_chart_svg,
    svg_to_png,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Row:
    price: Decimal | None
    currency: str | None
    in_stock: bool | None
    first_seen_at: datetime


def _history(currency: str, *points: tuple[str | None, int, bool | None]) -> list[Row]:
    """(price, days ago, in stock), oldest first."""
    return [
        Row(Decimal(p) if p is not None else None, currency, stock, NOW - timedelta(days=d))
        for p, d, stock in points
    ]


def _pixels(svg: str) -> Image.Image:
    return Image.open(io.BytesIO(svg_to_png(svg))).convert("RGB")


def _rgb(hex_colour: str) -> RGB:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _close(pixel: RGB, colour: RGB, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def _share(image: Image.Image, colour: RGB, xs: range, ys: range) -> float:
    """The share of pixels in the region that have `colour`."""
    hits = total = 0
    for y in ys:
        for x in xs:
            total += 1
            hits += _close(image.getpixel((x, y)), colour)  # type: ignore[arg-type]
    return hits / total


def _line_share(image: Image.Image, colour: RGB, xs: range, y: float) -> float:
    """The share of columns where a horizontal line of `colour` is drawn about row `y`
    (anti-aliasing spreads a line at a fractional row over two)."""
    rows = range(round(y) - 1, round(y) + 2)
    hits = sum(
        any(_close(image.getpixel((x, row)), colour, 60) for row in rows)  # type: ignore[arg-type]
        for x in xs
    )
    return hits / len(xs)


def _plot_x(svg: str) -> tuple[float, float]:
    """The plot's left and right edges (its horizontal gridlines' ends)."""
    lines = [e for e in _elements(svg, "line") if e.get("y1") == e.get("y2")]
    return (
        min(float(e.get("x1", 0)) for e in lines),
        max(float(e.get("x2", 0)) for e in lines),
    )


def _elements(svg: str, tag: str, cls: str | None = None) -> list[ET.Element]:
    root = ET.fromstring(svg)  # noqa: S314 (our own SVG, not untrusted input)
    found = root.iter(SVG + tag)
    return [e for e in found if cls is None or e.get("class") == cls]


def _texts(svg: str) -> list[str]:
    return [e.text or "" for e in _elements(svg, "text")]


LAMP = _history(
    "JPY",
    ("1480", 120, True),
    ("1380", 70, True),
    ("1280", 50, False),  # sold out for 15 days
    ("1180", 35, True),
    ("1280", 10, True),
)


def test_out_of_stock_spans_are_shaded_in_their_own_time_range() -> None:
    svg = price_chart_svg(LAMP, now=NOW, days=90)
    image = _pixels(svg)
    [shade] = _elements(svg, "rect", "out-of-stock")
    x0, width = float(shade.get("x", 0)), float(shade.get("width", 0))
    top = int(float(shade.get("y", 0)))
    # Expected where the 15 days out of stock fall on a 90-day axis.
    path = _elements(svg, "path", "price")[0].get("d", "")
    assert path.startswith("M")
    inside = range(int(x0) + 3, int(x0 + width) - 3)
    assert _share(image, _rgb(OUT_OF_STOCK_FILL), inside, range(top + 2, top + 12)) > 0.8
    before = range(int(x0) - 40, int(x0) - 10)
    assert _share(image, _rgb(OUT_OF_STOCK_FILL), before, range(top + 2, top + 12)) == 0
    # 15 days of the 90 shown: a sixth of the plot's width.
    left, right = _plot_x(svg)
    assert width / (right - left) == pytest.approx(15 / 90, abs=0.01)


def test_the_thresholds_and_the_lowest_price_are_labelled_lines_on_their_rows() -> None:
    svg = price_chart_svg(
        LAMP, now=NOW, days=90, thresholds=[Decimal(1230)], lowest_ever=Decimal(1180)
    )
    image = _pixels(svg)
    [alert] = _elements(svg, "line", "alert")
    [lowest] = _elements(svg, "line", "lowest-ever")
    alert_row, lowest_row = float(alert.get("y1", 0)), float(lowest.get("y1", 0))
    x_range = range(int(float(alert.get("x1", 0))) + 2, int(float(alert.get("x2", 0))) - 2)
    # Dashed 6/4: about 60 % of the row is the line's colour; the price line covers the
    # lowest one where the price was at its lowest, the labels cover a little.
    assert _line_share(image, _rgb(THRESHOLD_COLOUR), x_range, alert_row) > 0.4
    assert _line_share(image, _rgb(LOWEST_COLOUR), x_range, lowest_row) > 0.3
    # Neither colour is drawn along the other's row.
    assert _line_share(image, _rgb(LOWEST_COLOUR), x_range, alert_row) < 0.05
    # A lower price is drawn lower; the threshold sits between the lowest and the current.
    [current] = _elements(svg, "text", "current")
    assert float(current.get("y", 0)) < alert_row < lowest_row
    texts = _texts(svg)
    assert "Alert ￥1,230" in texts
    assert "Lowest ever ￥1,180" in texts
    # Each label is drawn in its line's colour, just above or below it.
    label_rows = range(round(alert_row) - 14, round(alert_row) + 16)
    right = range(x_range.stop - 90, x_range.stop)
    assert _share(image, _rgb(THRESHOLD_COLOUR), right, label_rows) > 0.03


def test_the_current_price_is_labelled_at_the_end_of_the_line() -> None:
    svg = price_chart_svg(LAMP, now=NOW, days=90)
    image = _pixels(svg)
    [current] = _elements(svg, "text", "current")
    assert current.text == "￥1,280"
    x, y = int(float(current.get("x", 0))), int(float(current.get("y", 0)))
    assert _share(image, _rgb(PRICE_COLOUR), range(x, x + 50), range(y - 10, y + 2)) > 0.1
    assert x + 50 <= image.width


def test_the_axes_carry_dates_and_prices_as_the_currency_is_written() -> None:
    svg = price_chart_svg(LAMP, now=NOW, days=90)
    texts = _texts(svg)
    assert "2026年10月" in texts or "10月1日" in texts or any("月" in t for t in texts)
    assert any(t.startswith("￥1,") for t in texts)
    image = _pixels(svg)
    # The date labels are drawn: dark pixels along the bottom band.
    band = range(image.height - 18, image.height - 4)
    assert _share(image, (55, 65, 81), range(0, image.width), band) > 0.005


@pytest.mark.parametrize(
    ("currency", "price", "written"),
    [
        ("JPY", "1280", "￥1,280"),
        ("EUR", "22.90", "22,90\xa0€"),
        ("USD", "1299.00", "$1,299.00"),
        ("GBP", "19.99", "£19.99"),
    ],
)
def test_prices_are_written_as_the_currency_s_own_readers_write_them(
    currency: str, price: str, written: str
) -> None:
    rows = _history(currency, (price, 20, True))
    svg = price_chart_svg(rows, now=NOW, lowest_ever=Decimal(price))
    [current] = _elements(svg, "text", "current")
    assert current.text == written
    assert f"Lowest ever {written}" in _texts(svg)


def test_the_reader_s_locale_wins_over_the_currency_s() -> None:
    rows = _history("JPY", ("1280", 20, True))
    [current] = _elements(price_chart_svg(rows, now=NOW, locale="en_US"), "text", "current")
    assert current.text == "¥1,280"
    svg = price_chart_svg(_history("EUR", ("22.90", 20, True)), now=NOW, locale="en")
    assert _elements(svg, "text", "current")[0].text == "€22.90"


def test_an_empty_history_says_so_and_draws_no_line() -> None:
    svg = price_chart_svg([], now=NOW)
    assert "No price yet" in _texts(svg)
    image = _pixels(svg)
    assert _share(image, _rgb(PRICE_COLOUR), range(image.width), range(image.height)) == 0
    middle = range(image.height // 2 - 12, image.height // 2 + 4)
    assert _share(image, (55, 65, 81), range(image.width // 3, 2 * image.width // 3), middle) > 0


def test_one_point_is_a_flat_line_over_the_last_day_with_hours() -> None:
    rows = [Row(Decimal("89.50"), "USD", True, NOW - timedelta(hours=3))]
    svg = price_chart_svg(rows, now=NOW)
    image = _pixels(svg)
    [path] = _elements(svg, "path", "price")
    d = path.get("d", "")
    start_x, start_y = (float(v) for v in d[1:].split("L")[0].split(","))
    end_x = float(d.split("L")[-1].split(",")[0])
    assert end_x - start_x > 10, "three hours of a one-day axis"
    row = round(start_y)
    line = range(int(start_x) + 1, int(end_x))
    assert _line_share(image, _rgb(PRICE_COLOUR), line, row) > 0.9
    assert any(":" in t for t in _texts(svg)), "a one-day axis is labelled with times"


def test_a_year_of_daily_changes_spans_the_axis_with_monthly_dates() -> None:
    rows = [
        Row(Decimal(1000 + (day * 37) % 400), "JPY", day % 60 >= 5, NOW - timedelta(days=365 - day))
        for day in range(365)
    ]
    svg = price_chart_svg(rows, now=NOW, days=365, width=960, lowest_ever=Decimal(1000))
    image = _pixels(svg)
    months = [t for t in _texts(svg) if t.endswith("月")]
    assert 5 <= len(months) <= 13
    assert len(_elements(svg, "rect", "out-of-stock")) == 7
    [path] = _elements(svg, "path", "price")
    xs = [float(point.split(",")[0]) for point in path.get("d", "")[1:].split("L")]
    left, right = _plot_x(svg)
    assert min(xs) == pytest.approx(left, abs=1)
    assert max(xs) == pytest.approx(right, abs=1)
    assert _share(image, _rgb(PRICE_COLOUR), range(image.width), range(image.height)) > 0.01


def test_a_price_missing_for_a_while_breaks_the_line() -> None:
    rows = _history("USD", ("10.00", 30, True), (None, 20, None), ("12.00", 10, True))
    [path] = _elements(price_chart_svg(rows, now=NOW), "path", "price")
    assert path.get("d", "").count("M") == 2


def test_the_email_png_is_the_svg_rasterised_at_twice_its_size() -> None:
    kwargs = {"now": NOW, "thresholds": [Decimal(1230)], "lowest_ever": Decimal(1180)}
    png = price_chart_png(LAMP, **kwargs)  # type: ignore[arg-type]
    svg = price_chart_svg(LAMP, width=EMAIL_WIDTH, height=EMAIL_HEIGHT, **kwargs)  # type: ignore[arg-type]
    assert png == svg_to_png(svg, zoom=EMAIL_ZOOM)
    image = Image.open(io.BytesIO(png))
    assert image.size == (EMAIL_WIDTH * EMAIL_ZOOM, EMAIL_HEIGHT * EMAIL_ZOOM)
    rgb = image.convert("RGB")
    assert _share(rgb, _rgb(OUT_OF_STOCK_FILL), range(rgb.width), range(rgb.height)) > 0.02


def test_japanese_dates_are_drawn_not_dropped() -> None:
    # DejaVu Sans has no kanji: without the CJK fallback font (.ci/run, Dockerfile) they
    # would be drawn as the same empty box as a character no font has (U+E000).
    def glyphs(text: str) -> bytes:
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30">'
            '<rect width="40" height="30" fill="#ffffff"/>'
            f'<text x="4" y="22" font-size="20" font-family="DejaVu Sans">{text}</text></svg>'
        )
        return _pixels(svg).tobytes()

    missing = glyphs("\ue000")
    assert glyphs("月") != missing
    assert glyphs("￥") != missing


def test_time_ticks_fall_on_the_readers_midnights() -> None:
    from datetime import timedelta as _td
    from zoneinfo import ZoneInfo

    from pricealert.charts import _time_ticks

    zone = ZoneInfo("Asia/Kolkata")
    end = datetime(2026, 3, 10, 12, tzinfo=UTC)
    ticks, unit = _time_ticks(end - _td(days=7), end, 10, zone)
    assert unit == "day"
    assert ticks
    for tick in ticks:
        local = tick.astimezone(zone)
        assert (local.hour, local.minute) == (0, 0)
        assert tick.astimezone(UTC).minute == 30  # 00:00 in Kolkata is hh:30 in UTC
