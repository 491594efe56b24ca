"""A small line chart written straight to PNG with the standard library (``zlib`` + ``struct``).

Why not matplotlib: the example pipeline needs one kind of chart (a few learning curves on a
grid with numeric ticks), and matplotlib would add a large dependency (plus fonts and a
backend) to the project's test environment for it. PNG is a simple format: a signature, an
``IHDR`` chunk (size, 8-bit RGB), the rows zlib-compressed in ``IDAT``, and ``IEND``; each
chunk carries a CRC-32. Text is limited to tick numbers (a 3x5 pixel font); series names go in
a legend next to the image, naming each series' colour (:data:`PALETTE`).

Example:
    >>> png = line_chart_png([Series("a", [0, 1, 2], [0.1, 0.5, 0.4])], width=200, height=120)
    >>> png[:8] == PNG_SIGNATURE, len(png) > 100
    (True, True)
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class SeriesColor:
    """A line colour and its name (for a text legend)."""

    name: str
    rgb: RGB


PALETTE: tuple[SeriesColor, ...] = (
    SeriesColor("blue", (31, 119, 180)),
    SeriesColor("orange", (255, 127, 14)),
    SeriesColor("green", (44, 160, 44)),
    SeriesColor("red", (214, 39, 40)),
    SeriesColor("purple", (148, 103, 189)),
    SeriesColor("brown", (140, 86, 75)),
    SeriesColor("yellow", (230, 190, 0)),
    SeriesColor("black", (0, 0, 0)),
)

_WHITE: RGB = (255, 255, 255)
_GRID: RGB = (225, 225, 225)
_AXIS: RGB = (90, 90, 90)
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 64, 32, 14, 34
_FONT_SCALE = 2
# 3x5 glyphs, one string of 15 bits (row by row) per character
_GLYPHS = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001001001",
    "8": "111101111101111",
    "9": "111101111001111",
    ".": "000000000000010",
    "-": "000000111000000",
}


@dataclass(frozen=True)
class Series:
    """One curve: a label (for the legend) and its points; non-finite y values break the line."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(_WHITE * (width * height))

    def dot(self, x: int, y: int, rgb: RGB) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = 3 * (y * self.width + x)
            self.pixels[i : i + 3] = bytes(rgb)

    def rect(self, x0: int, y0: int, x1: int, y1: int, rgb: RGB) -> None:
        for y in range(min(y0, y1), max(y0, y1) + 1):
            for x in range(min(x0, x1), max(x0, x1) + 1):
                self.dot(x, y, rgb)

    def line(self, x0: int, y0: int, x1: int, y1: int, rgb: RGB, width: int = 1) -> None:
        # Bresenham, thickened by a square brush
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err, half = dx + dy, width // 2
        while True:
            self.rect(x0 - half, y0 - half, x0 + width - 1 - half, y0 + width - 1 - half, rgb)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, text: str, rgb: RGB) -> None:
        """Draw ``text`` with its top-left corner at (x, y); unknown characters are skipped."""
        s = _FONT_SCALE
        for ch in text:
            bits = _GLYPHS.get(ch)
            if bits is not None:
                for i, bit in enumerate(bits):
                    if bit == "1":
                        cx, cy = x + (i % 3) * s, y + (i // 3) * s
                        self.rect(cx, cy, cx + s - 1, cy + s - 1, rgb)
            x += 4 * s

    def png(self) -> bytes:
        stride = 3 * self.width
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"".join(
            [
                PNG_SIGNATURE,
                _chunk(b"IHDR", header),
                _chunk(b"IDAT", zlib.compress(raw, 9)),
                _chunk(b"IEND", b""),
            ]
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def text_width(text: str) -> int:
    """Pixel width of ``text`` in the chart's tick font."""
    return max(0, 4 * _FONT_SCALE * len(text) - _FONT_SCALE)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering ``[lo, hi]``.

    >>> nice_ticks(0.12, 0.93)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    >>> nice_ticks(0, 1999)
    [0.0, 500.0, 1000.0, 1500.0, 2000.0]
    """
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = [round(float(first), 12)]
    while ticks[-1] < hi - step * 1e-9:
        ticks.append(round(float(first + len(ticks) * step), 12))
    return ticks


def _label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return f"{value:.{decimals}f}"


def line_chart_png(series: Sequence[Series], *, width: int = 720, height: int = 400) -> bytes:
    """Render ``series`` (at most ``len(PALETTE)``) as a PNG line chart; colours follow PALETTE.

    Axes span the finite points of all series, rounded out to tick values; points are marked
    with small squares so sparse curves (an evaluation every N steps) stay readable.
    """
    if len(series) > len(PALETTE):
        raise ValueError(f"at most {len(PALETTE)} series fit the palette, got {len(series)}")
    points = [
        (float(x), float(y))
        for s in series
        for x, y in zip(s.xs, s.ys, strict=True)
        if math.isfinite(float(x)) and math.isfinite(float(y))
    ]
    canvas = _Canvas(width, height)
    left, right = _MARGIN_LEFT, width - _MARGIN_RIGHT
    top, bottom = _MARGIN_TOP, height - _MARGIN_BOTTOM
    xs = [p[0] for p in points] or [0.0, 1.0]
    ys = [p[1] for p in points] or [0.0, 1.0]
    xticks, yticks = nice_ticks(min(xs), max(xs)), nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = xticks[0], xticks[-1], yticks[0], yticks[-1]

    def px(x: float) -> int:
        return round(left + (x - x0) / (x1 - x0) * (right - left))

    def py(y: float) -> int:
        return round(bottom - (y - y0) / (y1 - y0) * (bottom - top))

    glyph_h = 5 * _FONT_SCALE
    for t in yticks:
        canvas.line(left, py(t), right, py(t), _GRID)
        label = _label(t, yticks[1] - yticks[0] if len(yticks) > 1 else 1.0)
        canvas.text(left - 6 - text_width(label), py(t) - glyph_h // 2, label, _AXIS)
    for t in xticks:
        canvas.line(px(t), top, px(t), bottom, _GRID)
        label = _label(t, xticks[1] - xticks[0] if len(xticks) > 1 else 1.0)
        canvas.text(px(t) - text_width(label) // 2, bottom + 8, label, _AXIS)
    canvas.line(left, bottom, right, bottom, _AXIS)
    canvas.line(left, top, left, bottom, _AXIS)

    # the first series (the best run) is drawn last, on top
    for s, color in reversed(list(zip(series, PALETTE, strict=False))):
        prev: tuple[int, int] | None = None
        for x, y in zip(s.xs, s.ys, strict=True):
            if not (math.isfinite(float(x)) and math.isfinite(float(y))):
                prev = None
                continue
            here = (px(float(x)), py(float(y)))
            if prev is not None:
                canvas.line(*prev, *here, color.rgb, width=2)
            canvas.rect(here[0] - 2, here[1] - 2, here[0] + 2, here[1] + 2, color.rgb)
            prev = here
    return canvas.png()
